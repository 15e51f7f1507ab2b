"""Events a book returns: plain immutable values, one class per outcome.

Every event carries ``seq``, the book's own gap-free event counter (it stays
inside ``orderbook/``; the engine has its own sequences). A command returns
its events in the order they happened; the level changes of one command come
last, one :class:`LevelChanged` per touched price level, ascending by
(side, price) so that replay is byte-for-byte deterministic.

Events are ``NamedTuple`` classes rather than frozen dataclasses: they are
immutable values all the same, and build about twice as fast, which matters
on the matching path (measured: 0.26 us against 0.57 us for four fields).
Equality also compares the class, so two kinds never compare equal.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .rules import CancelReason, OrderType, RejectReason, Side, TimeInForce

__all__ = [
    "Accepted",
    "Amended",
    "Canceled",
    "Event",
    "Fill",
    "LevelChanged",
    "Rejected",
]


class Accepted(NamedTuple):
    """A new order passed the book's checks (it may still fill or be canceled)."""

    seq: int
    order_id: int
    owner: str
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    price_cents: int | None
    quantity: int


class Rejected(NamedTuple):
    """A command was refused and changed nothing. ``order_id`` is 0 for none."""

    seq: int
    order_id: int
    reason: RejectReason


class Fill(NamedTuple):
    """A match at the resting (maker) order's price."""

    seq: int
    taker_order_id: int
    maker_order_id: int
    taker_owner: str
    maker_owner: str
    taker_side: Side
    price_cents: int
    quantity: int
    taker_remaining: int
    maker_remaining: int


class Canceled(NamedTuple):
    """An order, or its unfilled rest, left the book; ``quantity`` is what left."""

    seq: int
    order_id: int
    reason: CancelReason
    quantity: int


class Amended(NamedTuple):
    """A resting order changed: its new price, new total and new remaining."""

    seq: int
    order_id: int
    price_cents: int
    quantity: int
    remaining: int
    kept_priority: bool


class LevelChanged(NamedTuple):
    """Market data: a price level's new total quantity (0 removes the level)."""

    seq: int
    side: Side
    price_cents: int
    quantity: int
    orders: int


Event = Accepted | Rejected | Fill | Canceled | Amended | LevelChanged


def _typed_eq(self: tuple[Any, ...], other: object) -> bool:
    return type(self) is type(other) and tuple.__eq__(self, other)  # type: ignore[arg-type]


def _typed_ne(self: tuple[Any, ...], other: object) -> bool:
    return not _typed_eq(self, other)


def _typed_hash(self: tuple[Any, ...]) -> int:
    return hash((type(self).__name__, *self))


for _cls in (Accepted, Rejected, Fill, Canceled, Amended, LevelChanged):
    _cls.__eq__ = _typed_eq  # type: ignore[assignment,method-assign]
    _cls.__ne__ = _typed_ne  # type: ignore[assignment,method-assign]
    _cls.__hash__ = _typed_hash  # type: ignore[assignment,method-assign]
del _cls
