"""The request contract: one model per request body and per query, written once.

Each model here is both the check a request passes through and the part of
``/v1/openapi.json`` that describes it (:func:`request_schemas` hands their
JSON Schema to ``api/openapi.py``), so the document and the server cannot
disagree. A refusal is an :class:`exchange.errors.ExchangeError` with the
code and sentence the API has always given:

- a field the endpoint does not know: ``unknown_field`` (422);
- a missing field, a wrong type, a value not allowed: ``validation_error``
  (422), naming the field; ``true`` is not an integer, ``2.0`` is ``2``
  (JSON has one number type, and JSON Schema calls ``2.0`` an integer);
- an integer out of the wire range (64-bit signed, or the field's own
  bounds): ``quantity_out_of_range`` for ``quantity``, ``price_out_of_band``
  for prices, else ``validation_error`` naming the range; never "must be an
  integer" for a number that is one;
- a limit order without ``price_cents``: ``missing_price``; a combination the
  order types do not allow (a post-only or expiring market order, post-only
  or expiry with ``ioc``/``fok``): ``invalid_order``.

Rules that need the venue's state (a SKU's tick, band and size limit, the
clock) stay in ``exchange/``; only the shape of a request is checked here.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from exchange.accounts import NAME_MAX_LENGTH, NAME_PATTERN, Role
from exchange.analytics import INTERVALS
from exchange.clock import parse_rfc3339
from exchange.errors import ExchangeError
from exchange.exports import EXPORT_FORMATS
from exchange.history import DEFAULT_LIMIT, MAX_LIMIT
from exchange.portfolio import MAX_PURCHASE_PRICE_CENTS, Condition
from exchange.settlement import SettlementStatus
from exchange.valuation import MARKS
from orderbook.rules import OrderStatus, Side

__all__ = [
    "MAX_INT",
    "QUERIES",
    "AccountRequest",
    "AmendRequest",
    "AuthenticateRequest",
    "BatchRequest",
    "BookQuery",
    "CandleQuery",
    "HistoryQuery",
    "HoldingRequest",
    "LedgerQuery",
    "MyTradesQuery",
    "OrdersQuery",
    "PortfolioQuery",
    "ProductRequest",
    "TradesQuery",
    "check_query_names",
    "parse_body",
    "parse_order",
    "parse_query",
    "parse_time",
    "query_parameters",
    "read_json",
    "request_schemas",
    "wire_fields",
]

MAX_INT = 2**63 - 1
"""The largest integer on the wire (the store's BIGINT)."""

MAX_EXPIRY_DAYS = 60
MAX_BATCH = 100
CLIENT_ORDER_ID_MAX = 64


def _integral(value: Any) -> Any:
    # JSON has one number type: 2.0 is the integer 2 (as JSON Schema says),
    # and a decoder may hand a huge integer over as a float.
    if type(value) is float and value.is_integer():
        return int(value)
    return value


_AS_INT = BeforeValidator(_integral)
Int = Annotated[int, _AS_INT]


def _range(low: int, high: int, description: str | None = None) -> Any:
    """An integer type from ``low`` to ``high`` (the bounds go into the schema)."""
    return Annotated[int, Field(ge=low, le=high, description=description), _AS_INT]


def _one_of(values: Iterable[str]) -> Any:
    """A Literal of wire values defined elsewhere (an enum, a table), named once there."""
    return Literal.__getitem__(tuple(str(v) for v in values))


def _strict_bool(value: Any) -> Any:
    # Literal[False] alone would take 0 (0 == False in Python).
    if value is not None and type(value) is not bool:
        raise PydanticCustomError("bool_type", "Input should be a valid boolean")
    return value


NotTrue = Annotated[Literal[False], BeforeValidator(_strict_bool)]
Count = _range(1, MAX_INT)
Cents = _range(1, MAX_INT)
Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX_LENGTH, pattern=NAME_PATTERN)]
Sku = Annotated[str, Field(min_length=1, max_length=64, examples=["DZ5485-612-10"])]

_EXAMPLE_SKU = "DZ5485-612-10"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, regex_engine="python-re")


# ------------------------------------------------------------------- bodies


