"""One side of a book: price levels kept sorted by price.

A :class:`Ladder` maps ``price_cents -> Level`` in a
:class:`sortedcontainers.SortedDict`, keyed by the plain price on both sides:
the best ask is the first key, the best bid the last one, and both are
reached in O(1) through ``peekitem``. Looking a level up by price is a plain
``dict`` lookup (``SortedDict`` is a ``dict``), O(1); adding or removing a
level is O(log n). The id index of the orders lives in the book, not here.
"""

from __future__ import annotations

from collections.abc import Iterator

from sortedcontainers import SortedDict

from .level import Level
from .rules import Side

__all__ = ["Ladder"]


class Ladder:
    """The price levels of one side, with best-first queries.

    ``levels`` is public to :mod:`orderbook.book`, whose hot path works on it
    directly; everything else should use the methods.
    """

    __slots__ = ("best_index", "is_bid", "levels", "side")

    def __init__(self, side: Side) -> None:
        self.side = side
        self.is_bid = side is Side.BID
        # peekitem index of the best level: the highest bid, the lowest ask.
        self.best_index = -1 if self.is_bid else 0
        self.levels: SortedDict = SortedDict()

    def __len__(self) -> int:
        """Number of price levels."""
        return len(self.levels)

    def best(self) -> Level | None:
        """The best level (highest bid / lowest ask), or None; O(1)."""
        if not self.levels:
            return None
        level: Level = self.levels.peekitem(self.best_index)[1]
        return level

    def best_price(self) -> int | None:
        """The best price, or None when the side is empty; O(1)."""
        if not self.levels:
            return None
        price: int = self.levels.peekitem(self.best_index)[0]
        return price

    def get(self, price: int) -> Level | None:
        """The level at ``price``, or None; O(1)."""
        level: Level | None = self.levels.get(price)
        return level

    def level_for(self, price: int) -> Level:
        """The level at ``price``, created (empty) when missing; O(log n) to add."""
        level: Level | None = self.levels.get(price)
        if level is None:
            level = self.levels[price] = Level(price)
        return level

    def remove(self, price: int) -> None:
        """Drop the level at ``price``; O(log n)."""
        del self.levels[price]

    def best_first(self, limit: int | None = None) -> Iterator[Level]:
        """Levels from the best price outwards, stopping past ``limit``.

        For bids the levels at or above ``limit``; for asks at or below it.
        Iterating while the ladder changes is not allowed.
        """
        levels = self.levels
        if self.is_bid:
            keys = levels.irange(minimum=limit, reverse=True)
        else:
            keys = levels.irange(maximum=limit)
        for price in keys:
            yield levels[price]

    def depth(self, n: int | None = None) -> list[tuple[int, int, int]]:
        """Top ``n`` levels (all when None) as ``(price, quantity, orders)``, best first.

        O(log L + n) for L levels.
        """
        levels = self.levels
        size = len(levels)
        count = size if n is None else max(0, min(n, size))
        if self.is_bid:
            keys = levels.islice(size - count, size, reverse=True)
        else:
            keys = levels.islice(0, count)
        out = []
        for price in keys:
            level = levels[price]
            out.append((price, level.quantity, level.count))
        return out

    def __iter__(self) -> Iterator[Level]:
        """All levels, best first."""
        return self.best_first()
