"""The feed's connection caps: per client address and in total, refused with 1013."""

from __future__ import annotations

import asyncio
import logging

import pytest
from websockets.exceptions import ConnectionClosed

from feeds.metrics import FEED_CONNECTIONS_REFUSED
from feeds.server import FeedServer

from .conftest import open_client, recv
from .fakes import FakeVenue


def _refused(limit: str) -> float:
    return FEED_CONNECTIONS_REFUSED.labels(limit)._value.get()  # type: ignore[no-any-return]


async def _refusal(feed: FeedServer) -> tuple[int, str]:
    ws = await open_client(feed)
    with pytest.raises(ConnectionClosed) as closed:
        await recv(ws, timeout=5.0)
    rcvd = closed.value.rcvd
    assert rcvd is not None
    return rcvd.code, rcvd.reason


async def test_connections_beyond_the_per_address_cap_are_closed_with_1013(
    venue: FakeVenue, caplog: pytest.LogCaptureFixture
) -> None:
    before = _refused("max_connections_per_address")
    async with FeedServer(venue, port=0, max_connections_per_address=2) as feed:
        held = [await open_client(feed) for _ in range(2)]
        for ws in held:  # a heartbeat each: both are admitted and served
            assert (await recv(ws))["type"] == "heartbeat"
        with caplog.at_level(logging.WARNING, logger="feeds.server"):
            code, reason = await _refusal(feed)
            await _refusal(feed)
        assert code == 1013
        assert reason == "too many connections from your address (limit 2)"
        assert len([r for r in caplog.records if "refused a feed" in r.getMessage()]) == 1
        # One leaves, another may come in.
        await held[0].close()
        deadline = asyncio.get_running_loop().time() + 10
        while feed.connections != 1:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.01)  # the server sees the close on its own time
        again = await open_client(feed)
        assert (await recv(again))["type"] == "heartbeat"
        await again.close()
        await held[1].close()
    assert _refused("max_connections_per_address") == before + 2


async def test_connections_beyond_the_total_cap_are_closed_with_1013(venue: FakeVenue) -> None:
    async with FeedServer(venue, port=0, max_connections=1) as feed:
        first = await open_client(feed)
        assert (await recv(first))["type"] == "heartbeat"
        code, reason = await _refusal(feed)
        await first.close()
    assert code == 1013
    assert "limit of 1 connections" in reason
