"""The feed on the real venue: a client's book equals the venue's after random orders."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from exchange.errors import ExchangeError
from exchange.venue import Venue, VenueConfig
from feeds.client import FeedClient
from feeds.server import FeedServer


@pytest.fixture
async def venue(tmp_path: Path) -> AsyncIterator[Venue]:
    opened = await Venue.open(
        VenueConfig(data_dir=tmp_path / "data", fsync=False, demo_catalog=True, store=False)
    )
    yield opened
    await opened.close()


async def random_orders(venue: Venue, sku: str, n: int, rng: random.Random) -> int:
    """Place ``n`` random limit/market orders and cancels, 50 at a time; returns fills."""
    accounts = []
    for name in ("alice", "bob", "carol"):
        created = await venue.create_account(name)
        accounts.append(venue.authenticate(created["api_key"]))
    fills = 0
    open_orders: list[tuple[Any, int]] = []

    async def one(i: int) -> None:
        nonlocal fills
        account = rng.choice(accounts)
        if open_orders and rng.random() < 0.2:
            owner, order_id = open_orders.pop(rng.randrange(len(open_orders)))
            with contextlib.suppress(ExchangeError):  # filled meanwhile
                await venue.cancel_order(owner, order_id)
            return
        side = rng.choice(["bid", "ask"])
        body: dict[str, Any] = {"sku": sku, "side": side, "quantity": rng.randint(1, 3)}
        if rng.random() < 0.1:
            body |= {"type": "market", "price_cents": 50_000 if side == "bid" else 5_000}
        else:
            mid = 20_000 + rng.randint(-5, 5) * 100
            offset = rng.randint(-3, 12) * 100
            price = mid - offset if side == "bid" else mid + offset
            body |= {"type": "limit", "price_cents": price}
        _, result = await venue.place_order(account, body)
        fills += len(result["fills"])
        if result["order"]["status"] == "open":
            open_orders.append((account, result["order"]["id"]))

    for start in range(0, n, 50):
        await asyncio.gather(*(one(i) for i in range(start, min(n, start + 50))))
    return fills


async def test_client_book_equals_venue_book_after_thousands_of_orders(venue: Venue) -> None:
    sku = venue.skus()[0]
    other = venue.skus()[1]
    trades: list[dict[str, Any]] = []
    async with FeedServer(venue, port=0) as feed, FeedClient(
        f"ws://127.0.0.1:{feed.port}", on_trade=trades.append
    ) as client:
        await client.subscribe(["book", "trades"], [sku, other])
        await client.wait_synced(sku, timeout=2)
        fills = await random_orders(venue, sku, 3000, random.Random(2026))
        assert fills > 100, "the workload must trade"
        final = venue.mirror.sequence(sku)
        await client.wait_synced(sku, final, timeout=10)
        book = client.book(sku)
        assert book is not None
        expected = venue.book(sku)
        assert book.bids() == [(p, q) for p, q, _ in expected["bids"]]
        assert book.asks() == [(p, q) for p, q, _ in expected["asks"]]
        assert book.sequence == expected["sequence"] == final
        assert client.stats.gaps == client.stats.checksum_mismatches == 0
        public = venue.public_trades(sku, limit=100_000)
        await client.wait_for(lambda: len(trades) >= len(public), timeout=2)
        assert sorted(t["id"] for t in trades) == sorted(t["id"] for t in public)
        assert client.stats.trade_gaps == 0
        assert client.synced(other) and client.book(other) is not None


async def test_ticker_on_the_real_venue_starts_from_history(venue: Venue) -> None:
    sku = venue.skus()[2]
    await random_orders(venue, sku, 200, random.Random(9))
    last = venue.public_trades(sku, limit=1)[0]
    ticker = await first_ticker(venue, sku)
    assert ticker["sku"] == sku
    assert ticker["last_sale_cents"] == last["price_cents"]
    bids, asks = venue.book(sku, 1)["bids"], venue.book(sku, 1)["asks"]
    assert ticker["best_bid_cents"] == (bids[0][0] if bids else None)
    assert ticker["best_ask_cents"] == (asks[0][0] if asks else None)
    total = sum(t["quantity"] for t in venue.public_trades(sku, limit=100_000))
    assert ticker["volume_24h"] == total


async def first_ticker(venue: Venue, sku: str) -> dict[str, Any]:
    """The ticker a new feed server sends on subscribe."""
    async with FeedServer(venue, port=0) as feed, FeedClient(
        f"ws://127.0.0.1:{feed.port}"
    ) as client:
        tickers = client.tickers()
        await client.subscribe(["ticker"], [sku])
        ticker: dict[str, Any] = await asyncio.wait_for(anext(tickers), 2)
        return ticker


async def test_ticker_history_includes_trades_that_left_memory(tmp_path: Path) -> None:
    """Delivered trades leave the engine (issue 13); the feed still starts a
    SKU's ticker from them, before and after a restart."""
    cfg = VenueConfig(data_dir=tmp_path / "data", fsync=False, tick_interval=3600)
    venue = await Venue.open(cfg)
    sku = venue.skus()[3]
    try:
        seller = venue.authenticate((await venue.create_account("s"))["api_key"])
        buyer = venue.authenticate((await venue.create_account("b"))["api_key"])
        checker = venue.authenticate(
            (await venue.create_account("c", role="authenticator"))["api_key"]
        )
        assert seller and buyer and checker
        for price in (20_000, 21_000, 22_000):
            ask = {"sku": sku, "side": "ask", "type": "limit", "price_cents": price, "quantity": 2}
            await venue.place_order(seller, ask)
            _, fill = await venue.place_order(buyer, dict(ask, side="bid"))
            tid = fill["fills"][0]["id"]
            await venue.ship(seller, tid)
            await venue.authenticate_trade(checker, tid, True)
        await venue.flush_store()
        assert await venue.evict_if_due()
        assert venue.engine.trade_count() == 3 and venue.engine.trade_row(3) is None
        await _assert_ticker(venue, sku, last_sale=22_000, volume=6)
    finally:
        await venue.close()
    venue = await Venue.open(cfg)
    try:
        await _assert_ticker(venue, sku, last_sale=22_000, volume=6)
    finally:
        await venue.close()


async def _assert_ticker(venue: Venue, sku: str, *, last_sale: int, volume: int) -> None:
    ticker = await first_ticker(venue, sku)
    assert (ticker["last_sale_cents"], ticker["volume_24h"]) == (last_sale, volume)
