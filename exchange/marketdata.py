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

:class:`Sequencer` is the engine's side: it numbers a command's market data
and builds its events; its :class:`ChecksumMirror` keeps each book's
checksum (:func:`orderbook.checksum.book_checksum`'s value) up to date from
the level changes.
"""

from __future__ import annotations

import zlib
from bisect import bisect_left
from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple, Protocol

from sortedcontainers import SortedDict

from orderbook.checksum import CHECKSUM_DEPTH, book_checksum

if TYPE_CHECKING:
    from .orders import Folded
    from .outcome import Outcome

__all__ = [
    "BookSnapshot",
    "BookUpdate",
    "ChecksumMirror",
    "L2Mirror",
    "MarketDataEvent",
    "Sequencer",
    "TopLevels",
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
        if not isinstance(event, BookUpdate):  # trades channel: TradePrint, TradeCanceled
            book.trade_sequence = event.sequence
            return
        book.book_sequence = event.sequence
        for side, price, qty in event.changes:
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


# ------------------------------------------------------------------ the engine's side


_MIRROR_DEPTH = 2 * CHECKSUM_DEPTH
"""Levels a side's :class:`TopLevels` reads from the book when (re)filled."""
_MIRROR_MAX = 4 * CHECKSUM_DEPTH
"""A mirror grown beyond this is cut back to :data:`_MIRROR_DEPTH` levels."""


class TopLevels:
    """One side's best levels, mirrored so the checksum needs no book read.

    Invariant: ``keys`` (ascending; the price for asks, minus the price for
    bids) holds exactly the book's live levels of that side whose key is at
    most ``keys[-1]``, and all of them when ``complete``; ``texts`` holds
    each level's text in the checksum string (``price:quantity``), best
    first; ``part`` is the side's part of that string as of the last
    :meth:`rejoin`.
    """

    __slots__ = ("complete", "keys", "part", "sign", "texts")

    def __init__(self, levels: list[tuple[int, int, int]], sign: int) -> None:
        self.sign = sign
        self.keys: list[int] = []
        self.texts: list[str] = []
        self.complete = True
        self.part = ""
        self.rejoin(levels)

    def change(self, key: int, price: int, qty: int) -> bool:
        """Apply a level's new total ``qty`` (0: gone); True when it is in the top 10."""
        keys = self.keys
        i = bisect_left(keys, key)
        if i < len(keys) and keys[i] == key:
            if qty:
                self.texts[i] = f"{price}:{qty}"
            else:
                del keys[i]
                del self.texts[i]
        elif qty and (i < len(keys) or self.complete):
            keys.insert(i, key)
            self.texts.insert(i, f"{price}:{qty}")
        else:
            # Beyond the mirror's last level (or a removal of one): not mirrored.
            return False
        return i < CHECKSUM_DEPTH

    def short(self) -> bool:
        """Whether the book may hold top-10 levels the mirror lacks."""
        return not self.complete and len(self.keys) < CHECKSUM_DEPTH

    def rejoin(self, levels: list[tuple[int, int, int]] | None) -> None:
        """Rebuild ``part``; first refill from ``levels`` (best first) when given."""
        if levels is not None:
            sign = self.sign
            self.keys = [sign * p for p, _, _ in levels]
            self.texts = [f"{p}:{q}" for p, q, _ in levels]
            self.complete = len(levels) < _MIRROR_DEPTH
        self.part = ",".join(self.texts[:CHECKSUM_DEPTH])

    def trim(self) -> None:
        """Forget the levels beyond the first :data:`_MIRROR_DEPTH`."""
        del self.keys[_MIRROR_DEPTH:]
        del self.texts[_MIRROR_DEPTH:]
        self.complete = False


class _BookDepth(Protocol):
    def depth(
        self, n: int | None = None
    ) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]: ...


