"""The terminal watcher draws ticker, book and trades from a live feed."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Iterator

import pytest
from rich.console import Console

from api import cli
from feeds.server import FeedServer
from feeds.watch import WatchError, WatchState, money, render, run_watch

from .conftest import url
from .fakes import FakeVenue


def test_money_uses_integer_cents() -> None:
    assert money(123456) == "$1,234.56"
    assert money(-5) == "-$0.05"
    assert money(None) == "—"
    # Above 2**53 a float has no exact cent: float math would print ...92.00.
    assert 2**53 + 1 == 9_007_199_254_740_993
    assert money(2**53 + 1) == "$90,071,992,547,409.93"
    assert money(-(2**53 + 1)) == "-$90,071,992,547,409.93"


def test_render_shows_book_ticker_and_trades() -> None:
    state = WatchState(["AAA-10"])
    state.on_ticker({"sku": "AAA-10", "best_bid_cents": 10000, "best_ask_cents": 10500,
                     "last_sale_cents": 10200, "change_24h_pct": -1.5, "volume_24h": 4})
    state.on_trade({"sku": "AAA-10", "id": 1, "price_cents": 10200, "quantity": 2,
                    "taker_side": "ask",
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


async def test_run_watch_shows_the_latest_trades_at_once(
    venue: FakeVenue, server: FeedServer, rest: str
) -> None:
    for i in range(12):  # more than the view keeps
        venue.trade("AAA-10", 10_000 + 100 * i, 1 + i)
    # A terminal, so that every refresh is drawn (not only the last).
    console = Console(file=io.StringIO(), width=100, force_terminal=True, color_system=None)
    task = asyncio.create_task(run_watch(url(server), ["AAA-10"], api_url=rest,
                                         console=console, duration=30))
    try:
        async with asyncio.timeout(10):
            while "$111.00" not in console.file.getvalue():  # type: ignore[attr-defined]
                await asyncio.sleep(0.05)
        venue.trade("AAA-10", 12_300, 99)  # live, after the history
        async with asyncio.timeout(10):
            while "$123.00" not in console.file.getvalue():  # type: ignore[attr-defined]
                await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    last = console.file.getvalue().rsplit("latest trades", 1)[1]  # type: ignore[attr-defined]
    prices = [p for p in (f"${100 + i}.00" for i in range(12)) if p in last]
    # The newest first, each once: the live one, then the 7 newest of history.
    assert prices == [f"${100 + i}.00" for i in range(5, 12)]
    assert last.index("$123.00") < last.index("$111.00") < last.index("$105.00")


def test_a_trade_is_shown_once_however_it_arrives() -> None:
    state = WatchState(["AAA-10"])
    trade = {"sku": "AAA-10", "id": 5, "price_cents": 100, "quantity": 1}
    state.on_trade(trade)
    state.add_trades("AAA-10", [{**trade, "filled": True}, {**trade, "id": 4}])
    assert [t["id"] for t in state.views["AAA-10"].trades] == [5, 4]


async def test_run_watch_raises_on_an_unknown_sku(server: FeedServer) -> None:
    # The server refuses the whole request: the view would say "resyncing…"
    # forever.
    console = Console(file=io.StringIO(), width=100)
    with pytest.raises(WatchError, match="unknown_sku"):
        await asyncio.wait_for(run_watch(url(server), ["AAA-10", "NOPE"], console=console), 10)


def test_only_refusals_of_the_request_are_fatal() -> None:
    state = WatchState(["AAA-10"])
    state.on_error({"code": "rate_limited", "message": "slow down"})
    assert state.fatal is None
    state.on_error({"code": "unknown_sku", "message": "unknown SKU 'NOPE'"})
    assert state.fatal == "unknown_sku: unknown SKU 'NOPE'"


@pytest.fixture
def feed_in_thread() -> Iterator[str]:
    """A FeedServer on a fake venue, served by its own loop in a thread."""
    loop = asyncio.new_event_loop()
    server = FeedServer(FakeVenue(), port=0)
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield url(server)
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_cli_watch_unknown_sku_exits_1_with_one_line(
    feed_in_thread: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["watch", "NOPE", "--url", feed_in_thread, "--duration", "20"])
    assert code == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert err == ["exchange: error: the feed refused: unknown_sku: unknown SKU 'NOPE'"]
