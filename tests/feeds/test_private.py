"""Authenticated sessions on the real venue: the private stream and order entry.

The stream carries every change of an account's orders, in order and without
a gap, and ends equal to ``GET /v1/orders``; another account's connection
hears none of it; order entry answers what REST answers for the same bodies.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from api.app import make_app
from api.ratelimit import RateLimiter
from exchange.venue import Venue
from feeds.server import FeedServer

from .test_venue_feed import venue

__all__ = ["venue"]  # the real venue without a store, as in test_venue_feed

MAX_INT = 2**63 - 1


@pytest.fixture
async def feed(venue: Venue) -> AsyncIterator[FeedServer]:
    async with FeedServer(venue, port=0, accounts=venue) as server:
        yield server


@pytest.fixture
async def rest(venue: Venue, aiohttp_client: Callable[..., Any]) -> TestClient:
    client: TestClient = await aiohttp_client(make_app(venue, rate_limit=0))
    return client


class Session:
    """A raw websocket session: send, and read replies by req_id or type."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.inbox: list[dict[str, Any]] = []
        self._seen = asyncio.Event()
        self._reader = asyncio.create_task(self._read())
        self.closed: int | None = None

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                message = orjson.loads(raw)
                if message["type"] != "heartbeat":
                    self.inbox.append(message)
                    self._seen.set()
        except ConnectionClosed:
            pass
        self.closed = self.ws.close_code
        self._seen.set()

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(orjson.dumps(message).decode())

    async def wait(
        self, match: Callable[[dict[str, Any]], bool], timeout: float = 5
    ) -> dict[str, Any]:
        async def find() -> dict[str, Any]:
            while True:
                for message in self.inbox:
                    if match(message):
                        return message
                if self.closed is not None:
                    raise AssertionError(f"closed {self.closed} before a match: {self.inbox[-3:]}")
                self._seen.clear()
                await self._seen.wait()

        return await asyncio.wait_for(find(), timeout)

    async def ask(self, message: dict[str, Any], timeout: float = 5) -> dict[str, Any]:
        await self.send(message)
        req_id = message["req_id"]
        return await self.wait(lambda m: m.get("req_id") == req_id, timeout)

    async def wait_closed(self, timeout: float = 5) -> int | None:
        await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        return self.closed

    def of(self, *types: str) -> list[dict[str, Any]]:
        return [m for m in self.inbox if m["type"] in types]

    async def close(self) -> None:
        await self.ws.close()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@contextlib.asynccontextmanager
async def session(feed: FeedServer, key: str | None = None) -> AsyncIterator[Session]:
    ws = await connect(f"ws://127.0.0.1:{feed.port}")
    s = Session(ws)
    try:
        if key is not None:
            reply = await s.ask({"type": "auth", "api_key": key, "req_id": "auth"})
            assert reply["type"] == "authenticated", reply
        yield s
    finally:
        await s.close()


async def new_key(venue: Venue, name: str) -> str:
    return str((await venue.create_account(name))["api_key"])


async def rest_call(
    rest: TestClient, method: str, path: str, key: str, body: Any = None
) -> tuple[int, Any]:
    kwargs: dict[str, Any] = {"headers": {"Authorization": f"Bearer {key}"}}
    if body is not None:
        kwargs["data"] = orjson.dumps(body)
        kwargs["headers"]["Content-Type"] = "application/json"
    async with rest.request(method, path, **kwargs) as resp:
        return resp.status, await resp.json(content_type=None)


async def all_orders(rest: TestClient, key: str) -> list[dict[str, Any]]:
    orders: list[dict[str, Any]] = []
    before = None
    while True:
        path = "/v1/orders?limit=1000" + (f"&before={before}" if before else "")
        status, page = await rest_call(rest, "GET", path, key)
        assert status == 200, page
        orders += page["orders"]
        before = page.get("next_before")
        if not before:
            return orders


# ------------------------------------------------------------------ the session


