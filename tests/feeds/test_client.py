"""FeedClient against a real FeedServer: verified books, healed gaps, reconnects."""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from websockets.exceptions import InvalidURI

from feeds.client import FeedClient, LocalBook
from feeds.server import FeedServer

from ..api.server import serve
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


def drop_nth(kind: str, n: int) -> Callable[[dict[str, Any]], bool]:
    """A ``drop_hook`` that loses the ``n``-th message of type ``kind``."""
    seen = 0

    def drop(message: dict[str, Any]) -> bool:
        nonlocal seen
        if message["type"] == kind:
            seen += 1
            return seen == n
        return False

    return drop


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
    rng = random.Random(7)
    async with FeedClient(url(server), drop_hook=drop_nth("book", 50)) as client:
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


# --- trades: every one exactly once, in order, across reconnects -------------


def _ids(trades: list[dict[str, Any]]) -> list[int]:
    return [t["id"] for t in trades]


async def test_trades_missed_while_away_are_filled_from_rest(
    venue: FakeVenue, rest: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("feeds.client.FILL_PAGE", 3)  # several pages per fill
    first = FeedServer(venue, port=0)
    await first.start()
    port = first.port
    trades: list[dict[str, Any]] = []
    gaps: list[tuple[str, int | None]] = []
    async with FeedClient(f"ws://127.0.0.1:{port}", rest_url=rest, on_trade=trades.append,
                          on_trade_gap=lambda sku, n: gaps.append((sku, n)),
                          backoff_initial=0.05, rng=random.Random(1)) as client:
        await client.subscribe(["trades"], [SKU, "BBB-9"])
        # BBB-9 has its starting point before its first trade.
        await client.wait_for(lambda: client.trades_live("BBB-9"), timeout=2)
        before = [venue.trade(SKU, 10_000 + i * 100, 1).trade_id for i in range(3)]
        await client.wait_for(lambda: len(trades) == 3, timeout=2)
        await first.close()
        await client.wait_for(lambda: not client.connected, timeout=2)
        away = [venue.trade(sku, 11_000, 1).trade_id for sku in [SKU] * 7 + ["BBB-9"] * 2]
        second = FeedServer(venue, port=port)
        await second.start()
        try:
            await client.wait_for(lambda: len(trades) == 12, timeout=5)
            after = [venue.trade(SKU, 12_000, 2).trade_id]
            await client.wait_for(lambda: len(trades) == 13, timeout=2)
        finally:
            await second.close()
    ours = [t for t in trades if t["sku"] == SKU]
    assert _ids(ours) == before + away[:7] + after
    assert _ids([t for t in trades if t["sku"] == "BBB-9"]) == away[7:]
    assert [t.get("filled", False) for t in ours] == [False] * 3 + [True] * 7 + [False]
    assert sorted(gaps) == [(SKU, 7), ("BBB-9", 2)]
    assert client.stats.trade_gaps == 2 and client.stats.trades_filled == 9


async def test_a_reconnect_that_missed_nothing_is_no_gap(
    venue: FakeVenue, rest: str
) -> None:
    first = FeedServer(venue, port=0)
    await first.start()
    port = first.port
    trades: list[dict[str, Any]] = []
    async with FeedClient(f"ws://127.0.0.1:{port}", rest_url=rest, on_trade=trades.append,
                          backoff_initial=0.05, rng=random.Random(2)) as client:
        await client.subscribe(["trades"], [SKU])
        await client.wait_for(lambda: client.trades_live(SKU), timeout=2)
        venue.trade(SKU, 10_000, 1)
        await client.wait_for(lambda: len(trades) == 1, timeout=2)
        await first.close()
        await client.wait_for(lambda: not client.connected, timeout=2)
        second = FeedServer(venue, port=port)
        await second.start()
        try:
            await client.wait_for(lambda: client.trades_live(SKU), timeout=5)
            venue.trade(SKU, 10_100, 1)
            await client.wait_for(lambda: len(trades) == 2, timeout=2)
        finally:
            await second.close()
    assert client.stats.trade_gaps == 0 and client.stats.trades_filled == 0
    assert _ids(trades) == sorted(set(_ids(trades)))


async def test_a_break_in_the_chain_is_filled_without_reconnecting(
    venue: FakeVenue, server: FeedServer, rest: str
) -> None:
    lost = set()

    def lose(message: dict[str, Any]) -> bool:
        return message["type"] == "trade" and message["id"] in lost

    trades: list[dict[str, Any]] = []
    async with FeedClient(url(server), rest_url=rest, on_trade=trades.append,
                          drop_hook=lose) as client:
        await client.subscribe(["trades"], [SKU])
        await client.wait_for(lambda: client.trades_live(SKU), timeout=2)
        published = [venue.trade(SKU, 10_000, 1).trade_id for _ in range(2)]
        lost.update(venue.trade(SKU, 10_000, 1).trade_id for _ in range(3))
        published += sorted(lost)
        published += [venue.trade(SKU, 10_000, 1).trade_id for _ in range(2)]
        await client.wait_for(lambda: len(trades) == 7, timeout=2)
        assert client.stats.connects == 1
    assert _ids(trades) == published
    # The fill takes everything after the last delivered trade; the live
    # copies of what it took are dropped.
    assert client.stats.trade_gaps == 1 and client.stats.trades_filled >= 3
    assert client.stats.trades_filled - client.stats.duplicate_trades == len(lost)


async def test_without_rest_a_break_is_reported_unfilled(
    venue: FakeVenue, server: FeedServer
) -> None:
    gaps: list[tuple[str, int | None]] = []
    trades: list[dict[str, Any]] = []
    async with FeedClient(url(server), on_trade=trades.append, drop_hook=drop_nth("trade", 2),
                          on_trade_gap=lambda sku, n: gaps.append((sku, n))) as client:
        await client.subscribe(["trades"], [SKU])
        await client.wait_for(lambda: client.stats.messages >= 1, timeout=2)
        ids = [venue.trade(SKU, 10_000, 1).trade_id for _ in range(4)]
        await client.wait_for(lambda: len(trades) == 3, timeout=2)
    assert _ids(trades) == [ids[0], ids[2], ids[3]]
    assert gaps == [(SKU, None)] and client.stats.trade_gaps == 1


async def test_a_failing_rest_api_reports_the_gap_and_stalls_nothing(
    venue: FakeVenue, server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("feeds.client.FILL_ATTEMPTS", 2)
    gaps: list[tuple[str, int | None]] = []
    trades: list[dict[str, Any]] = []
    async with FeedClient(url(server), rest_url=f"http://127.0.0.1:{_free_port()}",
                          on_trade=trades.append, drop_hook=drop_nth("trade", 2),
                          on_trade_gap=lambda sku, n: gaps.append((sku, n)),
                          backoff_initial=0.01) as client:
        await client.subscribe(["trades"], [SKU])
        # No starting point from REST: not a gap, and trades flow anyway.
        await client.wait_for(lambda: client.trades_live(SKU), timeout=5)
        assert gaps == []
        ids = [venue.trade(SKU, 10_000, 1).trade_id for _ in range(4)]
        await client.wait_for(lambda: len(trades) == 3, timeout=5)
    assert _ids(trades) == [ids[0], ids[2], ids[3]]
    assert gaps == [(SKU, None)]
    assert client.stats.fill_failures == 2 and client.stats.trade_gaps == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Gate:
    """A TCP proxy in front of the feed that the test opens and closes.

    Closed, it hangs up on every new connection, so the client stays away
    for as long as the test wants trades to happen without it.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.open = asyncio.Event()
        self.open.set()
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        return f"ws://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        try:
            if not self.open.is_set():
                return
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        finally:
            if not self.open.is_set():
                writer.close()

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()


async def _all_trades(http: aiohttp.ClientSession, base: str, sku: str) -> list[int]:
    """Every trade id of ``sku`` from the REST API, oldest first."""
    ids: list[int] = []
    before = ""
    while True:
        async with http.get(f"{base}/v1/skus/{sku}/trades?limit=1000{before}") as response:
            page = (await response.json())["trades"]
        ids += [t["id"] for t in page]
        if len(page) < 1000:
            return sorted(ids)
        before = f"&before={page[-1]['id']}"


async def test_no_trade_missed_or_repeated_across_a_server_restart(tmp_path: Path) -> None:
    """A real ``exchange serve`` stopped and started again on its data dir while trading.

    The client follows one SKU's trades through a gate: trades go on while
    the server stops, while it starts again and, with the gate shut, while
    the client cannot reconnect; it must then see every one, once, in order.
    """
    feed_port = _free_port()
    ports = ("--http-port", str(_free_port()), "--feed-port", str(feed_port))
    data = tmp_path / "data"
    trades: list[dict[str, Any]] = []
    made = 0

    async def trade_forever(http: aiohttp.ClientSession, base: str, sku: str,
                            keys: list[str], price: int) -> None:
        nonlocal made
        while True:
            try:
                for key, side in zip(keys, ("ask", "bid"), strict=True):
                    body = {"sku": sku, "side": side, "type": "limit",
                            "price_cents": price, "quantity": 1}
                    async with http.post(f"{base}/v1/orders", json=body,
                                         headers={"Authorization": f"Bearer {key}"}) as r:
                        if side == "bid" and r.status == 201:
                            made += len((await r.json())["fills"])
            except (aiohttp.ClientError, OSError):
                await asyncio.sleep(0.05)  # the server is restarting

    gate = _Gate(feed_port)
    feed_url = await gate.start()
    async with aiohttp.ClientSession() as http:
        with serve(data, *ports) as server:
            base = server.http_url
            async with http.get(f"{base}/v1/products") as r:
                sku = (await r.json())["products"][0]["skus"][0]["sku"]
            async with http.get(f"{base}/v1/skus/{sku}") as r:
                price = (await r.json())["min_price_cents"]
            keys = []
            for name in ("seller", "buyer"):
                async with http.post(f"{base}/v1/accounts", json={"name": name}) as r:
                    keys.append((await r.json())["api_key"])
            client = FeedClient(feed_url, rest_url=base, on_trade=trades.append,
                                backoff_initial=0.05, backoff_max=0.2, rng=random.Random(3))
            await client.start()
            await client.subscribe(["trades"], [sku])
            await client.wait_for(lambda: client.trades_live(sku), timeout=10)
            trader = asyncio.create_task(trade_forever(http, base, sku, keys, price))
            try:
                await client.wait_for(lambda: len(trades) >= 20, timeout=30)
                server.proc.send_signal(signal.SIGTERM)
                await asyncio.to_thread(server.proc.wait, 30)
                gate.open.clear()
                at_stop = made
                with serve(data, *ports):
                    while made < at_stop + 20:
                        await asyncio.sleep(0.05)
                    assert not client.connected
                    gate.open.set()
                    await client.wait_for(lambda: len(trades) >= at_stop + 20, timeout=20)
                    trader.cancel()
                    await asyncio.gather(trader, return_exceptions=True)
                    expected = await _all_trades(http, base, sku)
                    await client.wait_for(lambda: len(trades) >= len(expected), timeout=20)
            finally:
                trader.cancel()
                await client.close()
                await gate.close()
    assert [t["id"] for t in trades] == expected  # every trade, once, in order
    assert client.stats.trade_gaps >= 1 and client.stats.trades_filled >= 20