class AccountRequest(_Model):
    """``POST /v1/accounts``: a trader without a key; any role with an admin key."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "alice"}]})

    name: Name
    role: _one_of(Role) = "trader"  # type: ignore[valid-type]


class ProductRequest(_Model):
    """``POST /v1/products`` (admin): a product and its sizes."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "style": "FQ8138-002",
                    "name": "Air Jordan 1 Low Black Toe",
                    "brand": "Jordan",
                    "category": "sneakers",
                    "retail_price_cents": 14_000,
                    "release_date": "2025-03-01",
                    "sizes": ["9", "10", "11"],
                }
            ]
        }
    )

    style: str
    name: str
    brand: str
    category: str | None = None
    retail_price_cents: Cents
    release_date: Annotated[str, Field(json_schema_extra={"format": "date"})]
    sizes: Annotated[list[str], Field(min_length=1)]
    tick_size_cents: Cents | None = None
    min_price_cents: Cents | None = None
    max_price_cents: Cents | None = None
    max_quantity: Count | None = None


_PRICE_DOC = "Limit price in cents (a multiple of the SKU's tick, inside its band)."


ClientOrderId = Annotated[str, Field(min_length=1, max_length=CLIENT_ORDER_ID_MAX)]


class _Order(_Model):
    """What every order names: the SKU, the side, how many, an optional retry id."""

    sku: Sku
    side: _one_of(Side)  # type: ignore[valid-type]
    quantity: Count
    client_order_id: ClientOrderId | None = None


class LimitOrder(_Order):
    """A limit order that may rest (``gtc``): optionally post-only or expiring."""

    model_config = ConfigDict(
        title="LimitOrder",
        json_schema_extra={
            "examples": [
                {
                    "sku": _EXAMPLE_SKU,
                    "side": "bid",
                    "type": "limit",
                    "price_cents": 20_000,
                    "quantity": 1,
                }
            ]
        },
    )

    type: Literal["limit"]
    price_cents: _range(1, MAX_INT, _PRICE_DOC)  # type: ignore[valid-type]
    time_in_force: Literal["gtc"] | None = None
    post_only: bool | None = None
    expires_in_days: _range(1, MAX_EXPIRY_DAYS) | None = None  # type: ignore[valid-type]


class ImmediateLimitOrder(_Order):
    """A limit order that never rests: ``ioc`` fills what it can, ``fok`` all or nothing."""

    model_config = ConfigDict(title="ImmediateLimitOrder")

    type: Literal["limit"]
    price_cents: _range(1, MAX_INT, _PRICE_DOC)  # type: ignore[valid-type]
    time_in_force: Literal["ioc", "fok"]
    post_only: NotTrue | None = None


class MarketOrder(_Order):
    """A market order (Buy Now / Sell Now): fills at once, the rest is canceled."""

    model_config = ConfigDict(title="MarketOrder")

    type: Literal["market"]
    price_cents: _range(1, MAX_INT, "Price protection: fill no worse than this.") | None = None  # type: ignore[valid-type]
    time_in_force: Literal["gtc", "ioc", "fok"] | None = None
    post_only: NotTrue | None = None


_ORDER_MODELS: tuple[type[_Model], ...] = (LimitOrder, ImmediateLimitOrder, MarketOrder)
ORDER_FIELDS = tuple(dict.fromkeys(f for m in _ORDER_MODELS for f in m.model_fields))


class BatchRequest(_Model):
    """``POST /v1/orders/batch``: up to 100 orders placed as one group."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "orders": [
                        {
                            "sku": _EXAMPLE_SKU,
                            "side": "ask",
                            "type": "limit",
                            "price_cents": 40_000,
                            "quantity": 1,
                        },
                        {
                            "sku": _EXAMPLE_SKU,
                            "side": "bid",
                            "type": "limit",
                            "price_cents": 20_000,
                            "quantity": 1,
                        },
                    ]
                }
            ]
        }
    )

    # Each item is checked by parse_order (one of three order shapes); the
    # document refers to OrderRequest for it.
    orders: Annotated[list[dict[str, Any]], Field(max_length=MAX_BATCH)]


class AmendRequest(_Model):
    """``PATCH /v1/orders/{id}``: a new total quantity and/or a new price."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"price_cents": 21_000}], "minProperties": 1}
    )

    quantity: Count = None  # type: ignore[assignment]
    price_cents: Cents = None  # type: ignore[assignment]