async def test_auth_is_refused_without_change_and_order_entry_needs_it(
    venue: Venue, feed: FeedServer
) -> None:
    key = await new_key(venue, "alice")
    async with session(feed) as s:
        reply = await s.ask({"type": "place", "req_id": 1, "order": {}})
        assert (reply["type"], reply["code"]) == ("error", "auth_required")
        reply = await s.ask({"type": "subscribe", "channels": ["orders"], "req_id": 2})
        assert reply["code"] == "auth_required"
        reply = await s.ask({"type": "auth", "api_key": "nope", "req_id": 3})
        assert (reply["type"], reply["code"]) == ("error", "unauthorized")
        reply = await s.ask({"type": "auth", "api_key": key, "req_id": 4})
        account = venue.authenticate(key)
        assert account is not None
        assert reply == {"type": "authenticated", "account_id": account.id, "req_id": 4}
        reply = await s.ask({"type": "auth", "api_key": key, "req_id": 5})
        assert reply["code"] == "already_authenticated"
        reply = await s.ask({"type": "subscribe", "channels": ["orders", "book"], "req_id": 6})
        assert reply["code"] == "invalid_message"
        await s.send({"type": "place", "order": {}})  # no req_id: no way to answer a result
        reply = await s.wait(lambda m: m.get("code") == "invalid_message" and "req_id" not in m)
        assert reply["message"] == "place needs a req_id"


async def test_market_data_only_feed_refuses_auth(venue: Venue) -> None:
    key = await new_key(venue, "alice")
    async with FeedServer(venue, port=0) as plain, session(plain) as s:
        reply = await s.ask({"type": "auth", "api_key": key, "req_id": 1})
        assert reply["code"] == "private_unavailable"


async def test_too_many_failed_auths_close_the_connection(feed: FeedServer) -> None:
    async with session(feed) as s:
        for i in range(5):
            await s.send({"type": "auth", "api_key": f"bad{i}", "req_id": i})
        assert await s.wait_closed() == 1008
        assert [m["code"] for m in s.of("error")][-1] == "unauthorized"


# ------------------------------------------------------------------ the stream


def _check_chain(
    messages: list[dict[str, Any]], start: int = 0, *, every_channel: bool = True
) -> None:
    """prev_sequence names the channel's previous message; with every channel
    subscribed, sequence rises by exactly one."""
    last: dict[str, int] = {}
    expected = None
    for message in messages:
        seq = message["sequence"]
        if expected is not None and every_channel:
            assert seq == expected, (seq, expected)
        expected = seq + 1
        channel = message["channel"]
        if channel in last:
            assert message["prev_sequence"] == last[channel], message
        else:
            assert message["prev_sequence"] <= max(start, seq - 1)
        last[channel] = seq


async def random_trading(
    venue: Venue, rest: TestClient, sku: str, keys: list[str], n: int, rng: random.Random
) -> None:
    """``n`` random places, amends and cancels over REST, 40 at a time."""
    open_orders: list[tuple[str, int]] = []

    async def one() -> None:
        key = rng.choice(keys)
        roll = rng.random()
        if open_orders and roll < 0.15:
            owner, order_id = open_orders.pop(rng.randrange(len(open_orders)))
            await rest_call(rest, "DELETE", f"/v1/orders/{order_id}", owner)
            return
        if open_orders and roll < 0.25:
            owner, order_id = rng.choice(open_orders)
            body = {"price_cents": 20_000 + rng.randint(-6, 6) * 100}
            await rest_call(rest, "PATCH", f"/v1/orders/{order_id}", owner, body)
            return
        side = rng.choice(["bid", "ask"])
        body: dict[str, Any] = {"sku": sku, "side": side, "quantity": rng.randint(1, 3)}
        if roll > 0.93:
            body |= {"type": "market", "price_cents": 50_000 if side == "bid" else 5_000}
        else:
            offset = rng.randint(-3, 10) * 100
            body |= {"type": "limit", "price_cents": 20_000 - offset if side == "bid"
                     else 20_000 + offset}
        status, answer = await rest_call(rest, "POST", "/v1/orders", key, body)
        assert status == 201, answer
        if answer["order"]["status"] == "open":
            open_orders.append((key, answer["order"]["id"]))

    for _ in range(0, n, 40):
        await asyncio.gather(*(one() for _ in range(40)))


