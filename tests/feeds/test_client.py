"""FeedClient against a real FeedServer: verified books, healed gaps, reconnects."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from websockets.exceptions import InvalidURI

from feeds.client import FeedClient, LocalBook
from feeds.server import FeedServer

from .conftest import url
from .fakes import FakeVenue

SKU = "AAA-10"


def random_changes(rng: random.Random) -> list[tuple[str, int, int]]:
    changes = {}
    for _ in range(rng.randint(1, 4)):
        side = rng.choice(["bid", "ask"])
        price = (rng.randint(50, 99) if side == "bid" else rng.randint(100, 150)) * 100
        changes[(side, price)] = rng.choice([0, 0, 1, 2, 3, 5, 8])
    return [(side, price, qty) for (side, price), qty in sorted(changes.items())]


def drive(venue: FakeVenue, rng: random.Random, n: int) -> int:
    """Publish ``n`` random events (book batches and trades); returns the last sequence."""
    last = 0
    for _ in range(n):
        if rng.random() < 0.2:
            event: Any = venue.trade_print(SKU, rng.randint(90, 110) * 100, rng.randint(1, 3))
        else:
            event = venue.book_update(SKU, random_changes(rng))
        venue.publish([event])
        last = event.sequence
    return last


def assert_same_book(book: LocalBook | None, venue: FakeVenue) -> None:
    assert book is not None
    bids, asks = venue.book_levels(SKU)
    assert book.bids() == bids
    assert book.asks() == asks


async def test_local_book_follows_thousands_of_updates(
    venue: FakeVenue, server: FeedServer
) -> None:
    rng = random.Random(5)
    drive(venue, rng, 200)  # the snapshot starts from a non-empty book
    trades: list[dict[str, Any]] = []
    async with FeedClient(url(server), on_trade=trades.append) as client:
        await client.subscribe(["book", "trades"], [SKU])
        await client.wait_synced(SKU, timeout=2)
        for _ in range(10):
            last = drive(venue, rng, 300)
            await asyncio.sleep(0)  # let deltas interleave with publishing
        await client.wait_synced(SKU, last, timeout=5)
        assert_same_book(client.book(SKU), venue)
        assert client.stats.gaps == client.stats.checksum_mismatches == 0
        assert client.stats.book_updates > 2000
        assert client.stats.trade_gaps == 0 and trades
        assert [t["id"] for t in trades] == sorted(t["id"] for t in trades)


async def test_a_dropped_message_is_detected_and_healed(
    venue: FakeVenue, server: FeedServer
) -> None:
    seen = 0

    def drop_one(message: dict[str, Any]) -> bool:
        nonlocal seen
        if message["type"] == "book":
            seen += 1
            return seen == 50
        return False

    rng = random.Random(7)
    async with FeedClient(url(server), drop_hook=drop_one) as client:
        await client.subscribe(["book"], [SKU])
        await client.wait_synced(SKU, timeout=2)
        last = drive(venue, rng, 500)
        await client.wait_synced(SKU, last, timeout=5)
        assert client.stats.gaps == 1
        assert client.stats.resyncs == 1
        assert client.stats.snapshots == 2
        assert_same_book(client.book(SKU), venue)


async def test_a_checksum_mismatch_triggers_a_resync(
    venue: FakeVenue, server: FeedServer
) -> None:
    corrupted = False

    def corrupt_once(message: dict[str, Any]) -> bool:
        nonlocal corrupted
        if message["type"] == "book" and not corrupted:
            corrupted = True
            side, price, qty = message["changes"][0]
            message["changes"][0] = [side, price, qty + 1]
        return False

    async with FeedClient(url(server), drop_hook=corrupt_once) as client:
        await client.subscribe(["book"], [SKU])
        await client.wait_synced(SKU, timeout=2)
        last = drive(venue, random.Random(3), 100)
        await client.wait_synced(SKU, last, timeout=5)
        assert client.stats.checksum_mismatches == 1 and client.stats.resyncs == 1
        assert_same_book(client.book(SKU), venue)


async def test_reconnects_and_resubscribes(venue: FakeVenue) -> None:
    first = FeedServer(venue, port=0)
    await first.start()
    port = first.port
    rng = random.Random(11)
    async with FeedClient(f"ws://127.0.0.1:{port}", backoff_initial=0.05,
                          rng=random.Random(1)) as client:
        await client.subscribe(["book"], [SKU])
        await client.wait_synced(SKU, timeout=2)
        await first.close()
        await client.wait_for(lambda: not client.synced(SKU), timeout=2)
        drive(venue, rng, 100)  # missed while disconnected
        second = FeedServer(venue, port=port)
        await second.start()
        try:
            last = drive(venue, rng, 100)
            await client.wait_synced(SKU, last, timeout=5)
            assert client.stats.connects == 2
            assert_same_book(client.book(SKU), venue)
        finally:
            await second.close()


async def test_trade_and_ticker_iterators(venue: FakeVenue, server: FeedServer) -> None:
    async with FeedClient(url(server)) as client:
        trades = client.trades()
        tickers = client.tickers()
        await client.subscribe(["trades", "ticker"], ["*"])
        await client.wait_for(lambda: client.stats.messages >= 1, timeout=2)
        venue.trade("BBB-9", 15000, 2, "ask")
        trade = await asyncio.wait_for(anext(trades), 2)
        assert (trade["sku"], trade["price_cents"], trade["quantity"]) == ("BBB-9", 15000, 2)
        ticker = await asyncio.wait_for(anext(tickers), 2)
        assert ticker["last_sale_cents"] == 15000 and ticker["volume_24h"] == 2
        await trades.aclose()
        await tickers.aclose()


async def test_a_bad_url_raises_instead_of_retrying() -> None:
    client = FeedClient("http://127.0.0.1:1/")
    with pytest.raises(InvalidURI):
        await client.start()
    await client.close()


async def test_trade_canceled_is_not_a_trade_gap(venue: FakeVenue, server: FeedServer) -> None:
    trades: list[dict[str, Any]] = []
    async with FeedClient(url(server), on_trade=trades.append) as client:
        await client.subscribe(["trades"], [SKU])
        await client.wait_for(lambda: client.stats.messages >= 1, timeout=2)  # subscriptions
        first = venue.trade(SKU, 10000, 1)
        venue.cancel_trade(first)
        venue.trade(SKU, 10500, 1)
        await client.wait_for(lambda: len(trades) == 2, timeout=2)
        assert [t["prev_sequence"] for t in trades] == [0, 2]
        assert client.stats.trade_gaps == 0