class ChecksumMirror:
    """A book's checksum after each command, kept up to date from its level changes.

    The value is :func:`book_checksum`'s, computed incrementally: each side
    keeps a :class:`TopLevels` mirror of its best levels, updated from the
    command's level changes (each carries the level's new total), so the
    book's ladder is read only when a side's mirror runs short of
    :data:`CHECKSUM_DEPTH` levels, and a side's part of the checksummed
    string is rejoined only when a change lands among its top 10.

    Why not call :func:`book_checksum` on the mirrored levels: it formats all
    20 levels on every call, which costs about a quarter of the engine's
    throughput (measured: ~30,000 more instructions per command, against
    ~128,000 for the whole command); here only the changed level is
    formatted. ``tests/exchange/test_marketdata.py`` checks the two agree
    after every change of a random book.
    """

    __slots__ = ("asks", "bids", "checksum")

    def __init__(self, book: _BookDepth) -> None:
        bids, asks = book.depth(_MIRROR_DEPTH)
        self.asks = TopLevels(asks, 1)
        self.bids = TopLevels(bids, -1)
        self.checksum = self._crc()

    def _crc(self) -> int:
        # The string of orderbook.checksum: "ASKS|BIDS", levels "price:qty" joined by ",".
        return zlib.crc32(f"{self.asks.part}|{self.bids.part}".encode("ascii"))

    def update(self, book: _BookDepth, changes: Iterable[tuple[str, int, int]]) -> int:
        """Apply ``changes`` (``(side, price, new_qty)``) and return the checksum."""
        asks, bids = self.asks, self.bids
        ask_dirty = bid_dirty = False
        for side, price, qty in changes:
            if side == "ask":
                if asks.change(price, price, qty):
                    ask_dirty = True
            elif bids.change(-price, price, qty):
                bid_dirty = True
        if ask_dirty or bid_dirty:
            refill = (ask_dirty and asks.short()) or (bid_dirty and bids.short())
            levels = book.depth(_MIRROR_DEPTH) if refill else None
            if ask_dirty:
                asks.rejoin(None if levels is None else levels[1])
            if bid_dirty:
                bids.rejoin(None if levels is None else levels[0])
            # The string of orderbook.checksum: "ASKS|BIDS".
            self.checksum = zlib.crc32(f"{asks.part}|{bids.part}".encode("ascii"))
        if len(asks.keys) > _MIRROR_MAX:
            asks.trim()
        if len(bids.keys) > _MIRROR_MAX:
            bids.trim()
        return self.checksum


class Sequencer:
    """The engine's market-data numbering and the events it publishes.

    Keeps per SKU ``[sequence, book channel sequence, trade channel
    sequence]`` (in the engine's snapshot) and a :class:`ChecksumMirror`
    (derived). While not ``live`` (replaying a journal) it builds no events
    and no checksums; the sequences advance exactly as live.
    """

    def __init__(self) -> None:
        self.sequences: dict[str, list[int]] = {}
        self._mirrors: dict[str, ChecksumMirror] = {}

    def publish(self, sku: str, book: _BookDepth, done: Folded, out: Outcome) -> None:
        """One book command's market data: its trades in match order, then one book batch.

        ``done`` is what :meth:`exchange.orders.Orders.fold` found.
        """
        trades, changes, counts = done.trades, done.changes, done.counts
        md = self.sequences.get(sku)
        if md is None:
            md = self.sequences[sku] = [0, 0, 0]
        if not out.live:
            if trades:
                md[0] += len(trades)
                md[2] = md[0]
            if done.levels_changed:
                md[0] += 1
                md[1] = md[0]
                self._mirrors.pop(sku, None)
            return
        ts = out.ts
        for t in trades:
            md[0] += 1
            out.md.append(
                TradePrint(sku, md[0], md[2], t.id, t.price_cents, t.quantity, t.taker_side, ts)
            )
            out.md_orders.append(None)
            md[2] = md[0]
        if changes:
            md[0] += 1
            mirror = self._mirrors.get(sku)
            if mirror is None:
                mirror = self._mirrors[sku] = ChecksumMirror(book)
                checksum = mirror.checksum
            else:
                checksum = mirror.update(book, changes)
            out.md.append(BookUpdate(sku, md[0], md[1], tuple(changes), checksum, ts))
            out.md_orders.append(counts)
            md[1] = md[0]

    def trade_canceled(
        self, sku: str, trade_id: int, price: int, qty: int, ts: int, out: Outcome, live: bool
    ) -> None:
        """A printed trade is no longer a sale: the next event on the trades channel."""
        md = self.sequences.get(sku)
        if md is None:
            md = self.sequences[sku] = [0, 0, 0]
        md[0] += 1
        if live:  # a replay builds no events, but its sequences advance alike
            out.md.append(TradeCanceled(sku, md[0], md[2], trade_id, price, qty, ts))
            out.md_orders.append(None)
        md[2] = md[0]

    def of(self, sku: str) -> tuple[int, int, int]:
        """``(sequence, book channel sequence, trade channel sequence)`` of a SKU."""
        md = self.sequences.get(sku)
        return (md[0], md[1], md[2]) if md else (0, 0, 0)

    def to_snapshot(self) -> dict[str, list[int]]:
        """The snapshot's ``md`` part."""
        return {sku: self.sequences[sku] for sku in sorted(self.sequences)}

    @classmethod
    def from_snapshot(cls, data: dict[str, list[int]]) -> Sequencer:
        """Inverse of :meth:`to_snapshot`."""
        seq = cls()
        seq.sequences = {sku: list(v) for sku, v in data.items()}
        return seq