async def test_stream_carries_every_change_in_order_and_equals_rest(
    venue: Venue, feed: FeedServer, rest: TestClient
) -> None:
    sku = venue.skus()[0]
    alice, bob, carol = [await new_key(venue, n) for n in ("alice", "bob", "carol")]
    async with session(feed, alice) as mine, session(feed, carol) as other:
        for s in (mine, other):
            reply = await s.ask({"type": "subscribe", "channels": ["orders", "account"],
                                 "req_id": "sub"})
            assert {"channel": "orders"} in reply["subscriptions"]
            snapshot = await s.wait(lambda m: m["type"] == "snapshot")
            assert snapshot["orders"] == [] and snapshot["channel"] == "orders"
        rng = random.Random(15)
        trading = asyncio.create_task(random_trading(venue, rest, sku, [alice, bob], 800, rng))
        # A second session of alice subscribes while commands are in flight.
        await asyncio.sleep(0)
        async with session(feed, alice) as late:
            await late.ask({"type": "subscribe", "channels": ["orders"], "req_id": "sub"})
            await trading
            await venue._wait_group()
            expected = await all_orders(rest, alice)
            state: dict[int, dict[str, Any]] = {}
            await mine.wait(lambda m: m["type"] == "order" and
                            m["sequence"] >= 1 and _done(state, m, expected), timeout=10)
            late_state: dict[int, dict[str, Any]] = {}
            snapshots = late.of("snapshot")
            assert len(snapshots) == 1
            for order in snapshots[0]["orders"]:
                late_state[order["id"]] = order
            late_orders = late.of("order")
            for message in late_orders:
                assert message["sequence"] > snapshots[0]["sequence"]
                late_state[message["order"]["id"]] = message["order"]
            _check_chain(late_orders, snapshots[0]["sequence"], every_channel=False)
            assert late_orders[0]["prev_sequence"] <= snapshots[0]["sequence"]
            opened = {o["id"]: o for o in expected if o["status"] == "open"}
            assert {i: o for i, o in late_state.items() if o["status"] == "open"} == opened
        stream = mine.of("order", "fill", "settlement", "ledger")
        _check_chain(stream)
        by_id: dict[int, dict[str, Any]] = {}
        for message in mine.of("order"):
            by_id[message["order"]["id"]] = message["order"]
        assert sorted(by_id.values(), key=lambda o: -o["id"]) == expected
        fills = [m["trade"] for m in mine.of("fill")]
        assert fills and all("fee_cents" in t for t in fills)
        assert mine.of("ledger")
        _, trades = await rest_call(rest, "GET", "/v1/trades?limit=1000", alice)
        assert sorted(t["id"] for t in fills) == sorted(t["id"] for t in trades["trades"])
        assert other.of("order", "fill", "settlement", "ledger") == []


def _done(state: dict[int, dict[str, Any]], message: dict[str, Any],
          expected: list[dict[str, Any]]) -> bool:
    state[message["order"]["id"]] = message["order"]
    return len(state) == len(expected) and all(state.get(o["id"]) == o for o in expected)


# ------------------------------------------------------------------ order entry


