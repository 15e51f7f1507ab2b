"""The demo traders: valid orders that cross sometimes, and a clean stop."""

from __future__ import annotations

import asyncio
import random

from api.demo import DemoMarket, run_demo_traders
from exchange.marketdata import MarketDataEvent
from exchange.venue import Venue


def test_demo_market_orders_are_valid_and_some_cross() -> None:
    rules = {"tick_size_cents": 100, "min_price_cents": 100, "max_price_cents": 1_000_000}
    market = DemoMarket([("A-1", 18_000, rules), ("B-1", 50_000, rules)], 4, random.Random(7))
    crossing = 0
    for _ in range(600):
        trader, body = market.next_order()
        assert 0 <= trader < 4
        price = body["price_cents"]
        assert price % 100 == 0 and 100 <= price <= 1_000_000
        fair = market.fair[body["sku"]]
        if (body["side"] == "bid") == (price > fair) or body["type"] == "market":
            crossing += 1
    assert 50 < crossing < 200


def _resting(venue: Venue) -> int:
    total = 0
    for sku in venue.mirror.skus():
        book = venue.book(sku)
        total += sum(level[1] for level in book["bids"] + book["asks"])
    return total


async def test_stopping_the_demo_cancels_its_resting_orders(venue: Venue) -> None:
    # Every run makes new trader accounts: orders left resting would stay on
    # the books for good, at stale prices, owned by keys nobody holds.
    enough = asyncio.Event()
    events = 0

    def count(batch: list[MarketDataEvent]) -> None:
        nonlocal events
        events += len(batch)
        if events >= 30:
            enough.set()

    venue.subscribe(count)
    task = asyncio.create_task(run_demo_traders(venue, rate=2000.0, seed=7))
    await asyncio.wait_for(enough.wait(), 20)
    assert _resting(venue) > 0  # the demo did leave orders resting

    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    assert _resting(venue) == 0
