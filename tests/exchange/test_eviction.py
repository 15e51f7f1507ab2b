"""Retirements (final rows in journal order) and IdIndex (paged id lists)."""

from __future__ import annotations

import random

from exchange.eviction import LEDGER, ORDER, TRADE, IdIndex, Retirements


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