class AuthenticateRequest(_Model):
    """``POST /v1/trades/{id}/authenticate``: the authenticator's verdict."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"passed": True}]})

    passed: bool


class HoldingRequest(_Model):
    """``POST /v1/portfolio/items``: an item the collector owns, entered by hand."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "sku": _EXAMPLE_SKU,
                    "purchase_price_cents": 18_000,
                    "acquired_at": "2025-06-01",
                    "condition": "new",
                }
            ]
        }
    )

    sku: Sku
    purchase_price_cents: _range(0, MAX_PURCHASE_PRICE_CENTS)  # type: ignore[valid-type]
    acquired_at: Annotated[
        str,
        Field(
            description="RFC 3339 time or YYYY-MM-DD date (midnight UTC); not in the future.",
            json_schema_extra={"anyOf": [{"format": "date-time"}, {"format": "date"}]},
        ),
    ] = None  # type: ignore[assignment]
    condition: _one_of(Condition) = "new"  # type: ignore[valid-type]


# ------------------------------------------------------------------- queries


class _Query(_Model):
    # Query values arrive as strings; integers are read from them before the
    # model sees them (see parse_query).
    pass


Interval = _one_of(INTERVALS)
Time = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class CandleQuery(_Query):
    """Candle window: width, RFC 3339 bounds and the output format."""

    interval: Annotated[Interval, Field(description="Candle width.")] = "1h"
    start: Annotated[Time, Field(description="RFC 3339 start (inclusive).")] = None  # type: ignore[assignment]
    end: Annotated[Time, Field(description="RFC 3339 end (exclusive).")] = None  # type: ignore[assignment]
    format: Annotated[_one_of(EXPORT_FORMATS), Field(description="Output format.")] = "json"


class BookQuery(_Query):
    """L2 depth."""

    depth: _range(1, 1000, "Levels per side.") = 10  # type: ignore[valid-type]


class _Paged(_Query):
    # Lists page newest first by id: ``next_before`` in an answer is the next
    # page's ``before``.
    limit: _range(1, MAX_LIMIT, "Page size.") = DEFAULT_LIMIT  # type: ignore[valid-type]
    before: _range(1, MAX_INT, "Only rows with a smaller id (the next page).") = None  # type: ignore[valid-type]


class TradesQuery(_Paged):
    """A page of a SKU's public trades."""


class LedgerQuery(_Paged):
    """A page of the caller's ledger."""


SkuFilter = Annotated[
    str, Field(min_length=1, max_length=64, description="Only this SKU (unknown: 404).")
]


class OrdersQuery(_Paged):
    """A page of the caller's orders, optionally of one status and SKU."""

    status: Annotated[_one_of(OrderStatus), Field(description="Filter by status.")] = None  # type: ignore[assignment]
    sku: SkuFilter = None  # type: ignore[assignment]


class MyTradesQuery(_Paged):
    """A page of the caller's fills, optionally of one SKU and settlement status."""

    sku: SkuFilter = None  # type: ignore[assignment]
    settlement_status: Annotated[
        _one_of(SettlementStatus),
        Field(description="Filter by settlement status (shipped: the authenticator's queue)."),
    ] = None  # type: ignore[assignment]


class PortfolioQuery(_Query):
    """How to value holdings."""

    mark: Annotated[_one_of(MARKS), Field(description="How to value holdings.")] = "last_sale"


class HistoryQuery(_Query):
    """Portfolio value over time."""

    interval: Annotated[Interval, Field(description="Point spacing.")] = "1d"
    start: Annotated[Time, Field(description="RFC 3339 start.")] = None  # type: ignore[assignment]
    end: Annotated[Time, Field(description="RFC 3339 end.")] = None  # type: ignore[assignment]


QUERIES: dict[str, type[_Query]] = {
    "/v1/skus/{sku}/candles": CandleQuery,
    "/v1/products/{style}/candles": CandleQuery,
    "/v1/skus/{sku}/book": BookQuery,
    "/v1/skus/{sku}/trades": TradesQuery,
    "/v1/orders": OrdersQuery,
    "/v1/trades": MyTradesQuery,
    "/v1/ledger": LedgerQuery,
    "/v1/portfolio": PortfolioQuery,
    "/v1/portfolio/history": HistoryQuery,
}
"""The query model of each GET route that takes a query; other routes take none."""


