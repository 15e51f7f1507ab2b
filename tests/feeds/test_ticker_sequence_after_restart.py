"""A ticker sent before a SKU's next event carries the book's sequence, not 0.

Regression: after a restart (the feed starts from the venue's released book
at sequence N), subscribing to ``ticker`` answered ``"sequence": 0`` next to
a ``snapshot`` at sequence N, though DESIGN.md says a ticker carries the
sequence of the last event it reflects (here: the book it reads its best bid
and ask from).
"""

from __future__ import annotations

from feeds.marketstate import MarketState
from feeds.server import FeedServer

from .conftest import open_client, recv_type, send
from .fakes import FakeVenue


def test_first_ticker_takes_the_sequence_from_the_book() -> None:
    state = MarketState(lambda sku: (9_000, 11_000), sequence=lambda sku: 129)
    assert state.ticker("AAA-10")["sequence"] == 129


def test_without_a_sequence_source_it_stays_0() -> None:
    assert MarketState(lambda sku: (None, None)).ticker("AAA-10")["sequence"] == 0


async def test_ticker_on_subscribe_after_a_restart_matches_the_snapshot() -> None:
    venue = FakeVenue()
    # History the feed did not see: it was released before the feed started.
    venue.set_levels("AAA-10", ("bid", 10_000, 3))
    venue.trade("AAA-10", 10_500, 1)
    venue.set_levels("AAA-10", ("ask", 10_500, 2))
    feed = FeedServer(venue, port=0)
    await feed.start()
    try:
        ws = await open_client(feed)
        try:
            await send(ws, {"type": "subscribe", "channels": ["ticker", "book"],
                            "skus": ["AAA-10"]})
            ticker = await recv_type(ws, "ticker")
            snapshot = await recv_type(ws, "snapshot")
        finally:
            await ws.close()
    finally:
        await feed.close()
    assert snapshot["sequence"] == 3
    assert ticker["sequence"] == 3
    assert ticker["best_bid_cents"] == 10_000 and ticker["best_ask_cents"] == 10_500
