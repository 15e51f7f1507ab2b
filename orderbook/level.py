"""One price level: a FIFO queue of resting orders, its total and its count.

A :class:`Level` keeps its orders in a ``deque`` in time priority. Removal is
lazy, like the bare reference loop: an order that leaves from the middle of
the queue (a cancel, an expiry, an amend that loses priority) is marked dead
by setting its ``remaining`` to 0 and stays in the deque until matching
reaches it or :meth:`Level.compact` sweeps it. ``quantity`` and ``count``
are kept exact on every change, so the level's public figures never include
dead entries and a level whose ``count`` drops to 0 is removed from its
ladder at once.

The hot path in :mod:`orderbook.book` reads and writes these slots directly
instead of calling methods: a method call costs as much as the work itself.
"""

from __future__ import annotations

from collections import deque

from .rules import Side

__all__ = ["Level", "Order"]


class Order:
    """A resting order; mutable, owned by one book.

    Only GTC limit orders rest, so the time in force is not stored.

    ``quantity`` is the total (including what has filled), ``filled`` what
    has traded and ``remaining`` what is left; ``quantity == filled +
    remaining`` for a live order, and ``remaining == 0`` marks an entry that
    no longer belongs to its level (see the module docstring).
    """

    __slots__ = (
        "expires_at",
        "filled",
        "order_id",
        "owner",
        "post_only",
        "price",
        "quantity",
        "remaining",
        "side",
    )

    def __init__(
        self,
        order_id: int,
        owner: str,
        side: Side,
        price: int,
        quantity: int,
        filled: int,
        expires_at: int | None,
        post_only: bool,
    ) -> None:
        self.order_id = order_id
        self.owner = owner
        self.side = side
        self.price = price
        self.quantity = quantity
        self.filled = filled
        self.remaining = quantity - filled
        self.expires_at = expires_at
        self.post_only = post_only

    def replaced(self, price: int, quantity: int) -> Order:
        """A fresh copy at ``price`` with total ``quantity`` (same id, owner, fill).

        Used when an amend loses time priority: the old object is marked dead
        where it sits and the copy joins the back of a queue.
        """
        return Order(
            self.order_id,
            self.owner,
            self.side,
            price,
            quantity,
            self.filled,
            self.expires_at,
            self.post_only,
        )

    def __repr__(self) -> str:
        return (
            f"Order(id={self.order_id}, owner={self.owner!r}, side={self.side.value}, "
            f"price={self.price}, quantity={self.quantity}, filled={self.filled}, "
            f"remaining={self.remaining})"
        )


class Level:
    """All resting orders at one price on one side, oldest first.

    ``quantity`` is the sum of the live orders' ``remaining``; ``count`` the
    number of live orders. ``orders`` may also hold dead entries
    (``remaining == 0``), which every reader skips.
    """

    __slots__ = ("count", "orders", "price", "quantity")

    def __init__(self, price: int) -> None:
        self.price = price
        self.orders: deque[Order] = deque()
        self.quantity = 0
        self.count = 0

    def append(self, order: Order) -> None:
        """Add a live order at the back of the queue (lowest priority)."""
        self.orders.append(order)
        self.quantity += order.remaining
        self.count += 1

    def live(self) -> list[Order]:
        """The live orders in time priority (a copy; O(entries))."""
        return [o for o in self.orders if o.remaining]

    def compact(self) -> None:
        """Drop dead entries when they outnumber live ones (amortized O(1)).

        Keeps a level that sees many cancels but no matching from growing
        without bound.
        """
        if len(self.orders) > 2 * self.count + 16:
            self.orders = deque(o for o in self.orders if o.remaining)

    def __repr__(self) -> str:
        return f"Level(price={self.price}, quantity={self.quantity}, count={self.count})"