def check_query_names(method: str, route: str, names: Iterable[str]) -> None:
    """Refuse a query parameter the route does not take.

    Raises:
        ExchangeError: ``unknown_field`` naming the parameter and the allowed ones.
    """
    model = QUERIES.get(route) if method in ("GET", "HEAD") else None
    allowed = tuple(model.model_fields) if model is not None else ()
    for name in names:
        if name not in allowed:
            takes = f"allowed: {', '.join(allowed)}" if allowed else "it takes none"
            raise ExchangeError(
                "unknown_field", f"Unknown query parameter '{name}' for {route}; {takes}."
            )


# ------------------------------------------------------------------- errors

_TYPE_WORDS = {
    "int_type": "an integer",
    "int_from_float": "an integer",
    "string_type": "a string",
    "bool_type": "true or false",
    "list_type": "an array",
    "dict_type": "an object",
    "model_type": "an object",
}
_RANGE_ERRORS = frozenset({"greater_than_equal", "less_than_equal", "greater_than", "less_than"})
_INVALID_ORDER = (
    "This combination is not allowed: market orders cannot be post-only or "
    "expire, post-only and expiry need time_in_force 'gtc'."
)

M = TypeVar("M", bound=_Model)


def _where(loc: tuple[int | str, ...], prefix: str) -> str:
    """A field's place as a caller writes it: ``orders[3].sku``."""
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return prefix + name


def _field_schema(model: type[BaseModel], field: str) -> dict[str, Any]:
    """The field's own JSON Schema (the non-null branch of an optional field)."""
    prop: dict[str, Any] = model.model_json_schema()["properties"].get(field, {})
    for branch in prop.get("anyOf", []):
        if branch.get("type") != "null":
            return dict(branch)
    return prop


def _bounds(model: type[BaseModel], field: str) -> tuple[int | None, int | None]:
    prop = _field_schema(model, field)
    return prop.get("minimum"), prop.get("maximum")


def _error(model: type[BaseModel], err: ErrorDetails, prefix: str, what: str) -> ExchangeError:
    """The one refusal for a pydantic error, in the API's codes and words."""
    kind = err["type"]
    loc = tuple(err["loc"])
    field = str(loc[-1]) if loc else ""
    name = _where(loc, prefix)
    if kind == "extra_forbidden":
        if model in _ORDER_MODELS and field in ORDER_FIELDS:
            return ExchangeError("invalid_order", _INVALID_ORDER)
        allowed = ", ".join(model.model_fields)
        return ExchangeError(
            "unknown_field", f"Unknown field '{name}' in the {what}; allowed fields: {allowed}."
        )
    if kind == "missing":
        if field == "price_cents" and model in (LimitOrder, ImmediateLimitOrder):
            return ExchangeError("missing_price", "A limit order needs price_cents.")
        return ExchangeError("validation_error", f"Field '{name}' is required.")
    if kind in _RANGE_ERRORS or (kind == "int_type" and _is_huge(err.get("input"))):
        low, high = _bounds(model, field) if len(loc) == 1 else (None, None)
        span = _span(low, high)
        if field == "quantity":
            return ExchangeError("quantity_out_of_range", f"quantity must be {span}.")
        if field == "price_cents":
            return ExchangeError("price_out_of_band", f"price_cents must be {span} cents.")
        return ExchangeError("validation_error", f"Field '{name}' must be {span}.")
    if kind == "literal_error":
        if field == "post_only" and model in _ORDER_MODELS:
            return ExchangeError("invalid_order", _INVALID_ORDER)
        expected = err.get("ctx", {}).get("expected", "")
        choices = ", ".join(re.findall(r"'([^']*)'", str(expected)))
        return ExchangeError("validation_error", f"Field '{name}' must be one of: {choices}.")
    if kind in ("string_too_short", "string_too_long"):
        prop = _field_schema(model, field) if len(loc) == 1 else {}
        low, high = prop.get("minLength", 0), prop.get("maxLength")
        return ExchangeError(
            "validation_error", f"Field '{name}' must be {low} to {high} characters long."
        )
    if kind in ("too_short", "too_long"):
        return ExchangeError("validation_error", f"Field '{name}' has too few or too many items.")
    if kind == "string_pattern_mismatch":
        return ExchangeError(
            "validation_error",
            f"Field '{name}' must contain a visible character and no control characters.",
        )
    words = _TYPE_WORDS.get(kind)
    if words is not None:
        return ExchangeError("validation_error", f"Field '{name}' must be {words}.")
    return ExchangeError("validation_error", f"Field '{name}': {err['msg']}.")


