"""Market data: the events, the released L2 mirror, the engine's sequencer and checksums."""

from __future__ import annotations

import random

from exchange.marketdata import (
    BookUpdate,
    ChecksumMirror,
    L2Mirror,
    Sequencer,
    TopLevels,
    TradeCanceled,
    TradePrint,
)
from exchange.orders import Folded
from exchange.outcome import Outcome
from exchange.trades import TradeRecord
from orderbook.checksum import CHECKSUM_DEPTH, book_checksum

SKU = "DZ5485-612-10"
T0 = 1_767_225_600_000_000_000


class FakeBook:
    """Levels as a dict per side, with ``OrderBook.depth``'s answer shape."""

    def __init__(self) -> None:
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.depth_reads = 0

    def set(self, side: str, price: int, qty: int) -> tuple[str, int, int]:
        levels = self.bids if side == "bid" else self.asks
        if qty:
            levels[price] = qty
        else:
            levels.pop(price, None)
        return (side, price, qty)

    def depth(
        self, n: int | None = None
    ) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
        self.depth_reads += 1
        bids = [(p, q, 1) for p, q in sorted(self.bids.items(), reverse=True)][:n]
        asks = [(p, q, 1) for p, q in sorted(self.asks.items())][:n]
        return bids, asks

    def checksum(self) -> int:
        bids, asks = self.depth(CHECKSUM_DEPTH)
        self.depth_reads -= 1
        return book_checksum(asks, bids)


# ------------------------------------------------------------------ L2 mirror


def test_mirror_counts_trade_canceled_on_the_trades_channel() -> None:
    mirror = L2Mirror()
    mirror.apply(TradePrint(SKU, 1, 0, 1, 20_000, 1, "bid", T0))
    mirror.apply(BookUpdate(SKU, 2, 0, (("ask", 20_100, 1),), 0, T0))
    mirror.apply(TradeCanceled(SKU, 3, 1, 1, 20_000, 1, T0 + 1))
    assert mirror.sequence(SKU) == 3
    assert mirror.channel_sequences(SKU) == (2, 3)
    assert mirror.best(SKU) == (None, 20_100)


def test_mirror_levels_counts_and_checksum() -> None:
    mirror = L2Mirror()
    changes = (("bid", 19_900, 2), ("bid", 19_800, 1), ("ask", 20_100, 3))
    mirror.apply(BookUpdate(SKU, 1, 0, changes, 0, T0), {("bid", 19_900): 2})
    snap = mirror.snapshot(SKU)
    assert snap.bids == [(19_900, 2, 2), (19_800, 1, 0)]
    assert snap.asks == [(20_100, 3, 0)]
    assert snap.checksum == book_checksum([(20_100, 3)], [(19_900, 2), (19_800, 1)])
    mirror.apply(BookUpdate(SKU, 2, 1, (("bid", 19_900, 0),), 0, T0))
    assert mirror.best(SKU) == (19_800, 20_100)
    assert mirror.snapshot(SKU, depth=0).bids == []
    assert mirror.sequence("NOPE") == 0 and mirror.best("NOPE") == (None, None)
    assert mirror.checksum("NOPE") == book_checksum([], [])


# ------------------------------------------------------------- checksum mirror


def test_top_levels_reports_whether_a_change_is_in_the_top_ten() -> None:
    side = TopLevels([(100 * i, 1, 1) for i in range(1, 13)], 1)
    assert side.complete
    assert side.change(100, 100, 5)  # best level
    assert not side.change(1_200, 1_200, 2)  # 12th level
    assert side.change(50, 50, 1)  # a new best
    assert side.keys[:2] == [50, 100] and side.texts[:2] == ["50:1", "100:5"]
    assert side.change(50, 50, 0)  # removed again
    assert side.keys[0] == 100


