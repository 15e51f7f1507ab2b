"""REST, feed and portfolio end to end, against ``exchange serve`` and ``exchange cluster up``.

One fixture, two modes: the same scenario runs against one process and
against a local cluster (three NATS nodes, two shards with a standby each,
feed and gateway as child processes), trading on two SKUs that live on
different shards. The cluster alone then loses its shard-0 engine to kill -9:
the standby takes over and every acknowledged order is still there.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import psutil
import pytest
import websockets

from cluster.nats import connect, ensure_leases

from .support import SHARD0_SKU, SHARD1_SKU, Exchange, exchange

SKUS = [SHARD0_SKU, SHARD1_SKU]


@pytest.fixture(scope="module", params=["serve", "cluster"])
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Exchange]:
    with exchange(request.param, tmp_path_factory.mktemp(request.param) / "data") as ex:
        yield ex


class Client:
    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session, self.base = session, base

    async def call(self, method: str, path: str, key: str | None = None,
                   body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        async with self.session.request(method, self.base + path, json=body,
                                        headers=headers) as resp:
            return resp.status, await resp.json(content_type=None)

    async def account(self, name: str) -> str:
        status, body = await self.call("POST", "/v1/accounts", body={"name": name})
        assert status == 201, body
        return str(body["api_key"])


@pytest.fixture
async def client(live: Exchange) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as session:
        yield Client(session, live.http_url)


def order(sku: str, side: str, qty: int, **kw: Any) -> dict[str, Any]:
    return {"sku": sku, "side": side, "type": "limit", "price_cents": 20_000, "quantity": qty,
            **kw}


async def feed_messages(ws_url: str, want: int, ready: asyncio.Event) -> list[dict[str, Any]]:
    """Subscribe to trades and book of both SKUs; collect until ``want`` trades arrived."""
    out: list[dict[str, Any]] = []
    async with websockets.connect(ws_url) as ws:
        await ws.send(json.dumps({"type": "subscribe", "channels": ["trades", "book"],
                                  "skus": SKUS}))
        while not any(m["type"] == "subscriptions" for m in out):
            out.append(json.loads(await ws.recv()))
        ready.set()
        while sum(m["type"] == "trade" for m in out) < want:
            out.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
    return out


async def test_trading_across_shards_feed_and_portfolio(live: Exchange, client: Client) -> None:
    seller, buyer = await client.account("seller"), await client.account("buyer")
    subscribed = asyncio.Event()
    feed = asyncio.create_task(feed_messages(live.ws_url, 2, subscribed))
    await asyncio.wait_for(subscribed.wait(), 30)

    asks = []
    for sku in SKUS:
        status, placed = await client.call("POST", "/v1/orders", seller,
                                           order(sku, "ask", 2, client_order_id=f"ask-{sku}"))
        assert status == 201, placed
        asks.append(placed["order"])
        status, taken = await client.call("POST", "/v1/orders", buyer, order(sku, "bid", 1))
        assert status == 201 and taken["order"]["status"] == "filled", taken
    # Every order of the seller, from both shards, newest id first.
    status, mine = await client.call("GET", "/v1/orders", seller)
    assert status == 200
    assert sorted(o["id"] for o in mine["orders"]) == sorted(o["id"] for o in asks)
    assert [o["id"] for o in mine["orders"]] == sorted((o["id"] for o in asks), reverse=True)
    assert all(o["filled_quantity"] == 1 for o in mine["orders"])
    status, fills = await client.call("GET", "/v1/trades", buyer)
    assert status == 200 and {t["sku"] for t in fills["trades"]} == set(SKUS)
    # A client_order_id is the account's across shards: reused on another SKU, 409.
    status, reused = await client.call("POST", "/v1/orders", seller,
                                       order(SHARD1_SKU, "ask", 1,
                                             client_order_id=f"ask-{SHARD0_SKU}"))
    assert status == 409 and reused["code"] == "client_order_id_reused"
    status, again = await client.call("POST", "/v1/orders", seller,
                                      order(SHARD0_SKU, "ask", 2,
                                            client_order_id=f"ask-{SHARD0_SKU}"))
    assert status == 200 and again["order"]["id"] == asks[0]["id"]
    # A key whose first use was refused (off tick: never journaled) is free on any SKU.
    status, refused = await client.call("POST", "/v1/orders", seller,
                                        {**order(SHARD0_SKU, "ask", 1, client_order_id="k"),
                                         "price_cents": 20_001})
    assert status == 422, refused
    status, moved = await client.call("POST", "/v1/orders", seller,
                                      order(SHARD1_SKU, "ask", 1, client_order_id="k",
                                            price_cents=30_000))
    assert status == 201, moved
    status, gone = await client.call("DELETE", f"/v1/orders/{moved['order']['id']}", seller)
    assert status == 200, gone
    for sku in SKUS:
        status, book = await client.call("GET", f"/v1/skus/{sku}/book")
        assert status == 200 and book["asks"] == [[20_000, 1, 1]]

    messages = await asyncio.wait_for(feed, 60)
    trades = [m for m in messages if m["type"] == "trade"]
    assert {t["sku"] for t in trades} == set(SKUS)
    for sku in SKUS:
        seqs = [m["sequence"] for m in messages
                if m.get("sku") == sku and m["type"] in ("snapshot", "book", "trade")]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs

    # Portfolio: the buyer's hand-added items on both shards, valued at the last sale.
    for sku in SKUS:
        status, item = await client.call("POST", "/v1/portfolio/items", buyer,
                                         {"sku": sku, "purchase_price_cents": 15_000})
        assert status == 201, item
    status, valued = await client.call("GET", "/v1/portfolio", buyer)
    assert status == 200, valued
    assert len(valued["items"]) == 2
    assert valued["totals"]["cost_cents"] == 30_000
    assert valued["totals"]["market_value_cents"] == 40_000
    # Cancel on the order's own shard.
    status, canceled = await client.call("DELETE", f"/v1/orders/{asks[1]['id']}", seller)
    assert status == 200 and canceled["order"]["status"] == "canceled", canceled


async def _active_engine(nats: str, shard: int) -> str:
    nc = await connect(nats, name="test")
    try:
        kv = await ensure_leases(nc.jetstream())
        entry = await kv.get(f"shard-{shard}")
        assert entry.value is not None
        return entry.value.decode()
    finally:
        await nc.close()


def _pid_of(name: str) -> int:
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmd = proc.info["cmdline"] or []
        if "engine" in cmd and "--name" in cmd and cmd[cmd.index("--name") + 1] == name:
            return int(proc.info["pid"])
    raise AssertionError(f"no process for {name}")


async def test_kill_9_of_the_active_engine_loses_no_acknowledged_order(
    live: Exchange, client: Client
) -> None:
    if live.mode != "cluster":
        pytest.skip("failover is a cluster matter")
    assert live.nats is not None
    trader = await client.account("survivor")
    acked = []
    for i in range(5):
        status, placed = await client.call(
            "POST", "/v1/orders", trader,
            {**order(SHARD0_SKU, "bid", 1, client_order_id=f"pre-{i}"), "price_cents": 10_000},
        )
        assert status == 201
        acked.append(placed["order"]["id"])
    active = await _active_engine(live.nats, 0)
    os.kill(_pid_of(active), signal.SIGKILL)
    killed = time.monotonic()
    # The next order on that shard is acknowledged once the standby took over.
    while True:
        status, placed = await client.call(
            "POST", "/v1/orders", trader,
            {**order(SHARD0_SKU, "bid", 1, client_order_id="after"), "price_cents": 10_000},
        )
        if status in (200, 201):
            break
        assert status == 503, placed
    failover = time.monotonic() - killed
    print(f"failover: {failover:.2f} s from kill -9 to the next acknowledged order")
    assert await _active_engine(live.nats, 0) != active
    for order_id in acked:
        status, got = await client.call("GET", f"/v1/orders/{order_id}", trader)
        assert status == 200 and got["order"]["status"] == "open", got
    assert failover < 30
