"""FeedServer against real websockets clients, driven by a fake venue."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest
from websockets.exceptions import ConnectionClosed

from exchange.marketdata import book_checksum
from feeds.server import FeedServer

from .conftest import open_client, recv, recv_type, send
from .fakes import FakeVenue


def apply(book: dict[str, dict[int, int]], changes: list[list[object]]) -> None:
    for side, price, qty in changes:
        levels = book["bid" if side == "bid" else "ask"]
        assert isinstance(price, int) and isinstance(qty, int)
        if qty:
            levels[price] = qty
        else:
            levels.pop(price, None)


def checksum(book: dict[str, dict[int, int]]) -> int:
    return book_checksum(sorted(book["ask"].items()), sorted(book["bid"].items(), reverse=True))


async def test_snapshot_then_deltas(venue: FakeVenue, server: FeedServer) -> None:
    venue.set_levels("AAA-10", ("bid", 10000, 3), ("bid", 9500, 1), ("ask", 10500, 2))
    venue.set_levels("AAA-10", ("ask", 11000, 1))
    async with await open_client(server) as ws:
        await send(ws, {"type": "subscribe", "channels": ["book"], "skus": ["AAA-10"],
                        "req_id": 7})
        reply = await recv(ws)
        assert reply == {
            "type": "subscriptions",
            "subscriptions": [{"channel": "book", "sku": "AAA-10"}],
            "req_id": 7,
        }
        snap = await recv(ws)
        assert snap == {
            "type": "snapshot",
            "sku": "AAA-10",
            "sequence": 2,
            "bids": [[10000, 3], [9500, 1]],
            "asks": [[10500, 2], [11000, 1]],
            "checksum": 4148808677,
        }
        book = {"bid": dict(snap["bids"]), "ask": dict(snap["asks"])}
        venue.trade("AAA-10", 10500, 2)  # not subscribed to trades: not sent
        event = venue.set_levels("AAA-10", ("ask", 10500, 0), ("bid", 10100, 4))
        delta = await recv_type(ws, "book")
        assert delta["sequence"] == 4 and delta["prev_sequence"] == 2
        assert delta["changes"] == [["ask", 10500, 0], ["bid", 10100, 4]]
        assert delta["time"].endswith("Z")
        apply(book, delta["changes"])
        assert checksum(book) == delta["checksum"] == event.checksum


async def test_star_subscriptions_get_every_sku(venue: FakeVenue, server: FeedServer) -> None:
    async with await open_client(server) as ws:
        await send(ws, {"type": "subscribe", "channels": ["trades", "ticker"], "skus": ["*"]})
        assert (await recv(ws))["type"] == "subscriptions"
        venue.set_levels("BBB-9", ("bid", 20000, 1))
        ticker = await recv_type(ws, "ticker")
        assert ticker["sku"] == "BBB-9" and ticker["best_bid_cents"] == 20000
        assert ticker["best_ask_cents"] is None and ticker["sequence"] == 1
        for sku in ("AAA-10", "CCC-11"):
            venue.trade(sku, 12300, 2, "ask")
            trade = await recv_type(ws, "trade")
            assert trade["sku"] == sku and trade["price_cents"] == 12300
            assert trade["quantity"] == 2 and trade["taker_side"] == "ask"
            assert trade["prev_sequence"] == 0 and trade["sequence"] == 1
            ticker = await recv_type(ws, "ticker")
            assert ticker["sku"] == sku and ticker["last_sale_cents"] == 12300
            assert ticker["volume_24h"] == 2


async def test_star_and_explicit_subscription_deliver_once(
    venue: FakeVenue, server: FeedServer
) -> None:
    async with await open_client(server) as ws:
        await send(ws, {"type": "subscribe", "channels": ["trades"], "skus": ["*", "AAA-10"]})
        await recv(ws)
        venue.trade("AAA-10", 100, 1)
        venue.trade("BBB-9", 200, 1)
        first, second = await recv(ws), await recv(ws)
        assert [first["sku"], second["sku"]] == ["AAA-10", "BBB-9"]


async def test_candles_channel(venue: FakeVenue, server: FeedServer) -> None:
    async with await open_client(server) as ws:
        await send(ws, {"type": "subscribe", "channels": ["candles"], "skus": ["AAA-10"],
                        "interval": "1h"})
        assert (await recv(ws))["subscriptions"] == [
            {"channel": "candles", "sku": "AAA-10", "interval": "1h"}
        ]
        hour = 3600 * 10**9
        t0 = 1_700_000_000 * 10**9 // hour * hour
        for price, offset in ((10000, 1), (12000, 2), (9000, 3)):
            venue.publish([venue.trade_print("AAA-10", price, 1, now=t0 + offset)])
        candles = [await recv_type(ws, "candle") for _ in range(3)]
        assert candles[-1] == {
            "type": "candle", "sku": "AAA-10", "interval": "1h", "sequence": 3,
            "start": "2023-11-14T22:00:00.000Z", "open_cents": 10000, "high_cents": 12000,
            "low_cents": 9000, "close_cents": 9000, "volume": 3,
        }
        # A new subscriber starts from the current candle.
        await send(ws, {"type": "subscribe", "channels": ["candles"], "skus": ["AAA-10"],
                        "interval": "1h"})
        await recv_type(ws, "subscriptions")
        assert await recv_type(ws, "candle") == candles[-1]


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("not json", "invalid_json"),
        ("[1, 2]", "invalid_message"),
        ('{"type": "hello"}', "unknown_type"),
        ('{"type": "subscribe", "channels": ["news"], "skus": ["AAA-10"]}', "unknown_channel"),
        ('{"type": "subscribe", "channels": ["book"], "skus": ["NOPE-1"]}', "unknown_sku"),
        ('{"type": "subscribe", "channels": ["book"], "skus": ["*"]}', "wildcard_not_allowed"),
        ('{"type": "subscribe", "channels": ["book"], "skus": "AAA-10"}', "invalid_message"),
        ('{"type": "subscribe", "channels": ["candles"], "skus": ["AAA-10"], "interval": "5m"}',
         "unknown_interval"),
        ('{"type": "subscribe", "channels": ["book"], "skus": ["AAA-10"], "sku": 1}',
         "invalid_message"),
        ('{"type": "subscribe", "channels": ["book", "trades", "ticker"], '
         '"skus": ["AAA-10", "BBB-9"]}', "too_many_subscriptions"),
        ('{"type": "subscribe", "channels": ["book"], "skus": ["AAA-10"], "req_id": "'
         + "x" * 70_000 + '"}', "message_too_large"),
    ],
)
async def test_bad_messages_get_an_error_and_change_nothing(
    venue: FakeVenue, message: str, code: str
) -> None:
    async with FeedServer(venue, port=0, max_subs=3) as feed, await open_client(feed) as ws:
        await send(ws, {"type": "subscribe", "channels": ["trades"], "skus": ["CCC-11"],
                        "req_id": 1})
        before = await recv(ws)
        await ws.send(message)
        error = await recv(ws)
        assert error["type"] == "error" and error["code"] == code
        assert isinstance(error["message"], str) and error["message"]
        # Nothing changed: the same subscriptions, and only CCC-11 trades arrive.
        venue.trade("AAA-10", 100, 1)
        venue.trade("CCC-11", 100, 1)
        assert (await recv(ws))["sku"] == "CCC-11"
        await send(ws, {"type": "unsubscribe", "channels": ["book"], "skus": ["BBB-9"],
                        "req_id": 1})
        assert (await recv(ws))["subscriptions"] == before["subscriptions"]


async def test_error_echoes_req_id(server: FeedServer) -> None:
    async with await open_client(server) as ws:
        await send(ws, {"type": "subscribe", "channels": ["book"], "skus": ["NOPE"],
                        "req_id": "abc"})
        assert await recv(ws) == {"type": "error", "code": "unknown_sku",
                                  "message": "unknown SKU 'NOPE'", "req_id": "abc"}


async def test_a_flood_is_rate_limited(venue: FakeVenue) -> None:
    async with FeedServer(venue, port=0, rate=1.0, burst=3) as feed, \
            await open_client(feed) as ws:
        for _ in range(6):
            await send(ws, {"type": "subscribe", "channels": ["trades"], "skus": ["AAA-10"]})
        codes = [(await recv(ws)).get("code") for _ in range(6)]
        assert codes[:3] == [None, None, None]
        assert codes[3:] == ["rate_limited"] * 3


async def test_heartbeat_on_a_quiet_connection(server: FeedServer) -> None:
    async with await open_client(server) as ws:
        start = time.monotonic()
        first = await recv(ws, timeout=1.5)
        second = await recv(ws, timeout=1.5)
        assert first["type"] == second["type"] == "heartbeat"
        assert first["time"].endswith("Z")
        assert time.monotonic() - start < 2.5


async def test_shutdown_closes_with_1001(venue: FakeVenue) -> None:
    feed = FeedServer(venue, port=0)
    await feed.start()
    ws = await open_client(feed)
    await send(ws, {"type": "subscribe", "channels": ["trades"], "skus": ["AAA-10"]})
    await recv(ws)
    await feed.close()
    with pytest.raises(ConnectionClosed):
        while True:
            await recv(ws)
    assert ws.close_code == 1001
    assert ws.close_reason == "server shutting down"
    assert venue.callbacks == []


async def test_slow_consumer_is_cut_off_without_delaying_others(venue: FakeVenue) -> None:
    async with FeedServer(venue, port=0, queue_size=100, write_limit=4096,
                          close_timeout=10, send_buffer=4096) as feed:
        slow = await open_client(feed, rcvbuf=4096, max_queue=1)
        fast = await open_client(feed)
        for ws in (slow, fast):
            await send(ws, {"type": "subscribe", "channels": ["trades"], "skus": ["AAA-10"]})
            await recv(ws)
        received: list[int] = []
        caught_up = asyncio.Event()
        wanted = 0

        async def read_fast() -> None:
            async for data in fast:
                message = orjson.loads(data)
                if message["type"] == "trade":
                    received.append(message["id"])
                    if message["id"] >= wanted:
                        caught_up.set()

        reader = asyncio.create_task(read_fast())
        published = 0
        for _ in range(200):
            batch = [venue.trade_print("AAA-10", 10000 + i * 100, 1) for i in range(50)]
            venue.publish(batch)
            published += len(batch)
            wanted = batch[-1].trade_id
            caught_up.clear()
            started = time.monotonic()
            await asyncio.wait_for(caught_up.wait(), 2)
            # The fast client is never held up by the slow one.
            assert time.monotonic() - started < 1.0
            if feed.connections == 1:
                break
        assert feed.connections == 1, "the slow client was never cut off"
        assert received == list(range(1, published + 1))
        # The slow client, reading at last, finds an error then close code 1008.
        messages = []
        with pytest.raises(ConnectionClosed):
            while True:
                messages.append(orjson.loads(await asyncio.wait_for(slow.recv(), 5)))
        assert messages[-1]["type"] == "error" and messages[-1]["code"] == "slow_consumer"
        trades = [m["id"] for m in messages if m["type"] == "trade"]
        assert trades == list(range(1, len(trades) + 1)), "trades are never dropped"
        assert slow.close_code == 1008
        reader.cancel()
        await fast.close()


async def test_lagging_book_subscriber_gets_a_fresh_snapshot(venue: FakeVenue) -> None:
    async with FeedServer(venue, port=0, queue_size=100, write_limit=4096,
                          send_buffer=4096) as feed:
        slow = await open_client(feed, rcvbuf=4096, max_queue=1)
        await send(slow, {"type": "subscribe", "channels": ["book"], "skus": ["AAA-10"]})
        await recv(slow)
        snap = await recv(slow)
        book = {"bid": dict(snap["bids"]), "ask": dict(snap["asks"])}
        last = 0
        for i in range(3000):
            price = 10000 + (i % 40) * 100
            last = venue.set_levels("AAA-10", ("bid", price, i % 7), ("ask", 20000 + price,
                                                                      1 + i % 3)).sequence
            if i % 100 == 0:
                await asyncio.sleep(0)  # let the server flush
        assert feed.connections == 1, "book updates alone must never cut a client off"
        snapshots = 0
        seq = snap["sequence"]
        async with asyncio.timeout(10):
            while seq < last:
                message = orjson.loads(await slow.recv())
                if message["type"] == "snapshot":
                    snapshots += 1
                    book = {"bid": dict(message["bids"]), "ask": dict(message["asks"])}
                    seq = message["sequence"]
                elif message["type"] == "book":
                    if message["sequence"] <= seq:
                        continue
                    assert message["prev_sequence"] == seq
                    apply(book, message["changes"])
                    assert checksum(book) == message["checksum"]
                    seq = message["sequence"]
        assert snapshots >= 1, "the backlog was conflated into a snapshot"
        bids, asks = venue.book_levels("AAA-10")
        assert book == {"bid": dict(bids), "ask": dict(asks)}
        await slow.close()


async def test_a_port_in_use_fails_start_and_leaves_nothing_subscribed(
    venue: FakeVenue, server: FeedServer
) -> None:
    second = FeedServer(venue, port=server.port)
    with pytest.raises(OSError):
        await second.start()
    assert len(venue.callbacks) == 1  # only the running server's


async def test_trade_canceled_continues_the_trades_chain_and_fixes_the_ticker(
    venue: FakeVenue, server: FeedServer
) -> None:
    async with await open_client(server) as ws:
        await send(ws, {"type": "subscribe", "channels": ["trades", "ticker"], "skus": ["AAA-10"]})
        assert (await recv(ws))["type"] == "subscriptions"
        await recv_type(ws, "ticker")  # the current one, on subscribe
        kept = venue.trade("AAA-10", 10000, 1)
        gone = venue.trade("AAA-10", 12000, 3)
        venue.set_levels("AAA-10", ("bid", 9000, 1))
        venue.cancel_trade(gone)
        after = venue.trade("AAA-10", 11000, 1)
        messages = [await recv_type(ws, t) for t in ("trade", "trade")]
        canceled = await recv_type(ws, "trade_canceled")
        assert canceled == {
            "type": "trade_canceled", "sku": "AAA-10", "sequence": 4, "prev_sequence": 2,
            "id": gone.trade_id, "price_cents": 12000, "quantity": 3,
            "time": canceled["time"],
        }
        ticker = await recv_type(ws, "ticker")
        assert ticker["sequence"] == 4
        assert ticker["last_sale_cents"] == 10000 and ticker["volume_24h"] == 1
        last = await recv_type(ws, "trade")
        # Gap-free on the trades channel across the cancel.
        chain = [*messages, canceled, last]
        assert [m["sequence"] for m in chain] == [1, 2, 4, 5]
        assert [m["prev_sequence"] for m in chain] == [0, 1, 2, 4]
        assert last["id"] == after.trade_id and kept.trade_id == messages[0]["id"]
        ticker = await recv_type(ws, "ticker")
        assert ticker["last_sale_cents"] == 11000 and ticker["volume_24h"] == 2
    assert venue.mirror.channel_sequences("AAA-10") == (3, 5)


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
    assert ticker["sequence"] == 3  # not 0: the sequence of the book it reads
    assert ticker["best_bid_cents"] == 10_000 and ticker["best_ask_cents"] == 10_500
