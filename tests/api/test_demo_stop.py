"""The demo traders take their resting orders off the books when they stop.

Regression: every ``exchange demo`` run creates new trader accounts, and the
orders the previous run left resting stayed on the books for good, at stale
prices, owned by accounts nobody holds a key for.
"""

from __future__ import annotations

import asyncio

from api.demo import run_demo_traders
from exchange.marketdata import MarketDataEvent
from exchange.venue import Venue


def _resting(venue: Venue) -> int:
    total = 0
    for sku in venue.mirror.skus():
        book = venue.book(sku)
        total += sum(level[1] for level in book["bids"] + book["asks"])
    return total


async def test_stopping_the_demo_cancels_its_resting_orders(venue: Venue) -> None:
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
