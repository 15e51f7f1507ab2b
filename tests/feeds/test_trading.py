"""The Python client of the authenticated session, and ``exchange watch --api-key``."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
from rich.console import Console

from exchange.venue import Venue
from feeds.server import FeedServer
from feeds.trading import AuthError, TradingSession
from feeds.watch import WatchError, run_watch

from .test_venue_feed import venue

__all__ = ["venue"]  # the real venue without a store, as in test_venue_feed


@pytest.fixture
async def feed(venue: Venue) -> AsyncIterator[FeedServer]:
    async with FeedServer(venue, port=0, accounts=venue) as server:
        yield server


def url(feed: FeedServer) -> str:
    return f"ws://127.0.0.1:{feed.port}"


async def test_order_entry_is_awaitable_and_the_open_orders_follow(
    venue: Venue, feed: FeedServer
) -> None:
    sku = venue.skus()[0]
    alice = (await venue.create_account("alice"))["api_key"]
    bob = (await venue.create_account("bob"))["api_key"]
    fills: list[dict[str, Any]] = []
    ledger: list[dict[str, Any]] = []
    bid = {"sku": sku, "side": "bid", "type": "limit", "price_cents": 20_000, "quantity": 2}
    async with TradingSession(url(feed), alice, on_fill=fills.append,
                              on_ledger=ledger.append) as me, \
            TradingSession(url(feed), bob) as other:
        await me.wait_for(lambda: me.synced, timeout=5)
        results = await asyncio.gather(*(me.place(bid) for _ in range(20)))
        assert [r.status for r in results] == [201] * 20
        ids = {r.body["order"]["id"] for r in results}
        await me.wait_for(lambda: set(me.orders) == ids, timeout=5)
        cancel = await me.cancel(min(ids))
        assert cancel.ok and cancel.body["order"]["status"] == "canceled"
        amend = await me.amend(max(ids), quantity=5)
        assert amend.body["order"]["quantity"] == 5
        bad = await me.place({**bid, "price_cents": 20_050})
        assert (bad.status, bad.body["code"]) == (422, "off_tick")
        batch = await other.place_batch([{**bid, "side": "ask", "quantity": 1}] * 3)
        assert batch.status == 200 and len(batch.body["results"]) == 3
        await me.wait_for(lambda: len(fills) == 3, timeout=5)
        assert all(f["trade"]["side"] == "bid" for f in fills)
        assert ledger
        account = venue.authenticate(alice)
        assert account is not None
        expected = {o["id"]: o for o in venue.list_orders(account, "open")}
        await me.wait_for(lambda: me.orders == expected, timeout=5)
        assert me.stats.order_gaps == me.stats.account_gaps == 0
        assert other.orders == {}


async def test_a_gap_resyncs_the_open_orders(venue: Venue, feed: FeedServer) -> None:
    sku = venue.skus()[0]
    key = (await venue.create_account("alice"))["api_key"]
    gaps: list[str] = []
    async with TradingSession(url(feed), key, on_gap=gaps.append) as me:
        await me.wait_for(lambda: me.synced, timeout=5)
        placed = await me.place({"sku": sku, "side": "bid", "type": "limit",
                                 "price_cents": 20_000, "quantity": 1})
        await me.wait_for(lambda: placed.body["order"]["id"] in me.orders, timeout=5)
        # A message that skips one: the session notices and asks for a snapshot.
        me._handle('{"type":"order","channel":"orders","sequence":99,"prev_sequence":98,'
                   '"order":{"id":1,"status":"open"}}')
        assert gaps == ["orders"] and not me.synced
        await me.wait_for(lambda: me.synced, timeout=5)
        assert me.stats.snapshots == 2
        assert list(me.orders) == [placed.body["order"]["id"]]


async def test_a_refused_key_raises(feed: FeedServer) -> None:
    with pytest.raises(AuthError):
        async with TradingSession(url(feed), "nope"):
            pass


async def test_watch_with_a_key_shows_open_orders_and_fills(
    venue: Venue, feed: FeedServer
) -> None:
    sku = venue.skus()[0]
    key = (await venue.create_account("alice"))["api_key"]
    seller = venue.authenticate((await venue.create_account("seller"))["api_key"])
    assert seller is not None
    alice = venue.authenticate(key)
    assert alice is not None
    await venue.place_order(alice, {"sku": sku, "side": "bid", "type": "limit",
                                    "price_cents": 23_400, "quantity": 3})
    console = Console(file=io.StringIO(), width=120)
    watch = asyncio.create_task(run_watch(url(feed), [], console=console, duration=1.5,
                                          api_key=key))
    await asyncio.sleep(0.5)
    await venue.place_order(seller, {"sku": sku, "side": "ask", "type": "limit",
                                     "price_cents": 23_400, "quantity": 1})
    await watch
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "open orders" in text and "$234.00" in text and "1/3" in text
    assert "latest fills" in text and "$5.00" in text  # the buyer's fee
    with pytest.raises(WatchError):
        await run_watch(url(feed), [], console=console, duration=1, api_key="nope")