def _is_huge(value: Any) -> bool:
    return type(value) is float and value.is_integer()


def _span(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"between {low} and {high}"
    if low is not None:
        return f">= {low}"
    if high is not None:
        return f"<= {high}"
    return "in range"


def _validate(model: type[M], data: Any, *, prefix: str = "", what: str = "body") -> M:
    if not isinstance(data, dict):
        raise ExchangeError("validation_error", f"The {what} must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # Unknown fields first: they say most about what the caller meant.
        errors.sort(key=lambda e: e["type"] != "extra_forbidden")
        raise _error(model, errors[0], prefix, what) from None


def wire_fields(model: BaseModel) -> dict[str, Any]:
    """The fields the caller sent, with null meaning "not given"."""
    sent = model.model_fields_set
    values = ((name, getattr(model, name)) for name in type(model).model_fields if name in sent)
    return {name: value for name, value in values if value is not None}


async def read_json(request: web.Request) -> Any:
    """The request body as JSON (any JSON value).

    Raises:
        ExchangeError: ``invalid_json`` when the body is empty or malformed.
        aiohttp.web.HTTPRequestEntityTooLarge: when it exceeds the app's limit
            (the error middleware renders it as ``payload_too_large``).
    """
    raw = await request.read()
    if not raw:
        raise ExchangeError("invalid_json", "The request body is empty; send a JSON object.")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ExchangeError(
            "invalid_json", f"The request body is not valid JSON ({exc.msg} at position {exc.pos})."
        ) from None


def parse_body(model: type[M], body: Any) -> M:
    """``body`` checked against ``model``.

    Raises:
        ExchangeError: the refusal for the first problem, as the module says.
    """
    return _validate(model, body)


def parse_order(body: Any, *, prefix: str = "", what: str = "order") -> dict[str, Any]:
    """An order body checked as a limit, immediate limit or market order.

    Returns:
        The fields the caller gave (nulls dropped), with integral numbers as ints.

    Raises:
        ExchangeError: as the module says; ``validation_error`` for a
            ``type`` that is neither ``limit`` nor ``market``.
    """
    if not isinstance(body, dict):
        raise ExchangeError("validation_error", f"The {what} must be a JSON object.")
    for key in body:
        if key not in ORDER_FIELDS:
            raise ExchangeError(
                "unknown_field",
                f"Unknown field '{_where((key,), prefix)}' in the {what}; "
                f"allowed fields: {', '.join(ORDER_FIELDS)}.",
            )
    kind = body.get("type")
    model: type[_Model]
    if kind == "market":
        model = MarketOrder
    elif kind == "limit":
        immediate = body.get("time_in_force") in ("ioc", "fok")
        model = ImmediateLimitOrder if immediate else LimitOrder
    elif kind is None:
        raise ExchangeError("validation_error", f"Field '{_where(('type',), prefix)}' is required.")
    else:
        where = _where(("type",), prefix)
        raise ExchangeError("validation_error", f"Field '{where}' must be one of: limit, market.")
    return wire_fields(_validate(model, body, prefix=prefix, what=what))


def _query_value(model: type[_Query], name: str, raw: str) -> Any:
    if _field_schema(model, name).get("type") == "integer":
        try:
            return int(raw)
        except ValueError:
            raise ExchangeError(
                "validation_error", f"Query parameter '{name}' must be an integer."
            ) from None
    if name in ("start", "end"):
        parse_time(raw, name)  # refuses what is not a time, naming the parameter
    return raw


Q = TypeVar("Q", bound=_Query)


def parse_query(model: type[Q], query: Mapping[str, str]) -> Q:
    """The query parameters ``model`` names, checked (unknown names are refused
    before the handler runs: see :func:`check_query_names`).

    An empty value is a value: ``?start=`` is not a time and is refused.

    Raises:
        ExchangeError: ``validation_error`` naming the parameter.
    """
    data = {
        name: _query_value(model, name, query[name]) for name in model.model_fields if name in query
    }
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        refusal = _error(model, err, "", "query")
        message = refusal.message.replace("Field '", "Query parameter '", 1)
        raise ExchangeError(refusal.code, message) from None


_LOST_PLUS = re.compile(r"(\d\d:\d\d(?::\d\d(?:\.\d+)?)?) (\d\d:\d\d)$")
_MIN_NS = 0
_MAX_NS = MAX_INT


def parse_time(raw: str, name: str) -> int:
    """An RFC 3339 time (or a ``YYYY-MM-DD`` date, midnight UTC) as ns since the epoch.

    A time without an offset is read as UTC. A time outside what 64-bit
    nanoseconds since 1970 hold (before 1970 or after 2262) is clamped to
    that range: no trade lies outside it, so the answer is the same.

    Raises:
        ExchangeError: ``validation_error`` naming ``name`` when it does not parse.
    """
    # An unencoded "+" in a query string arrives as a space: "…T12:00:00 01:00".
    text = _LOST_PLUS.sub(r"\1+\2", raw.strip())
    try:
        ns = parse_rfc3339(text)
    except (ValueError, OverflowError):
        if not _looks_like_time(text):
            raise ExchangeError(
                "validation_error",
                f"'{name}' must be an RFC 3339 time such as 2026-01-31T12:00:00Z "
                "or a date 2026-01-31.",
            ) from None
        # It parses as a date but not as an instant (an offset past year 1
        # or 9999): it lies outside the range either way.
        ns = _MIN_NS if text[:4] < "1970" else _MAX_NS
    return min(max(ns, _MIN_NS), _MAX_NS)


def _looks_like_time(text: str) -> bool:
    try:
        dt.date.fromisoformat(text[:10])
    except ValueError:
        return False
    return True


def request_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema of every request body, by component name, for the OpenAPI document."""
    from pydantic.json_schema import models_json_schema

    models: list[type[BaseModel]] = [
        AccountRequest,
        ProductRequest,
        LimitOrder,
        ImmediateLimitOrder,
        MarketOrder,
        BatchRequest,
        AmendRequest,
        AuthenticateRequest,
        HoldingRequest,
    ]
    _, doc = models_json_schema(
        [(m, "validation") for m in models], ref_template="#/components/schemas/{model}"
    )
    schemas: dict[str, dict[str, Any]] = {k: _clean(v) for k, v in doc["$defs"].items()}
    schemas["OrderRequest"] = {
        "oneOf": [
            {"$ref": "#/components/schemas/LimitOrder"},
            {"$ref": "#/components/schemas/ImmediateLimitOrder"},
            {"$ref": "#/components/schemas/MarketOrder"},
        ],
        "description": "One order: a resting limit order, an immediate limit order or a "
        "market order.",
        "examples": LimitOrder.model_config["json_schema_extra"]["examples"],  # type: ignore[index]
    }
    schemas["BatchRequest"]["properties"]["orders"]["items"] = {
        "$ref": "#/components/schemas/OrderRequest"
    }
    return schemas


def query_parameters(model: type[_Query]) -> list[dict[str, Any]]:
    """The OpenAPI query parameters of a query model."""
    schema = _clean(model.model_json_schema())
    params = []
    for name, prop in schema["properties"].items():
        description = prop.pop("description", name)
        prop.pop("title", None)
        params.append(
            {
                "name": name,
                "in": "query",
                "required": False,
                "schema": prop,
                "description": description,
            }
        )
    return params


def _clean(node: Any) -> Any:
    """Pydantic's JSON Schema as the document wants it.

    Drops titles, turns ``anyOf [X, null]`` of optional fields into X plus
    null, and drops ``default: null`` from fields that do not take null.
    """
    if isinstance(node, list):
        return [_clean(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _clean(v) for k, v in node.items() if k != "title"}
    if "properties" in node:
        out["properties"] = {k: _clean(v) for k, v in node["properties"].items()}
    if out.get("default", 0) is None and not _takes_null(out):
        del out["default"]
    return out


def _takes_null(schema: dict[str, Any]) -> bool:
    if schema.get("type") == "null":
        return True
    return any(_takes_null(s) for s in schema.get("anyOf", []) if isinstance(s, dict))
