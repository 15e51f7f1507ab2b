"""Fixtures of the feed tests: a fake venue and a real FeedServer on a free port."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import web
from websockets.asyncio.client import ClientConnection, connect

from exchange.marketdata import MarketDataEvent, TradePrint
from feeds.server import FeedServer

from .fakes import FakeVenue


@pytest.fixture
def venue() -> FakeVenue:
    return FakeVenue()


@pytest.fixture
async def server(venue: FakeVenue) -> AsyncIterator[FeedServer]:
    feed = FeedServer(venue, port=0)
    await feed.start()
    yield feed
    await feed.close()


@pytest.fixture
async def rest(venue: FakeVenue, aiohttp_server: Any) -> str:
    """``GET /v1/skus/{sku}/trades`` over the fake venue's published trades; its base URL."""
    published: dict[str, list[dict[str, Any]]] = {}

    def record(events: list[MarketDataEvent]) -> None:
        for e in events:
            if isinstance(e, TradePrint):
                published.setdefault(e.sku, []).append(
                    {"id": e.trade_id, "sku": e.sku, "price_cents": e.price_cents,
                     "quantity": e.quantity, "taker_side": e.taker_side,
                     "time": "2026-11-25T15:44:22.123Z"})

    async def trades(request: web.Request) -> web.Response:
        # As the API: newest first, ids below ``before``, at most ``limit``.
        before = int(request.query.get("before", 2**62))
        limit = int(request.query.get("limit", 50))
        rows = [t for t in reversed(published.get(request.match_info["sku"], []))
                if t["id"] < before][:limit]
        return web.json_response({"sku": request.match_info["sku"], "trades": rows})

    venue.subscribe(record)
    app = web.Application()
    app.router.add_get("/v1/skus/{sku}/trades", trades)
    server = await aiohttp_server(app)
    return str(server.make_url("")).rstrip("/")


def url(feed: FeedServer) -> str:
    return f"ws://127.0.0.1:{feed.port}"


async def open_client(
    feed: FeedServer, *, rcvbuf: int | None = None, **kw: Any
) -> ClientConnection:
    """A plain websockets client; ``rcvbuf`` shrinks its socket's receive buffer."""
    if rcvbuf is None:
        return await connect(url(feed), **kw)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", feed.port))
    return await connect(url(feed), sock=sock, **kw)


async def recv(ws: ClientConnection, timeout: float = 2.0) -> dict[str, Any]:
    """The next message, decoded; fails the test after ``timeout`` seconds."""
    data = await asyncio.wait_for(ws.recv(), timeout)
    message: dict[str, Any] = orjson.loads(data)
    return message


async def recv_type(ws: ClientConnection, kind: str, timeout: float = 2.0) -> dict[str, Any]:
    """The next message of type ``kind``, skipping heartbeats and other types."""
    async with asyncio.timeout(timeout):
        while True:
            message = await recv(ws, timeout)
            if message["type"] == kind:
                return message


async def send(ws: ClientConnection, message: dict[str, Any]) -> None:
    await ws.send(orjson.dumps(message).decode())
