"""Rules of one order book, kept as values and tables.

Everything that crosses the wire is an :class:`enum.StrEnum`: sides, order
types, times in force, statuses and the reason codes of rejections and
cancellations. :class:`SkuRules` holds the per-SKU trading limits, and
:func:`check_place` is the pure static check the engine runs before a command
is journaled (shape, tick, band, quantity): it changes nothing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "CancelReason",
    "OrderStatus",
    "OrderType",
    "RejectReason",
    "Side",
    "SkuRules",
    "TimeInForce",
    "check_place",
    "check_price",
]


class Side(enum.StrEnum):
    """Which side of the book an order is on: a bid buys, an ask sells."""

    BID = "bid"
    ASK = "ask"


class OrderType(enum.StrEnum):
    """``limit`` rests at its price; ``market`` ("Buy Now"/"Sell Now") never rests."""

    LIMIT = "limit"
    MARKET = "market"


class TimeInForce(enum.StrEnum):
    """How long an order may live: good till canceled (or expiry), IOC, FOK."""

    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"


class OrderStatus(enum.StrEnum):
    """An order's status on the wire."""

    OPEN = "open"
    FILLED = "filled"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"


class RejectReason(enum.StrEnum):
    """Why the book refused a command; a refused command changes nothing."""

    INVALID_QUANTITY = "quantity_out_of_range"
    OFF_TICK = "off_tick"
    PRICE_OUT_OF_BAND = "price_out_of_band"
    MISSING_PRICE = "missing_price"
    INVALID_ORDER = "invalid_order"
    DUPLICATE_ORDER_ID = "duplicate_order_id"
    UNKNOWN_ORDER = "unknown_order"
    POST_ONLY_WOULD_TAKE = "post_only_would_take"
    QUANTITY_AT_OR_BELOW_FILLED = "quantity_at_or_below_filled"
    EXPIRY_IN_PAST = "expiry_in_past"


class CancelReason(enum.StrEnum):
    """Why an order (or its unfilled rest) left the book."""

    USER = "user"
    IOC_REMAINDER = "ioc_remainder"
    MARKET_REMAINDER = "market_remainder"
    FOK_UNFILLABLE = "fok_unfillable"
    SELF_TRADE = "self_trade"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class SkuRules:
    """Trading limits of one SKU, all in integer cents and items.

    A price is valid when it is a multiple of ``tick_size_cents`` and lies in
    ``[min_price_cents, max_price_cents]``; a quantity when it lies in
    ``[1, max_quantity]``.
    """

    tick_size_cents: int = 100
    min_price_cents: int = 100
    max_price_cents: int = 10_000_000
    max_quantity: int = 100


def check_price(rules: SkuRules, price_cents: object) -> RejectReason | None:
    """Return why ``price_cents`` breaks ``rules``, or None when it is valid.

    Any value is accepted (a non-int is ``invalid_order``), here and in
    :func:`check_place`: checking input is their job, so they never raise.
    """
    # `type(...) is` before anything narrows to int: compiled, a value typed
    # int is a machine integer, and True would arrive as a plain 1.
    if type(price_cents) is not int:
        return RejectReason.INVALID_ORDER
    if price_cents % rules.tick_size_cents:
        return RejectReason.OFF_TICK
    if price_cents < rules.min_price_cents or price_cents > rules.max_price_cents:
        return RejectReason.PRICE_OUT_OF_BAND
    return None


def check_place(
    rules: SkuRules,
    order_type: OrderType,
    price_cents: object,
    quantity: object,
    time_in_force: TimeInForce = TimeInForce.GTC,
    post_only: bool = False,
    expires_at: object = None,
    now: int = 0,
) -> RejectReason | None:
    """The static check of a new order: None when it may be journaled.

    A limit order needs a price; a market order's price is optional price
    protection and, when given, obeys the same tick and band. Market orders
    cannot be post-only or carry an expiry; post-only needs GTC.
    """
    if type(quantity) is not int or quantity < 1 or quantity > rules.max_quantity:
        return RejectReason.INVALID_QUANTITY
    # `==` rather than `is`: a plain "limit" string compares equal to the
    # StrEnum member, so callers that have not converted yet get the same answer.
    if order_type == OrderType.LIMIT:
        if price_cents is None:
            return RejectReason.MISSING_PRICE
    elif order_type == OrderType.MARKET:
        if post_only or expires_at is not None:
            return RejectReason.INVALID_ORDER
    else:
        return RejectReason.INVALID_ORDER
    if price_cents is not None:
        reason = check_price(rules, price_cents)
        if reason is not None:
            return reason
    if post_only and time_in_force != TimeInForce.GTC:
        return RejectReason.INVALID_ORDER
    if expires_at is not None:
        if time_in_force != TimeInForce.GTC:
            return RejectReason.INVALID_ORDER
        if type(expires_at) is not int:
            return RejectReason.INVALID_ORDER
        if expires_at <= now:
            return RejectReason.EXPIRY_IN_PAST
    return None
