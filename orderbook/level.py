"""One price level: a FIFO queue of resting orders, its total and its count.

A :class:`Level` keeps its orders in a ``deque`` in time priority. Removal is
lazy, like the bare reference loop: an order that leaves from the middle of
the queue (a cancel, an expiry, an amend that loses priority) is marked dead
by setting its remaining quantity to 0 and stays in the deque until matching
reaches it or :meth:`Level.compact` sweeps it. ``quantity`` and ``count``
are kept exact on every change, so the level's public figures never include
dead entries and a level whose ``count`` drops to 0 is removed from its
ladder at once.

A resting order is a plain ``list`` (:data:`Order`) read through the index
constants below, not an object: a list display builds in about a quarter of
the time a slotted class's ``__init__`` takes, and an index reads as fast as
a slot. :func:`new_order` builds one; only :mod:`orderbook.book` touches the
fields.

The hot path in :mod:`orderbook.book` reads and writes these slots directly
instead of calling methods: a method call costs as much as the work itself.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from .rules import Side

__all__ = [
    "EXPIRES_AT",
    "LEVEL",
    "ORDER_ID",
    "OWNER",
    "POST_ONLY",
    "PRICE",
    "QUANTITY",
    "REMAINING",
    "SIDE",
    "Level",
    "Order",
    "format_order",
    "new_order",
]

Order = list[Any]
"""A resting order: ``[order_id, remaining, owner, quantity, level, side,
price, expires_at, post_only]``, read through the constants below.

``quantity`` is the total (including what has filled); what has filled is
``quantity - remaining`` while the order lives. ``remaining == 0`` marks an
entry that no longer belongs to its level (see the module docstring); its
other fields are then stale. ``level`` is the :class:`Level` the order rests
in, so that a cancel needs no lookup. Only GTC limit orders rest, so the
time in force is not stored.
"""

ORDER_ID = 0
REMAINING = 1
OWNER = 2
QUANTITY = 3
LEVEL = 4
SIDE = 5
PRICE = 6
EXPIRES_AT = 7
POST_ONLY = 8


class Level:
    """All resting orders at one price on one side, oldest first.

    ``quantity`` is the sum of the live orders' remaining quantities;
    ``count`` the number of live orders. ``orders`` may also hold dead
    entries (remaining 0), which every reader skips.
    """

    __slots__ = ("count", "orders", "price", "quantity", "side")

    def __init__(self, price: int, side: Side) -> None:
        self.price = price
        self.side = side
        self.orders: deque[Order] = deque()
        self.quantity = 0
        self.count = 0

    def append(self, order: Order) -> None:
        """Add a live order at the back of the queue (lowest priority)."""
        order[LEVEL] = self
        self.orders.append(order)
        self.quantity += order[REMAINING]
        self.count += 1

    def live(self) -> list[Order]:
        """The live orders in time priority (a copy; O(entries))."""
        return [o for o in self.orders if o[REMAINING]]

    def compact(self) -> None:
        """Drop the dead entries, keeping the live ones in order; O(entries).

        The book calls it from its periodic sweep, which keeps a level that
        sees many cancels but no matching from growing without bound.
        """
        self.orders = deque([o for o in self.orders if o[REMAINING]])

    def __repr__(self) -> str:
        return (
            f"Level(side={self.side.value}, price={self.price}, "
            f"quantity={self.quantity}, count={self.count})"
        )


def new_order(
    order_id: int,
    owner: str,
    side: Side,
    price: int,
    quantity: int,
    filled: int,
    expires_at: int | None,
    post_only: bool,
) -> Order:
    """A resting order of total ``quantity`` of which ``filled`` has traded.

    Its level is set when it joins one (:meth:`Level.append`).
    """
    return [order_id, quantity - filled, owner, quantity, None, side, price, expires_at, post_only]


def format_order(order: Order) -> str:
    """A readable form of an order, for assertion messages."""
    return (
        f"Order(id={order[ORDER_ID]}, owner={order[OWNER]!r}, side={order[SIDE]}, "
        f"price={order[PRICE]}, quantity={order[QUANTITY]}, remaining={order[REMAINING]})"
    )
