"""The request contract: one model per request body and per query, written once.

Each model here is both the check a request passes through and the part of
``/v1/openapi.json`` that describes it (:func:`request_schemas` hands their
JSON Schema to ``api/openapi.py``), so the document and the server cannot
disagree. The order bodies (an order, a batch, an amend) and the rules every
refusal follows live in :mod:`exchange.bodies`, because the websocket order
entry checks the same bodies; they are re-exported here. A refusal is an
:class:`exchange.errors.ExchangeError` with the code and sentence the API
has always given (see :mod:`exchange.bodies`).

Rules that need the venue's state (a SKU's tick, band and size limit, the
clock) stay in ``exchange/``; only the shape of a request is checked here.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from exchange.accounts import NAME_MAX_LENGTH, NAME_PATTERN, Role
from exchange.analytics import INTERVALS
from exchange.bodies import (
    EXAMPLE_SKU,
    MAX_BATCH,
    MAX_INT,
    AmendRequest,
    BatchRequest,
    Cents,
    Count,
    ImmediateLimitOrder,
    LimitOrder,
    MarketOrder,
    Model,
    Sku,
    field_schema,
    int_range,
    one_of,
    parse_body,
    parse_order,
    refusal,
    wire_fields,
)
from exchange.clock import parse_rfc3339
from exchange.errors import ExchangeError
from exchange.exports import EXPORT_FORMATS
from exchange.history import DEFAULT_LIMIT, MAX_LIMIT
from exchange.keys import LABEL_MAX_LENGTH
from exchange.portfolio import MAX_PURCHASE_PRICE_CENTS, Condition
from exchange.settlement import SettlementStatus
from exchange.valuation import MARKS
from orderbook.rules import OrderStatus

__all__ = [
    "MAX_BATCH",
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
    "KeyRequest",
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


# ------------------------------------------------------------------- bodies


Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX_LENGTH, pattern=NAME_PATTERN)]


class AccountRequest(Model):
    """``POST /v1/accounts``: a trader without a key; any role with an admin key."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "alice"}]})

    name: Name
    role: one_of(Role) = "trader"  # type: ignore[valid-type]


class KeyRequest(Model):
    """``POST /v1/keys``: one more API key for the caller's account, with an optional label."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"label": "laptop"}]})

    label: Annotated[
        str, Field(min_length=1, max_length=LABEL_MAX_LENGTH, pattern=NAME_PATTERN)
    ] | None = None


class ProductRequest(Model):
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


class AuthenticateRequest(Model):
    """``POST /v1/trades/{id}/authenticate``: the authenticator's verdict."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"passed": True}]})

    passed: bool


class HoldingRequest(Model):
    """``POST /v1/portfolio/items``: an item the collector owns, entered by hand."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "sku": EXAMPLE_SKU,
                    "purchase_price_cents": 18_000,
                    "acquired_at": "2025-06-01",
                    "condition": "new",
                }
            ]
        }
    )

    sku: Sku
    purchase_price_cents: int_range(0, MAX_PURCHASE_PRICE_CENTS)  # type: ignore[valid-type]
    acquired_at: Annotated[
        str,
        Field(
            description="RFC 3339 time or YYYY-MM-DD date (midnight UTC); not in the future.",
            json_schema_extra={"anyOf": [{"format": "date-time"}, {"format": "date"}]},
        ),
    ] = None  # type: ignore[assignment]
    condition: one_of(Condition) = "new"  # type: ignore[valid-type]


# ------------------------------------------------------------------- queries


class _Query(Model):
    # Query values arrive as strings; integers are read from them before the
    # model sees them (see parse_query).
    pass


Interval = one_of(INTERVALS)
Time = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class CandleQuery(_Query):
    """Candle window: width, RFC 3339 bounds and the output format."""

    interval: Annotated[Interval, Field(description="Candle width.")] = "1h"
    start: Annotated[Time, Field(description="RFC 3339 start (inclusive).")] = None  # type: ignore[assignment]
    end: Annotated[Time, Field(description="RFC 3339 end (exclusive).")] = None  # type: ignore[assignment]
    format: Annotated[one_of(EXPORT_FORMATS), Field(description="Output format.")] = "json"


class BookQuery(_Query):
    """L2 depth."""

    depth: int_range(1, 1000, "Levels per side.") = 10  # type: ignore[valid-type]


class _Paged(_Query):
    # Lists page newest first by id: ``next_before`` in an answer is the next
    # page's ``before``.
    limit: int_range(1, MAX_LIMIT, "Page size.") = DEFAULT_LIMIT  # type: ignore[valid-type]
    before: int_range(1, MAX_INT, "Only rows with a smaller id (the next page).") = None  # type: ignore[valid-type]


class TradesQuery(_Paged):
    """A page of a SKU's public trades."""


class LedgerQuery(_Paged):
    """A page of the caller's ledger."""


SkuFilter = Annotated[
    str, Field(min_length=1, max_length=64, description="Only this SKU (unknown: 404).")
]


class OrdersQuery(_Paged):
    """A page of the caller's orders, optionally of one status and SKU."""

    status: Annotated[one_of(OrderStatus), Field(description="Filter by status.")] = None  # type: ignore[assignment]
    sku: SkuFilter = None  # type: ignore[assignment]


class MyTradesQuery(_Paged):
    """A page of the caller's fills, optionally of one SKU and settlement status."""

    sku: SkuFilter = None  # type: ignore[assignment]
    settlement_status: Annotated[
        one_of(SettlementStatus),
        Field(description="Filter by settlement status (shipped: the authenticator's queue)."),
    ] = None  # type: ignore[assignment]


class PortfolioQuery(_Query):
    """How to value holdings."""

    mark: Annotated[one_of(MARKS), Field(description="How to value holdings.")] = "last_sale"


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


def _query_value(model: type[_Query], name: str, raw: str) -> Any:
    if field_schema(model, name).get("type") == "integer":
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
        refused = refusal(model, err, "", "query")
        message = refused.message.replace("Field '", "Query parameter '", 1)
        raise ExchangeError(refused.code, message) from None


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
        KeyRequest,
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
