"""``exchange watch`` stops with a clear error when the feed refuses its SKUs.

Regression: ``exchange watch NOPE`` (or ``watch GOOD NOPE``: the server
refuses the whole request) drew "resyncing…" forever and exited 0.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Iterator

import pytest
from rich.console import Console

from api import cli
from feeds.server import FeedServer
from feeds.watch import WatchError, WatchState, run_watch

from .conftest import url
from .fakes import FakeVenue


async def test_run_watch_raises_on_an_unknown_sku(server: FeedServer) -> None:
    console = Console(file=io.StringIO(), width=100)
    with pytest.raises(WatchError, match="unknown_sku"):
        # No duration: before the fix this never returned.
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