def _normal(value: Any) -> Any:
    """An answer with the fields that differ between two placements blanked."""
    if isinstance(value, dict):
        return {k: ("*" if k in ("id", "created_at", "updated_at", "time", "ship_by",
                                 "buy_order_id", "sell_order_id", "expires_at")
                     else _normal(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_normal(v) for v in value]
    return value


async def test_order_entry_answers_what_rest_answers(
    venue: Venue, feed: FeedServer, rest: TestClient
) -> None:
    sku = venue.skus()[0]
    key = await new_key(venue, "alice")
    maker = await new_key(venue, "maker")
    # A resting ask at 21,000 for the takers and refusals that need a book.
    for _ in range(6):
        await rest_call(rest, "POST", "/v1/orders", maker,
                        {"sku": sku, "side": "ask", "type": "limit", "price_cents": 21_000,
                         "quantity": 5})
    limit = {"sku": sku, "side": "bid", "type": "limit", "price_cents": 20_000, "quantity": 1}
    bodies: list[Any] = [
        limit,
        {**limit, "price_cents": 21_000},                       # takes: fills
        {**limit, "price_cents": 20_050},                       # off_tick
        {**limit, "price_cents": 10**9},                        # price_out_of_band
        {**limit, "quantity": 10**6},                           # quantity_out_of_range
        {**limit, "quantity": MAX_INT + 1},                     # out of the wire range
        {**limit, "sku": "NOPE-1"},                             # unknown_sku
        {**limit, "colour": "red"},                             # unknown_field
        {k: v for k, v in limit.items() if k != "price_cents"},  # missing_price
        {**limit, "type": "market", "post_only": True},         # invalid_order
        {**limit, "side": "buy"},                               # validation_error
        {**limit, "quantity": True},
        {**limit, "time_in_force": "fok", "quantity": 500, "price_cents": 21_000},
        {**limit, "post_only": True, "price_cents": 21_000},
        {**limit, "expires_in_days": 0},
        [],
        None,
        "an order",
    ]
    async with session(feed, key) as s:
        for i, body in enumerate(bodies):
            status, answer = await rest_call(rest, "POST", "/v1/orders", key,
                                             body if body is not None else "null")
            if body is None:
                status, answer = await _post_raw(rest, key, b"null")
            reply = await s.ask({"type": "place", "req_id": i, "order": body})
            assert reply["type"] == "result"
            assert (reply["status"], _normal(reply["body"])) == (status, _normal(answer)), body
        batches: list[Any] = [
            {"orders": [limit, {**limit, "price_cents": 20_050}, {**limit, "quantity": 0}]},
            {"orders": [limit] * 101},
            {"orders": []},
            {"orders": "x"},
            {"orders": [limit], "extra": 1},
        ]
        for i, batch in enumerate(batches):
            status, answer = await rest_call(rest, "POST", "/v1/orders/batch", key, batch)
            reply = await s.ask({"type": "place_batch", "req_id": f"b{i}", **batch})
            assert (reply["status"], _normal(reply["body"])) == (status, _normal(answer)), batch
        # amend and cancel: the same refusals for the same order ids.
        _, placed = await rest_call(rest, "POST", "/v1/orders", key, limit)
        order_id = placed["order"]["id"]
        _, theirs = await rest_call(rest, "POST", "/v1/orders", maker,
                                    {**limit, "side": "ask", "price_cents": 30_000})
        amends: list[tuple[int, dict[str, Any]]] = [
            (order_id, {}),
            (order_id, {"quantity": 0}),
            (order_id, {"price_cents": 20_050}),
            (order_id, {"colour": 1}),
            (theirs["order"]["id"], {"quantity": 3}),
            (10**12, {"quantity": 3}),
            (MAX_INT + 1, {"quantity": 3}),
        ]
        for i, (oid, body) in enumerate(amends):
            status, answer = await rest_call(rest, "PATCH", f"/v1/orders/{oid}", key, body)
            reply = await s.ask({"type": "amend", "req_id": f"a{i}", "order_id": oid, **body})
            assert (reply["status"], reply["body"]) == (status, answer), (oid, body)
        for i, oid in enumerate([theirs["order"]["id"], 10**12, MAX_INT + 1]):
            status, answer = await rest_call(rest, "DELETE", f"/v1/orders/{oid}", key)
            reply = await s.ask({"type": "cancel", "req_id": f"c{i}", "order_id": oid})
            assert (reply["status"], reply["body"]) == (status, answer), oid
        # A successful amend and cancel, then the cancel again (order_not_open) both ways.
        reply = await s.ask({"type": "amend", "req_id": "ok", "order_id": order_id,
                             "quantity": 4})
        assert reply["status"] == 200 and reply["body"]["order"]["quantity"] == 4
        reply = await s.ask({"type": "cancel", "req_id": "cancel", "order_id": order_id})
        assert reply["status"] == 200 and reply["body"]["order"]["status"] == "canceled"
        status, answer = await rest_call(rest, "DELETE", f"/v1/orders/{order_id}", key)
        reply = await s.ask({"type": "cancel", "req_id": "again", "order_id": order_id})
        assert (reply["status"], reply["body"]) == (status, answer)
        assert status == 409 and answer["code"] == "order_not_open"


async def _post_raw(rest: TestClient, key: str, data: bytes) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    async with rest.post("/v1/orders", data=data, headers=headers) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_client_order_id_is_shared_with_rest(
    venue: Venue, feed: FeedServer, rest: TestClient
) -> None:
    sku = venue.skus()[0]
    key = await new_key(venue, "alice")
    body = {"sku": sku, "side": "bid", "type": "limit", "price_cents": 20_000, "quantity": 1,
            "client_order_id": "rest-first"}
    async with session(feed, key) as s:
        status, first = await rest_call(rest, "POST", "/v1/orders", key, body)
        assert status == 201
        reply = await s.ask({"type": "place", "req_id": 1, "order": body})
        assert (reply["status"], reply["body"]) == (200, first)
        reply = await s.ask({"type": "place", "req_id": 2, "order": {**body, "quantity": 2}})
        assert reply["status"] == 409 and reply["body"]["code"] == "client_order_id_reused"
        ws_body = {**body, "client_order_id": "ws-first"}
        reply = await s.ask({"type": "place", "req_id": 3, "order": ws_body})
        assert reply["status"] == 201
        status, again = await rest_call(rest, "POST", "/v1/orders", key, ws_body)
        assert (status, again) == (200, reply["body"])
        status, again = await rest_call(rest, "POST", "/v1/orders", key,
                                        {**ws_body, "price_cents": 19_000})
        assert status == 409 and again["code"] == "client_order_id_reused"


async def test_order_entry_shares_the_per_key_rate_limit(venue: Venue) -> None:
    sku = venue.skus()[0]
    key = await new_key(venue, "alice")
    limiter = RateLimiter(0.001, 3)
    body = {"sku": sku, "side": "bid", "type": "limit", "price_cents": 20_000, "quantity": 1}
    async with FeedServer(venue, port=0, accounts=venue, limiter=limiter) as feed, \
            session(feed, key) as s:
        for i in range(2):
            assert (await s.ask({"type": "place", "req_id": i, "order": body}))["status"] == 201
        reply = await s.ask({"type": "place_batch", "req_id": "b", "orders": [body, body]})
        assert reply["status"] == 429 and reply["retry_after"] >= 1
        assert reply["body"]["detail"].startswith("A batch of 2 orders counts as 2 requests")
        assert reply["body"]["instance"] == "/v1/orders/batch"
        reply = await s.ask({"type": "place", "req_id": 9, "order": body})
        assert reply["status"] == 429 and reply["body"]["code"] == "rate_limited"


async def test_a_revoked_key_ends_its_sessions(
    venue: Venue, feed: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    sku = venue.skus()[0]
    key = await new_key(venue, "alice")
    other = await new_key(venue, "bob")
    body = {"sku": sku, "side": "bid", "type": "limit", "price_cents": 20_000, "quantity": 1}
    async with session(feed, key) as s, session(feed, key) as idle, session(feed, other) as b:
        assert (await s.ask({"type": "place", "req_id": 1, "order": body}))["status"] == 201
        real = venue.authenticate
        monkeypatch.setattr(venue, "authenticate", lambda k: None if k == key else real(k))
        reply = await s.ask({"type": "place", "req_id": 2, "order": body})
        assert (reply["type"], reply["code"]) == ("error", "unauthorized")
        assert await s.wait_closed() == 1008
        # The idle session of the same key ends within a heartbeat interval.
        assert await idle.wait_closed() == 1008
        assert (await b.ask({"type": "place", "req_id": 3, "order": body}))["status"] == 201
    async with session(feed, other) as b:
        assert feed.drop_key(other) == 1
        assert await b.wait_closed() == 1008


async def test_revoking_a_key_through_rest_ends_its_sessions_at_once(
    venue: Venue, rest: TestClient
) -> None:
    # A heartbeat minutes apart: only the venue's revocation event can end them in time.
    async with FeedServer(venue, port=0, accounts=venue, heartbeat_interval=120) as feed:
        sku = venue.skus()[0]
        key = await new_key(venue, "alice")
        status, made = await rest_call(rest, "POST", "/v1/keys", key, {"label": "bot"})
        assert status == 201
        spare = made["api_key"]
        body = {"sku": sku, "side": "bid", "type": "limit", "price_cents": 20_000, "quantity": 1}
        async with session(feed, key) as busy, session(feed, key) as idle, \
                session(feed, spare) as kept:
            assert (await busy.ask({"type": "place", "req_id": 1, "order": body}))["status"] == 201
            status, listed = await rest_call(rest, "GET", "/v1/keys", spare)
            original = next(k["id"] for k in listed["keys"] if k["label"] == "original")
            status, _ = await rest_call(rest, "DELETE", f"/v1/keys/{original}", spare)
            assert status == 204
            for s in (busy, idle):
                goodbye = await s.wait(lambda m: m["type"] == "error", timeout=5)
                assert goodbye["code"] == "unauthorized"
                assert await s.wait_closed(timeout=5) == 1008
            reply = await kept.ask({"type": "place", "req_id": 2, "order": body})
            assert reply["status"] == 201
        # The revoked key cannot start a new session either.
        async with session(feed) as late:
            reply = await late.ask({"type": "auth", "api_key": key, "req_id": "auth"})
            assert (reply["type"], reply["code"]) == ("error", "unauthorized")
