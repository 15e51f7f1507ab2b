"""Market-data events: what the venue publishes, and a mirror built from them.

This is the event interface that ``feeds/`` and ``api/`` subscribe to (see
``Venue.subscribe``). Events are released only after the commands that caused
them are durable, in the order of the journal.

Sequencing (per SKU): one market-data ``sequence`` rises by exactly one for
every market-data event of the SKU (a :class:`BookUpdate` batch of one
command, a :class:`TradePrint`, or a :class:`TradeCanceled`).
``prev_sequence`` is the sequence of the previous event of the same channel
and SKU, 0 for the first: the ``trades`` channel carries both
:class:`TradePrint` and :class:`TradeCanceled`. One command's market data
goes out as its trades first, then one book batch.

:class:`L2Mirror` keeps the released L2 state of every SKU (what clients can
know), so snapshots served by the feed and by REST never show state that a
crash could take back.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from sortedcontainers import SortedDict

from orderbook.checksum import CHECKSUM_DEPTH, book_checksum

__all__ = [
    "BookSnapshot",
    "BookUpdate",
    "L2Mirror",
    "MarketDataEvent",
    "TradeCanceled",
    "TradePrint",
    "book_checksum",
]


class BookUpdate(NamedTuple):
    """Level changes of one command: ``changes`` is ``(side, price, new_qty)``.

    ``side`` is ``"bid"`` or ``"ask"``; a new quantity of 0 removes the level.
    ``checksum`` is :func:`book_checksum` of the book after the changes.
    ``time`` is the command's time in ns since the epoch.
    """

    sku: str
    sequence: int
    prev_sequence: int
    changes: tuple[tuple[str, int, int], ...]
    checksum: int
    time: int


class TradePrint(NamedTuple):
    """One trade, as the public sees it (no account ids)."""

    sku: str
    sequence: int
    prev_sequence: int
    trade_id: int
    price_cents: int
    quantity: int
    taker_side: str
    time: int


class TradeCanceled(NamedTuple):
    """A printed trade whose settlement was canceled: it is no longer a sale.

    Emitted when a trade misses its ship deadline or fails authentication.
    On the ``trades`` channel: ``prev_sequence`` is the previous
    :class:`TradePrint` or :class:`TradeCanceled` of the SKU. ``price_cents``
    and ``quantity`` are the canceled trade's; ``time`` is the cancel's.
    """

    sku: str
    sequence: int
    prev_sequence: int
    trade_id: int
    price_cents: int
    quantity: int
    time: int


MarketDataEvent = BookUpdate | TradePrint | TradeCanceled


class BookSnapshot(NamedTuple):
    """L2 state of one SKU as of ``sequence``: levels ``(price, qty, orders)``."""

    sku: str
    sequence: int
    bids: list[tuple[int, int, int]]
    asks: list[tuple[int, int, int]]
    checksum: int


class _Levels:
    """Both sides of one SKU: price -> (quantity, orders)."""

    __slots__ = ("asks", "bids", "book_sequence", "sequence", "trade_sequence")

    def __init__(self) -> None:
        # bids keyed by negative price so that iteration is best-first.
        self.bids: SortedDict = SortedDict()
        self.asks: SortedDict = SortedDict()
        self.sequence = 0
        self.book_sequence = 0
        self.trade_sequence = 0


class L2Mirror:
    """Released L2 books of every SKU, kept from :class:`BookUpdate` events.

    Level order counts are carried when known (``set_level``); book updates on
    the wire carry only quantities, so a mirror fed by them alone reports 0
    orders for levels it learned that way.
    """

    def __init__(self) -> None:
        self._books: dict[str, _Levels] = {}

    def _levels(self, sku: str) -> _Levels:
        book = self._books.get(sku)
        if book is None:
            book = self._books[sku] = _Levels()
        return book

    def load(
        self,
        sku: str,
        sequence: int,
        bids: Iterable[tuple[int, int, int]],
        asks: Iterable[tuple[int, int, int]],
        *,
        book_sequence: int = 0,
        trade_sequence: int = 0,
    ) -> None:
        """Replace one SKU's state (at start, from the recovered engine)."""
        book = self._books[sku] = _Levels()
        for price, qty, orders in bids:
            book.bids[-price] = (qty, orders)
        for price, qty, orders in asks:
            book.asks[price] = (qty, orders)
        book.sequence = sequence
        book.book_sequence = book_sequence
        book.trade_sequence = trade_sequence

    def apply(
        self, event: MarketDataEvent, orders: dict[tuple[str, int], int] | None = None
    ) -> None:
        """Advance one SKU by a released event.

        ``orders`` optionally maps ``(side, price)`` to the level's order count.
        """
        book = self._levels(event.sku)
        book.sequence = event.sequence
        if type(event) is not BookUpdate:  # trades channel: TradePrint, TradeCanceled
            book.trade_sequence = event.sequence
            return
        book.book_sequence = event.sequence
        for side, price, qty in event.changes:  # type: ignore[union-attr]
            levels = book.bids if side == "bid" else book.asks
            key = -price if side == "bid" else price
            if qty:
                count = orders.get((side, price), 0) if orders else 0
                levels[key] = (qty, count)
            else:
                levels.pop(key, None)

    def skus(self) -> list[str]:
        """Every SKU the mirror knows."""
        return list(self._books)

    def sequence(self, sku: str) -> int:
        """The SKU's last released market-data sequence (0 before any)."""
        book = self._books.get(sku)
        return book.sequence if book else 0

    def channel_sequences(self, sku: str) -> tuple[int, int]:
        """``(book_sequence, trade_sequence)``: the last of each channel."""
        book = self._books.get(sku)
        return (book.book_sequence, book.trade_sequence) if book else (0, 0)

    def best(self, sku: str) -> tuple[int | None, int | None]:
        """``(best_bid, best_ask)`` prices, None for an empty side."""
        book = self._books.get(sku)
        if book is None:
            return None, None
        bid = -book.bids.peekitem(0)[0] if book.bids else None
        ask = book.asks.peekitem(0)[0] if book.asks else None
        return bid, ask

    def snapshot(self, sku: str, depth: int | None = None) -> BookSnapshot:
        """L2 levels best first, to ``depth`` levels (all when None)."""
        book = self._books.get(sku) or _Levels()
        n_b = len(book.bids) if depth is None else min(depth, len(book.bids))
        n_a = len(book.asks) if depth is None else min(depth, len(book.asks))
        bids = [(-p, q, o) for p, (q, o) in book.bids.items()[:n_b]]
        asks = [(p, q, o) for p, (q, o) in book.asks.items()[:n_a]]
        return BookSnapshot(sku, book.sequence, bids, asks, self.checksum(sku))

    def checksum(self, sku: str) -> int:
        """:func:`book_checksum` of the SKU's mirrored top levels."""
        book = self._books.get(sku)
        if book is None:
            return book_checksum((), ())
        asks = [(p, v[0]) for p, v in book.asks.items()[:CHECKSUM_DEPTH]]
        bids = [(-p, v[0]) for p, v in book.bids.items()[:CHECKSUM_DEPTH]]
        return book_checksum(asks, bids)
