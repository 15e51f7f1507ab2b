"""Order request bodies: the one check of an order, amend or batch, for every edge.

The REST API (``api/``) and the websocket order entry (``feeds/``) check the
same bodies with the same models here, so both refuse a body with the same
code and sentence. Each model is also the part of ``/v1/openapi.json`` that
describes it (``api/requests.py`` hands their JSON Schema on). A refusal is
an :class:`exchange.errors.ExchangeError`:

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
clock) are the engine's; only the shape of a request is checked here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from orderbook.rules import Side

from .errors import ExchangeError

__all__ = [
    "CLIENT_ORDER_ID_MAX",
    "EXAMPLE_SKU",
    "MAX_BATCH",
    "MAX_EXPIRY_DAYS",
    "MAX_INT",
    "ORDER_FIELDS",
    "ORDER_MODELS",
    "AmendRequest",
    "BatchRequest",
    "Cents",
    "Count",
    "ImmediateLimitOrder",
    "LimitOrder",
    "MarketOrder",
    "Model",
    "NotTrue",
    "Sku",
    "check_path_id",
    "field_schema",
    "int_range",
    "one_of",
    "parse_body",
    "parse_order",
    "refusal",
    "validate",
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


def int_range(low: int, high: int, description: str | None = None) -> Any:
    """An integer type from ``low`` to ``high`` (the bounds go into the schema)."""
    return Annotated[int, Field(ge=low, le=high, description=description), _AS_INT]


def one_of(values: Iterable[str]) -> Any:
    """A Literal of wire values defined elsewhere (an enum, a table), named once there."""
    return Literal.__getitem__(tuple(str(v) for v in values))


def _strict_bool(value: Any) -> Any:
    # Literal[False] alone would take 0 (0 == False in Python).
    if value is not None and type(value) is not bool:
        raise PydanticCustomError("bool_type", "Input should be a valid boolean")
    return value


NotTrue = Annotated[Literal[False], BeforeValidator(_strict_bool)]
Count = Annotated[int, Field(ge=1, le=MAX_INT), _AS_INT]
Cents = Annotated[int, Field(ge=1, le=MAX_INT), _AS_INT]
Sku = Annotated[str, Field(min_length=1, max_length=64, examples=["DZ5485-612-10"])]

EXAMPLE_SKU = "DZ5485-612-10"


class Model(BaseModel):
    """A request model: unknown fields refused, no type coercion."""

    model_config = ConfigDict(extra="forbid", strict=True, regex_engine="python-re")


_PRICE_DOC = "Limit price in cents (a multiple of the SKU's tick, inside its band)."


ClientOrderId = Annotated[str, Field(min_length=1, max_length=CLIENT_ORDER_ID_MAX)]


class _Order(Model):
    """What every order names: the SKU, the side, how many, an optional retry id."""

    sku: Sku
    side: one_of(Side)  # type: ignore[valid-type]
    quantity: Count
    client_order_id: ClientOrderId | None = None


class LimitOrder(_Order):
    """A limit order that may rest (``gtc``): optionally post-only or expiring."""

    model_config = ConfigDict(
        title="LimitOrder",
        json_schema_extra={
            "examples": [
                {
                    "sku": EXAMPLE_SKU,
                    "side": "bid",
                    "type": "limit",
                    "price_cents": 20_000,
                    "quantity": 1,
                }
            ]
        },
    )

    type: Literal["limit"]
    price_cents: int_range(1, MAX_INT, _PRICE_DOC)  # type: ignore[valid-type]
    time_in_force: Literal["gtc"] | None = None
    post_only: bool | None = None
    expires_in_days: int_range(1, MAX_EXPIRY_DAYS) | None = None  # type: ignore[valid-type]


class ImmediateLimitOrder(_Order):
    """A limit order that never rests: ``ioc`` fills what it can, ``fok`` all or nothing."""

    model_config = ConfigDict(title="ImmediateLimitOrder")

    type: Literal["limit"]
    price_cents: int_range(1, MAX_INT, _PRICE_DOC)  # type: ignore[valid-type]
    time_in_force: Literal["ioc", "fok"]
    post_only: NotTrue | None = None


class MarketOrder(_Order):
    """A market order (Buy Now / Sell Now): fills at once, the rest is canceled."""

    model_config = ConfigDict(title="MarketOrder")

    type: Literal["market"]
    price_cents: int_range(1, MAX_INT, "Price protection: fill no worse than this.") | None = None  # type: ignore[valid-type]
    time_in_force: Literal["gtc", "ioc", "fok"] | None = None
    post_only: NotTrue | None = None


ORDER_MODELS: tuple[type[Model], ...] = (LimitOrder, ImmediateLimitOrder, MarketOrder)
ORDER_FIELDS = tuple(dict.fromkeys(f for m in ORDER_MODELS for f in m.model_fields))


class BatchRequest(Model):
    """``POST /v1/orders/batch``: up to 100 orders placed as one group."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "orders": [
                        {
                            "sku": EXAMPLE_SKU,
                            "side": "ask",
                            "type": "limit",
                            "price_cents": 40_000,
                            "quantity": 1,
                        },
                        {
                            "sku": EXAMPLE_SKU,
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


class AmendRequest(Model):
    """``PATCH /v1/orders/{id}``: a new total quantity and/or a new price."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"price_cents": 21_000}], "minProperties": 1}
    )

    quantity: Count = None  # type: ignore[assignment]
    price_cents: Cents = None  # type: ignore[assignment]


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

M = TypeVar("M", bound=Model)


def _where(loc: tuple[int | str, ...], prefix: str) -> str:
    """A field's place as a caller writes it: ``orders[3].sku``."""
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return prefix + name


def field_schema(model: type[BaseModel], field: str) -> dict[str, Any]:
    """The field's own JSON Schema (the non-null branch of an optional field)."""
    prop: dict[str, Any] = model.model_json_schema()["properties"].get(field, {})
    for branch in prop.get("anyOf", []):
        if branch.get("type") != "null":
            return dict(branch)
    return prop


def _bounds(model: type[BaseModel], field: str) -> tuple[int | None, int | None]:
    prop = field_schema(model, field)
    return prop.get("minimum"), prop.get("maximum")


def refusal(model: type[BaseModel], err: ErrorDetails, prefix: str, what: str) -> ExchangeError:
    """The one refusal for a pydantic error, in the API's codes and words."""
    kind = err["type"]
    loc = tuple(err["loc"])
    field = str(loc[-1]) if loc else ""
    name = _where(loc, prefix)
    if kind == "extra_forbidden":
        if model in ORDER_MODELS and field in ORDER_FIELDS:
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
        if field == "post_only" and model in ORDER_MODELS:
            return ExchangeError("invalid_order", _INVALID_ORDER)
        expected = err.get("ctx", {}).get("expected", "")
        choices = ", ".join(re.findall(r"'([^']*)'", str(expected)))
        return ExchangeError("validation_error", f"Field '{name}' must be one of: {choices}.")
    if kind in ("string_too_short", "string_too_long"):
        prop = field_schema(model, field) if len(loc) == 1 else {}
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


def validate(model: type[M], data: Any, *, prefix: str = "", what: str = "body") -> M:
    """``data`` checked against ``model``; the first problem raised as :func:`refusal`."""
    if not isinstance(data, dict):
        raise ExchangeError("validation_error", f"The {what} must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # Unknown fields first: they say most about what the caller meant.
        errors.sort(key=lambda e: e["type"] != "extra_forbidden")
        raise refusal(model, errors[0], prefix, what) from None


def wire_fields(model: BaseModel) -> dict[str, Any]:
    """The fields the caller sent, with null meaning "not given"."""
    sent = model.model_fields_set
    values = ((name, getattr(model, name)) for name in type(model).model_fields if name in sent)
    return {name: value for name, value in values if value is not None}


def parse_body(model: type[M], body: Any) -> M:
    """``body`` checked against ``model``.

    Raises:
        ExchangeError: the refusal for the first problem, as the module says.
    """
    return validate(model, body)


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
    model: type[Model]
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
    return wire_fields(validate(model, body, prefix=prefix, what=what))


def check_path_id(value: int, name: str) -> int:
    """An id named in a request's path (``/v1/orders/{order_id}``), within the wire's range.

    Raises:
        ExchangeError: ``validation_error`` naming the range when it does not
            fit the wire's 64-bit integers.
    """
    if value > MAX_INT:
        raise ExchangeError(
            "validation_error", f"Path parameter '{name}' must be between 0 and {MAX_INT}."
        )
    return value
