"""Retirements (final rows in journal order) and IdIndex (paged id lists)."""

from __future__ import annotations

import random

import pytest

from exchange.commands import AuthenticateTrade, Evict, MarkShipped, PlaceOrder, decode_record
from exchange.engine import Engine
from exchange.errors import ExchangeError
from exchange.eviction import LEDGER, ORDER, TRADE, IdIndex, Retirements

from .conftest import SKU, Driver


def test_retirements_pop_up_to_the_watermark_in_order_and_round_trip() -> None:
    r = Retirements()
    assert r.oldest_seq() is None
    r.add(3, ORDER, 10)
    r.add(3, TRADE, 1)
    r.add(5, LEDGER, 7)
    r.add(9, ORDER, 4)
    assert r.oldest_seq() == 3
    assert list(r.due(2)) == []
    assert list(r.due(5)) == [(ORDER, 10), (TRADE, 1), (LEDGER, 7)]
    assert len(r) == 1 and r.oldest_seq() == 9
    again = Retirements(r.to_snapshot())
    assert again.to_snapshot() == [[9, ORDER, 4]]
    assert list(again.due(100)) == [(ORDER, 4)] and len(again) == 0


def test_id_index_pages_newest_first_and_skips_removed_ids() -> None:
    held: set[int] = set()
    index = IdIndex(held.__contains__)
    for i in range(1, 101):
        held.add(i)
        index.add("a", i)
    index.add("b", 200)
    held.add(200)
    assert index.page("a", None, 3) == [100, 99, 98]
    assert index.page("a", 50, 3) == [49, 48, 47]
    assert index.page("a", 2, 10) == [1]
    assert index.page("a", None, 2, want=lambda i: i % 10 == 0) == [100, 90]
    assert index.page("nobody", None, 5) == []
    rng = random.Random(7)
    gone = rng.sample(range(1, 101), 80)  # enough to compact the list
    for i in gone:
        held.discard(i)
        index.remove("a", i)
    left = sorted(held - {200}, reverse=True)
    assert list(index.ids("a")) == sorted(left)
    assert index.size() < 100 + 1  # compacted at least once
    # Paging through returns each live id once, in order.
    seen: list[int] = []
    before = None
    while page := index.page("a", before, 3):
        seen.extend(page)
        before = page[-1]
    assert seen == left
    for i in left:
        held.discard(i)
        index.remove("a", i)
    assert index.page("a", None, 5) == [] and list(index.keys()) == ["b"]


# ---------------------------------------------------------------- the engine


def _replayed(driver: Driver) -> Engine:
    fresh = Engine()
    for seq, payload in driver.journal:
        ts, cmd = decode_record(payload)
        fresh.validate(cmd, ts)
        fresh.apply(seq, ts, cmd)
    return fresh


def _history(
    driver: Driver, seller: str, buyer: str, checker: str, n: int, key: str = "s"
) -> list[int]:
    """n sales, each shipped and delivered; returns the sellers' order ids."""
    ids = []
    for i in range(n):
        out = driver.place(seller, "ask", 20_000 + 100 * i, client_order_id=f"{key}{i}")
        ids.append(driver.order_id(out))
        fill = driver.place(buyer, "bid", 20_000 + 100 * i)
        tid = fill.response["fills"][0]["id"] if fill.response else 0
        driver.run(MarkShipped(seller, tid))
        driver.run(AuthenticateTrade(checker, tid, True))
    return ids


def test_evict_drops_final_history_at_the_watermark_and_replays_identically(
    driver: Driver,
) -> None:
    seller, buyer = driver.account("seller"), driver.account("buyer")
    checker = driver.account("checker", role="authenticator")
    resting = driver.order_id(driver.place(seller, "ask", 90_000, client_order_id="rest"))
    sold = _history(driver, seller, buyer, checker, 20)
    engine = driver.engine
    mark = engine.last_seq
    later = _history(driver, seller, buyer, checker, 3, key="t")
    before_bytes = len(engine.snapshot_bytes())
    assert engine.oldest_final_seq() is not None and engine.oldest_final_seq() <= mark
    with pytest.raises(ExchangeError):
        driver.run(Evict(engine.last_seq + 5))
    out = driver.run(Evict(mark))
    assert out.response is not None and out.response["evicted"] > 60
    assert engine.evicted_seq == mark
    assert all(engine.order_row(i) is None for i in sold)
    assert all(engine.order_row(i) is not None for i in later)
    assert engine.order_row(resting) is not None  # open orders stay
    assert engine.trade_row(1) is None and engine.trade_count() == 23
    assert engine.has_evicted_keys(seller) and not engine.has_evicted_keys(buyer)
    assert len(engine.snapshot_bytes()) < before_bytes / 2
    with pytest.raises(ExchangeError):
        driver.run(Evict(mark))  # not after the last eviction
    # The orders listed are those held, newest first.
    rows = engine.order_registry.page(seller, None, 100, None, None)
    assert [r.id for r in rows] == sorted([*later, resting], reverse=True)
    # A replay evicts the same at the same seq: equal bytes; so does a restore.
    assert _replayed(driver).snapshot_bytes() == engine.snapshot_bytes()
    restored = Engine.restore_bytes(engine.snapshot_bytes())
    assert restored.snapshot_bytes() == engine.snapshot_bytes()
    # The evicted key is no longer in the engine's window (the venue asks the store).
    repeat = PlaceOrder(seller, "s0", SKU, "ask", "limit", 20_000, 1)
    assert engine.idempotent_replay(repeat, driver.ts) is None
    kept = PlaceOrder(seller, "t1", SKU, "ask", "limit", 20_100, 1)
    answer = engine.idempotent_replay(kept, driver.ts)
    assert answer is not None and answer["order"]["status"] == "filled"
