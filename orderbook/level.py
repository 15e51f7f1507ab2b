"""One price level: a FIFO queue of resting orders, its total and its count.

A :class:`Level` keeps its :class:`Order` objects in a ``deque`` in time
priority. Removal is lazy, like the bare reference loop: an order that leaves
from the middle of the queue (a cancel, an expiry, an amend that loses
priority) is marked dead by setting its ``remaining`` to 0 and stays in the
deque until matching reaches it or :meth:`Level.compact` sweeps it.
``quantity`` and ``count`` are kept exact on every change, so the level's
public figures never include dead entries and a level whose ``count`` drops
to 0 is removed from its ladder at once.

Both classes are plain slotted classes with typed fields: compiled by mypyc
(``setup.py``) they become C structs, so that the hot path in
:mod:`orderbook.book`, which reads and writes their fields directly rather
than through methods, does machine-integer arithmetic on them.
"""

from __future__ import annotations

from collections import deque
from typing import Final

from .rules import Side

__all__ = ["Level", "Order", "format_order"]


class Level:
    """All resting orders at one price on one side, oldest first.

    ``quantity`` is the sum of the live orders' remaining quantities;
    ``count`` the number of live orders. ``orders`` may also hold dead
    entries (remaining 0), which every reader skips.
    """

    __slots__ = ("count", "orders", "price", "quantity", "side")

    def __init__(self, price: int, side: Side) -> None:
        self.price: Final = price
        self.side: Final = side
        self.orders: deque[Order] = deque()
        self.quantity = 0
        self.count = 0

    def append(self, order: Order) -> None:
        """Add a live order of this level at the back of the queue (lowest priority)."""
        self.orders.append(order)
        self.quantity += order.remaining
        self.count += 1

    def live(self) -> list[Order]:
        """The live orders in time priority (a copy; O(entries))."""
        return [o for o in self.orders if o.remaining]

    def compact(self) -> None:
        """Drop the dead entries, keeping the live ones in order; O(entries).

        The book calls it from its periodic sweep, which keeps a level that
        sees many cancels but no matching from growing without bound.
        """
        self.orders = deque([o for o in self.orders if o.remaining])

    def __repr__(self) -> str:
        return (
            f"Level(side={self.side.value}, price={self.price}, "
            f"quantity={self.quantity}, count={self.count})"
        )


class Order:
    """A resting order, held by its :class:`Level` and by the book's id index.

    ``quantity`` is the total (including what has filled); what has filled
    is ``quantity - remaining`` while the order lives. ``remaining == 0``
    marks an entry that no longer belongs to its level (see the module
    docstring); its other fields are then stale. ``level`` is the level the
    order rests in, so that a cancel needs no lookup. Only GTC limit orders
    rest, so the time in force is not stored; the side and the price are the
    level's. Only :mod:`orderbook.book` changes the fields.
    """

    __slots__ = ("expires_at", "level", "order_id", "owner", "post_only", "quantity", "remaining")

    def __init__(
        self,
        order_id: int,
        owner: str,
        level: Level,
        quantity: int,
        remaining: int,
        expires_at: int | None,
        post_only: bool,
    ) -> None:
        self.order_id: Final = order_id
        self.owner: Final = owner
        self.level: Final = level
        self.quantity = quantity
        self.remaining = remaining
        self.expires_at: Final = expires_at
        self.post_only: Final = post_only


def format_order(order: Order) -> str:
    """A readable form of an order, for assertion messages."""
    level = order.level
    return (
        f"Order(id={order.order_id}, owner={order.owner!r}, side={level.side}, "
        f"price={level.price}, quantity={order.quantity}, remaining={order.remaining})"
    )
