"""One side of a book: price levels kept sorted by price.

A :class:`Ladder` maps ``price_cents -> Level`` in a
:class:`sortedcontainers.SortedDict`, keyed by the plain price on both sides:
the best ask is the first key, the best bid the last one, and both are
reached in O(1) through ``peekitem``. Looking a level up by price is a plain
``dict`` lookup (``SortedDict`` is a ``dict``), O(1); adding or removing a
level is O(log n). The id index of the orders lives in the book, not here.

Empty levels ("ghosts", ``count == 0``) may stay in the ladder behind the
best one: when a cancel empties a level that is not the best, the book
leaves it in place (as the bare reference loop leaves its empty queues)
rather than pay an O(log n) removal now and an O(log n) insertion when the
price is quoted again, which in a market that walks around a fair value is
soon. The best level is never a ghost, and the book sweeps the ghosts out
when they outnumber the live levels (see :mod:`orderbook.book`). The
queries here skip them: they never show in :meth:`Ladder.depth` or
:meth:`Ladder.best_first`.
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
        """Number of price levels held, ghosts included."""
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
        """The level at ``price`` (perhaps a ghost), or None; O(1)."""
        level: Level | None = self.levels.get(price)
        return level

    def level_for(self, price: int) -> Level:
        """The level at ``price``, created (empty) when missing; O(log n) to add."""
        level: Level | None = self.levels.get(price)
        if level is None:
            level = self.levels[price] = Level(price, self.side)
        return level

    def remove(self, price: int) -> None:
        """Drop the level at ``price``; O(log n)."""
        del self.levels[price]

    def ghosts(self) -> list[int]:
        """Prices of the empty levels held, ascending; O(levels)."""
        return [price for price, level in self.levels.items() if not level.count]

    def best_first(self, limit: int | None = None) -> Iterator[Level]:
        """Live levels from the best price outwards, stopping past ``limit``.

        For bids the levels at or above ``limit``; for asks at or below it.
        Iterating while the ladder changes is not allowed.
        """
        levels = self.levels
        if self.is_bid:
            keys = levels.irange(minimum=limit, reverse=True)
        else:
            keys = levels.irange(maximum=limit)
        for price in keys:
            level: Level = levels[price]
            if level.count:
                yield level

    def depth(self, n: int | None = None) -> list[tuple[int, int, int]]:
        """Top ``n`` live levels (all when None) as ``(price, quantity, orders)``, best first.

        O(log L + n + g) for L levels of which g ghosts are passed on the way
        (the book keeps g below the number of live levels).
        """
        out: list[tuple[int, int, int]] = []
        if n is not None and n <= 0:
            return out
        levels = self.levels
        for price in reversed(levels) if self.is_bid else levels:
            level = levels[price]
            if level.count:
                out.append((price, level.quantity, level.count))
                if len(out) == n:
                    break
        return out

    def __iter__(self) -> Iterator[Level]:
        """All live levels, best first."""
        return self.best_first()
