"""Commands a book takes: plain immutable values.

Ids, owners and times are handed in by the caller (the engine); the book reads
no clock and invents no id. Times are integers (nanoseconds since the Unix
epoch by the engine's convention; the book only compares them).
"""

from __future__ import annotations

from typing import NamedTuple

from .rules import OrderType, Side, TimeInForce

__all__ = ["AmendOrder", "CancelOrder", "Command", "ExpireOrders", "PlaceOrder"]


class PlaceOrder(NamedTuple):
    """Place a new order.

    ``price_cents`` is the limit price, or for a market order its optional
    price protection (the worst price it may trade at). ``expires_at`` (GTC
    only) is the time from which the order is expired by :class:`ExpireOrders`.
    """

    order_id: int
    owner: str
    side: Side
    quantity: int
    price_cents: int | None = None
    order_type: OrderType = OrderType.LIMIT
    time_in_force: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    expires_at: int | None = None
    now: int = 0


class CancelOrder(NamedTuple):
    """Cancel a resting order (reason ``user``)."""

    order_id: int
    now: int = 0


class AmendOrder(NamedTuple):
    """Change a resting order.

    ``quantity`` is the new total including what has filled; ``price_cents``
    the new price. Lowering the quantity at the same price keeps time
    priority; raising it, or any price change, loses it (a price change is a
    cancel-and-replace that may trade at resting prices).
    """

    order_id: int
    quantity: int | None = None
    price_cents: int | None = None
    now: int = 0


class ExpireOrders(NamedTuple):
    """Expire every resting order whose ``expires_at`` is at or before ``now``."""

    now: int


Command = PlaceOrder | CancelOrder | AmendOrder | ExpireOrders
