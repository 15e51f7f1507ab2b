"""The terminal watcher draws ticker, book and trades from a live feed."""

from __future__ import annotations

import io

from rich.console import Console

from feeds.server import FeedServer
from feeds.watch import WatchState, money, render, run_watch

from .conftest import url
from .fakes import FakeVenue


def test_money_uses_integer_cents() -> None:
    assert money(123456) == "$1,234.56"
    assert money(-5) == "-$0.05"
    assert money(None) == "—"


def test_render_shows_book_ticker_and_trades() -> None:
    state = WatchState(["AAA-10"])
    state.on_ticker({"sku": "AAA-10", "best_bid_cents": 10000, "best_ask_cents": 10500,
                     "last_sale_cents": 10200, "change_24h_pct": -1.5, "volume_24h": 4})
    state.on_trade({"sku": "AAA-10", "price_cents": 10200, "quantity": 2, "taker_side": "ask",
                    "time": "2026-11-25T15:44:22.123Z"})
    state.on_error({"code": "unknown_sku", "message": "unknown SKU 'X'"})
    console = Console(file=io.StringIO(), width=100)
    console.print(render(state))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    for expected in ("AAA-10", "$100.00", "$105.00", "$102.00", "-1.50%", "15:44:22.123",
                     "sell", "unknown_sku"):
        assert expected in text


async def test_run_watch_against_a_live_feed(venue: FakeVenue, server: FeedServer) -> None:
    venue.set_levels("AAA-10", ("bid", 10000, 3), ("ask", 10500, 2))
    venue.trade("AAA-10", 10200, 1)
    console = Console(file=io.StringIO(), width=100)
    await run_watch(url(server), ["AAA-10"], console=console, duration=1.0)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    # Book levels from the snapshot, the last sale from the ticker.
    assert "$100.00" in text and "$105.00" in text and "$102.00" in text
    assert "connected" in text