def test_checksum_mirror_equals_the_rule_after_every_change() -> None:
    rng = random.Random(5)
    book = FakeBook()
    for i in range(15):
        book.set("bid", 19_000 - 100 * i, 1)
        book.set("ask", 20_000 + 100 * i, 1)
    mirror = ChecksumMirror(book)
    assert mirror.checksum == book.checksum()
    for _ in range(4000):
        changes = []
        for _ in range(rng.randrange(1, 4)):
            side = rng.choice(["bid", "ask"])
            base = 19_000 if side == "bid" else 20_000
            step = -100 if side == "bid" else 100
            price = base + step * rng.randrange(0, 60)
            qty = rng.choice([0, 0, 1, 2, 5])
            changes.append(book.set(side, price, qty))
        assert mirror.update(book, changes) == book.checksum()


def test_checksum_mirror_reads_the_book_only_when_a_side_runs_short() -> None:
    book = FakeBook()
    for i in range(50):
        book.set("ask", 20_000 + 100 * i, 1)
    mirror = ChecksumMirror(book)
    reads = book.depth_reads
    # Changes deep in the book and at its top need no read.
    mirror.update(book, [book.set("ask", 24_000, 3)])
    mirror.update(book, [book.set("ask", 20_000, 2)])
    assert book.depth_reads == reads
    # Taking out the top levels until fewer than 10 are mirrored: one refill.
    for i in range(12):
        assert mirror.update(book, [book.set("ask", 20_000 + 100 * i, 0)]) == book.checksum()
    assert book.depth_reads == reads + 1


# ------------------------------------------------------------------ sequencer


def _trade(tid: int, price: int = 20_000, qty: int = 1) -> TradeRecord:
    return TradeRecord(
        tid, SKU, "STYLE", price, qty, "bid", 1, 2, "acc_1", "acc_2", T0, "awaiting_shipment",
        T0, 1, 0, 0, 0, 0, 0, 0, T0,
    )  # fmt: skip


def test_sequencer_numbers_trades_then_one_book_batch() -> None:
    book = FakeBook()
    seq = Sequencer()
    out = Outcome(1, T0)
    changes = [book.set("ask", 20_000, 0), book.set("bid", 19_900, 1)]
    counts = {("ask", 20_000): 0, ("bid", 19_900): 1}
    seq.publish(SKU, book, Folded([_trade(1), _trade(2)], changes, counts, True), out)
    p1, p2, upd = out.md
    assert p1 == TradePrint(SKU, 1, 0, 1, 20_000, 1, "bid", T0)
    assert p2 == TradePrint(SKU, 2, 1, 2, 20_000, 1, "bid", T0)
    assert isinstance(upd, BookUpdate)
    assert (upd.sequence, upd.prev_sequence, upd.changes) == (3, 0, tuple(changes))
    assert upd.checksum == book.checksum()
    assert out.md_orders == [None, None, counts]
    assert seq.of(SKU) == (3, 3, 2)
    # A cancel of a printed trade goes on the trades channel.
    later = Outcome(2, T0 + 1)
    seq.trade_canceled(SKU, 1, 20_000, 1, T0 + 1, later, True)
    assert later.md == [TradeCanceled(SKU, 4, 2, 1, 20_000, 1, T0 + 1)]
    assert seq.of(SKU) == (4, 3, 4)
    assert seq.of("NOPE") == (0, 0, 0)


def test_sequencer_replay_builds_nothing_and_numbers_alike() -> None:
    book = FakeBook()
    live, replay = Sequencer(), Sequencer()
    for i in range(1, 30):
        trades = [_trade(i)] if i % 3 == 0 else []
        change = book.set("bid", 19_000 + 100 * (i % 7), i % 4)
        out = Outcome(i, T0 + i)
        live.publish(SKU, book, Folded(trades, [change], {}, True), out)
        quiet = Outcome(i, T0 + i, live=False)
        replay.publish(SKU, book, Folded(trades, [], {}, True), quiet)
        if i % 5 == 0:
            live.trade_canceled(SKU, i, 1, 1, T0, out, True)
            replay.trade_canceled(SKU, i, 1, 1, T0, quiet, False)
        assert quiet.md == [] and quiet.md_orders == []
        assert replay.of(SKU) == live.of(SKU)
    assert Sequencer.from_snapshot(live.to_snapshot()).to_snapshot() == live.to_snapshot()
