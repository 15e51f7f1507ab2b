"""/healthz, /readyz and order refusals name the venue's real state on a full disk."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from api.app import make_app
from exchange.venue import Venue, VenueConfig
from tests.exchange.faultyfiles import FaultyFiles

from .conftest import Api


async def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_full_disk_shows_in_health_and_problems_then_clears(
    tmp_path: Path, aiohttp_client: Callable[..., Any]
) -> None:
    files = FaultyFiles()
    venue = await Venue.open(
        VenueConfig(data_dir=tmp_path / "data", fsync=True, store=False, journal_files=files)
    )
    try:
        api = Api(await aiohttp_client(make_app(venue, rate_limit=0)))
        key = await api.account()
        sku = venue.products()[0]["skus"][0]["sku"]
        order = {"sku": sku, "side": "ask", "type": "limit", "price_cents": 20_000, "quantity": 1}
        auth = {"Authorization": f"Bearer {key}"}

        durable = venue.released_seq
        files.fill()
        reply = await api.post("/v1/orders", json=order, headers=auth)
        assert reply.status == 503 and reply.body["code"] == "not_ready"
        assert "disk is full or failing" in reply.body["detail"]
        # Cut back and reloaded; then it waits for the disk.
        await _until(lambda: venue.engine.last_seq == durable)
        await _until(lambda: venue.health().state == "journal_unwritable")

        health = await api.get("/healthz")
        assert health.status == 200  # it gets well by itself: no restart wanted
        assert health.body["status"] == "journal_unwritable"
        ready = await api.get("/readyz")
        assert ready.status == 503 and ready.body["state"] == "journal_unwritable"
        assert "free space" in ready.body["detail"]
        assert ready.headers["Retry-After"] == "1"
        reply = await api.post("/v1/orders", json=order, headers=auth)
        assert reply.status == 503 and "free space" in reply.body["detail"]

        files.free()
        await _until(lambda: venue.ready)
        assert (await api.get("/healthz")).body == {"status": "ok"}
        assert (await api.get("/readyz")).body == {"status": "ready"}
        reply = await api.post("/v1/orders", json=order, headers=auth)
        assert reply.status == 201, reply.body
    finally:
        await venue.close()


async def test_a_store_behind_is_ready_and_says_how_far(
    tmp_path: Path, aiohttp_client: Callable[..., Any]
) -> None:
    venue = await Venue.open(VenueConfig(data_dir=tmp_path / "data", fsync=False, store=False))
    try:
        api = Api(await aiohttp_client(make_app(venue, rate_limit=0)))
        # The store's status as the venue reports it (position, lag, writer state).
        status = {"enabled": True, "lag": 25_000, "writer_alive": True}
        venue.store_status = lambda: status  # type: ignore[attr-defined, method-assign]
        ready = await api.get("/readyz")
        assert ready.status == 200  # orders are still accepted
        assert ready.body["status"] == "store_behind" and ready.body["store_lag"] == 25_000
        assert "25000 journal records behind" in ready.body["detail"]
        health = await api.get("/healthz")
        assert health.status == 200 and health.body["status"] == "store_behind"
        status.update(lag=3, writer_alive=False)  # a dead writer is behind at any lag
        assert (await api.get("/readyz")).body["status"] == "store_behind"
        status.update(writer_alive=True)
        assert (await api.get("/readyz")).body == {"status": "ready"}
    finally:
        await venue.close()
