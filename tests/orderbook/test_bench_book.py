"""The book benchmark's parts: a deterministic workload, and a runnable bench."""

from __future__ import annotations

import json

import pytest

import orderbook
from bench.__main__ import main as bench_main
from bench.bare import BareBook, BareCommandBook, run_bare
from bench.book import build_commands, run
from bench.workload import CANCEL, LIMIT, MARKET, generate
from orderbook import CancelOrder, Fill, OrderBook


def test_workload_is_deterministic_and_shaped_like_the_market() -> None:
    a = generate(5_000, seed=7)
    b = generate(5_000, seed=7)
    assert a.events == b.events
    assert generate(5_000, seed=8).events != a.events
    mix = a.mix()
    assert abs(mix["cancel"] / 5_000 - 0.25) < 0.03
    assert abs(mix["market"] / 5_000 - 0.075) < 0.02
    for kind, sku, order_id, _owner, side, price, qty, _exp, _now in a.events:
        assert 0 <= sku < a.n_skus and order_id > 0
        if kind != CANCEL:
            assert kind in (LIMIT, MARKET) and side in ("bid", "ask")
            assert isinstance(price, int) and price % 100 == 0 and qty >= 1


def test_cancels_name_orders_that_are_live() -> None:
    workload = generate(5_000, seed=3)
    books = [BareBook() for _ in range(workload.n_skus)]
    for kind, sku, order_id, _owner, side, price, qty, _exp, _now in workload.events:
        book = books[sku]
        if kind == CANCEL:
            assert book.cancel(order_id), order_id
        else:
            assert price is not None
            book.place(order_id, side == "bid", price, qty, kind == LIMIT)


def test_book_and_bare_loop_trade_about_the_same() -> None:
    workload = generate(5_000, seed=5)
    books = [OrderBook(f"S{i}") for i in range(workload.n_skus)]
    traded = 0
    for sku, cmd in build_commands(workload.events):
        for event in books[sku].handle(cmd):
            if type(event) is Fill:
                traded += event.quantity
    bare = run_bare(workload.events, workload.n_skus)
    # Only self-trade prevention (rare with 5,000 owners) tells them apart.
    assert bare > 0 and abs(traded - bare) <= bare * 0.01


def test_bare_command_book_is_the_inline_loop_as_methods() -> None:
    workload = generate(5_000, seed=11)
    books = [BareCommandBook() for _ in range(workload.n_skus)]
    traded = 0
    for sku, cmd in build_commands(workload.events):
        book = books[sku]
        traded += book.cancel(cmd) if type(cmd) is CancelOrder else book.place(cmd)
    assert traded > 0 and traded == run_bare(workload.events, workload.n_skus)


def test_run_reports_the_ratio_first(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_main(["book", "--events", "3000", "--repeats", "1"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    result = json.loads(first)
    assert next(iter(result)) == "book_vs_bare_ratio"
    assert set(result) >= {
        "book_vs_bare_ratio",
        "book_vs_inline_loop_ratio",
        "events_per_s",
        "bare_events_per_s",
        "inline_loop_events_per_s",
        "p50_us",
        "p99_us",
        "p999_us",
        "compiled",
        "pure_book_vs_bare_ratio",
    }
    assert result["book_vs_bare_ratio"] > 0 and result["book_vs_inline_loop_ratio"] > 0
    # Compiled, the book is also measured as Python in a child process.
    assert result["compiled"] is orderbook.COMPILED
    assert (result["pure_book_vs_bare_ratio"] is not None) is orderbook.COMPILED
    assert result["events"] == 3000
    assert result["bare_traded_quantity"] == result["inline_loop_traded_quantity"]
    assert run(2_000, repeats=1, pure=False)["events"] == 2_000
