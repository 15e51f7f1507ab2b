"""Request bodies the venue accepts, checked once and turned into commands.

Every function here is pure: it reads a JSON-decoded body (and ``now``) and
returns a command, or raises :class:`exchange.errors.ExchangeError`
(``unknown_field`` naming the first unknown key, ``validation_error`` naming
the field) before anything is journaled.
"""

from __future__ import annotations

from typing import Any

from ..accounts import generate_api_key, hash_api_key, parse_role, validate_name, validate_text
from ..catalog import Product
from ..clock import DAY_NS, parse_rfc3339
from ..commands import (
    AddHolding,
    AmendOrder,
    CreateAccount,
    CreateApiKey,
    CreateProduct,
    PlaceOrder,
)
from ..errors import ExchangeError
from ..keys import LABEL_MAX_LENGTH, last4

__all__ = [
    "MAX_EXPIRY_DAYS",
    "ORDER_FIELDS",
    "check_fields",
    "check_holding",
    "check_status",
    "create_product_command",
    "invalid",
    "new_account",
    "new_api_key",
    "parse_amend",
    "parse_holding",
    "parse_passed",
    "parse_place",
]

ORDER_FIELDS = frozenset(
    {
        "sku",
        "side",
        "type",
        "price_cents",
        "quantity",
        "time_in_force",
        "post_only",
        "expires_in_days",
        "client_order_id",
    }
)
AMEND_FIELDS = frozenset({"quantity", "price_cents"})
HOLDING_FIELDS = frozenset({"sku", "purchase_price_cents", "acquired_at", "condition"})
STATUSES = frozenset({"open", "filled", "canceled", "expired", "rejected"})
MAX_EXPIRY_DAYS = 60


def invalid(message: str) -> ExchangeError:
    """A ``validation_error`` with ``message``."""
    return ExchangeError("validation_error", message)


def check_fields(body: object, allowed: frozenset[str]) -> dict[str, Any]:
    """``body`` as a dict whose keys are all in ``allowed``.

    Raises:
        ExchangeError: ``validation_error`` for a non-object, ``unknown_field``
            naming the first unknown key.
    """
    if not isinstance(body, dict):
        raise invalid("The body must be a JSON object.")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ExchangeError(
            "unknown_field",
            f"Unknown field {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}.",
        )
    return body


def _opt_int(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is not None and type(value) is not int:
        raise invalid(f"{key} must be an integer.")
    return value


def _opt_str(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise invalid(f"{key} must be a string.")
    return value


def _required(data: dict[str, Any], keys: tuple[str, ...]) -> None:
    for key in keys:
        if data.get(key) is None:
            raise invalid(f"{key} is required.")


def parse_place(account_id: str, body: object, now: int) -> PlaceOrder:
    """Turn a ``POST /v1/orders`` body into a :class:`PlaceOrder` at ``now``.

    Raises:
        ExchangeError: ``unknown_field`` or ``validation_error`` (naming the field).
    """
    data = check_fields(body, ORDER_FIELDS)
    _required(data, ("sku", "side", "type", "quantity"))
    sku = _opt_str(data, "sku")
    side = _opt_str(data, "side")
    order_type = _opt_str(data, "type")
    if side not in ("bid", "ask"):
        raise invalid("side must be 'bid' or 'ask'.")
    if order_type not in ("limit", "market"):
        raise invalid("type must be 'limit' or 'market'.")
    quantity = _opt_int(data, "quantity")
    price = _opt_int(data, "price_cents")
    tif = _opt_str(data, "time_in_force") or "gtc"
    if tif not in ("gtc", "ioc", "fok"):
        raise invalid("time_in_force must be 'gtc', 'ioc' or 'fok'.")
    post_only = data.get("post_only", False)
    if post_only is None:
        post_only = False
    if type(post_only) is not bool:
        raise invalid("post_only must be true or false.")
    days = _opt_int(data, "expires_in_days")
    if days is not None and not 1 <= days <= MAX_EXPIRY_DAYS:
        raise invalid(f"expires_in_days must be between 1 and {MAX_EXPIRY_DAYS}.")
    coid = _opt_str(data, "client_order_id")
    return PlaceOrder(
        account_id=account_id,
        client_order_id=coid,
        sku=sku,  # type: ignore[arg-type]
        side=side,
        order_type=order_type,
        price_cents=price,
        quantity=quantity,  # type: ignore[arg-type]
        time_in_force=tif,
        post_only=post_only,
        expires_at=None if days is None else now + days * DAY_NS,
    )


def parse_amend(account_id: str, order_id: int, body: object) -> AmendOrder:
    """Turn a ``PATCH /v1/orders/{id}`` body (new total ``quantity``, ``price_cents``)."""
    data = check_fields(body, AMEND_FIELDS)
    return AmendOrder(
        account_id, order_id, _opt_int(data, "quantity"), _opt_int(data, "price_cents")
    )


def check_holding(body: object) -> dict[str, Any]:
    """The field checks of a holding body that need no clock (run first)."""
    data = check_fields(body, HOLDING_FIELDS)
    _required(data, ("sku", "purchase_price_cents"))
    _opt_str(data, "sku")
    return data


def parse_holding(account_id: str, data: dict[str, Any], now: int) -> AddHolding:
    """Turn a checked ``POST /v1/portfolio/items`` body into an :class:`AddHolding`.

    ``acquired_at`` is an RFC 3339 time or a date (default ``now``), never
    after ``now``; ``condition`` defaults to ``new``.
    """
    acquired = data.get("acquired_at")
    acquired_at = now if acquired is None else _parse_time(acquired, "acquired_at")
    if acquired_at > now:
        raise invalid("acquired_at is in the future; give the date the item was bought.")
    return AddHolding(
        account_id,
        data["sku"],
        data["purchase_price_cents"],
        acquired_at,
        data.get("condition") or "new",
    )


def parse_passed(passed: object) -> bool:
    """The ``passed`` flag of an authentication."""
    if type(passed) is not bool:
        raise invalid("passed must be true or false.")
    return passed


def check_status(status: str | None) -> str | None:
    """An order-status filter, or None."""
    if status is not None and status not in STATUSES:
        raise invalid(f"status must be one of {', '.join(sorted(STATUSES))}.")
    return status


def new_account(account_id: str, name: object, role: object) -> tuple[CreateAccount, str]:
    """The command that creates account ``account_id``, and its API key.

    The key is returned once and only its hash is journaled.
    """
    checked_name = validate_name(name)
    checked_role = parse_role(role)
    api_key = generate_api_key()
    cmd = CreateAccount(
        account_id, checked_name, str(checked_role), hash_api_key(api_key), last4(api_key)
    )
    return cmd, api_key


def new_api_key(account_id: str, label: object) -> tuple[CreateApiKey, str]:
    """The command that gives ``account_id`` one more API key, and the key.

    The key is returned once; its hash and last four characters are journaled.

    Raises:
        ExchangeError: ``validation_error`` for a label that is not null or
            1 to 64 characters without control characters.
    """
    checked = None if label is None else validate_text(label, "label", LABEL_MAX_LENGTH)
    api_key = generate_api_key()
    return CreateApiKey(account_id, hash_api_key(api_key), checked, last4(api_key)), api_key


def create_product_command(product: Product) -> CreateProduct:
    """The journaled command that adds ``product``."""
    return CreateProduct.from_product(product)


def _parse_time(value: object, key: str) -> int:
    if type(value) is int:
        return value
    if isinstance(value, str):
        try:
            return parse_rfc3339(value)
        except ValueError:
            pass
    raise invalid(f"{key} must be an RFC 3339 time or a YYYY-MM-DD date.")
