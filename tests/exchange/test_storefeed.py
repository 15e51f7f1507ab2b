"""The venue's trade store under faults: a locked SQLite file, a killed or stopped
writer, PostgreSQL stopped and started. Every acknowledged trade ends up in the
store; an outage shows as lag, reads never hang."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from exchange.engine import Outcome
from exchange.errors import ExchangeError
from exchange.journal import Journal
from exchange.service.storefeed import StoreFeed
from exchange.venue import Venue, VenueConfig
from tests.exchange.pg_private import private_postgres

SKU = "DZ5485-612-10"
T_FAR = 4_000_000_000_000_000_000


def config(data_dir: Path, **kw: Any) -> VenueConfig:
    base: dict[str, Any] = {
        "data_dir": data_dir,
        "fsync": True,
        "tick_interval": 0.2,
        "store_read_timeout": 0.5,
    }
    base.update(kw)
    return VenueConfig(**base)


def order(side: str) -> dict[str, Any]:
    return {"sku": SKU, "side": side, "type": "limit", "price_cents": 20_000, "quantity": 1}


class Load:
    """Workers that trade one item at a time, keeping every acknowledged trade id."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.trades: set[int] = set()
        self.acks = 0
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, workers: int = 4) -> None:
        a = await self.venue.create_account("seller")
        b = await self.venue.create_account("buyer")
        self.seller = self.venue.authenticate(a["api_key"])
        self.buyer = self.venue.authenticate(b["api_key"])
        self._tasks = [asyncio.create_task(self._work()) for _ in range(workers)]

    async def _work(self) -> None:
        while not self._stop.is_set():
            for account, side in ((self.seller, "ask"), (self.buyer, "bid")):
                _, answer = await self.venue.place_order(account, order(side))
                self.acks += 1
                self.trades.update(fill["id"] for fill in answer["fills"])
            await asyncio.sleep(0.002)

    async def acks_while(self, seconds: float) -> int:
        """Acknowledgements during the next ``seconds`` (the load must go on)."""
        before = self.acks
        await asyncio.sleep(seconds)
        return self.acks - before

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)


def stored_trades(venue: Venue) -> set[int]:
    with venue.analytics.store.engine.connect() as conn:
        return {row[0] for row in conn.exec_driver_sql("SELECT id FROM trades")}


async def caught_up(venue: Venue, load: Load) -> None:
    assert await venue.flush_store(timeout=60), venue.store_status()
    assert load.trades, "the load made no trade"
    assert stored_trades(venue) == load.trades
    assert venue.store_status()["lag"] == 0


def writer_pid(venue: Venue) -> int:
    pid = venue._store.writer.pid if venue._store.writer is not None else None
    assert pid is not None
    return pid


@pytest.fixture
async def sqlite_venue(tmp_path: Path) -> AsyncIterator[Venue]:
    venue = await Venue.open(config(tmp_path, store_stall_seconds=2.0))
    try:
        yield venue
    finally:
        await venue.close()


async def test_a_locked_sqlite_store_lags_and_then_holds_every_trade(
    sqlite_venue: Venue, tmp_path: Path
) -> None:
    venue = sqlite_venue
    load = Load(venue)
    await load.start()
    await load.acks_while(0.5)
    # Another process's exclusive lock (the sqlite3 shell, a backup tool).
    blocker = await asyncio.to_thread(
        lambda: sqlite3.connect(
            str(tmp_path / "exchange.db"),
            timeout=10,
            isolation_level=None,
            check_same_thread=False,
        )
    )
    await asyncio.to_thread(blocker.execute, "BEGIN EXCLUSIVE")
    assert await load.acks_while(3.0) > 0  # orders go on being acknowledged
    assert venue.store_status()["lag"] > 0
    blocker.execute("ROLLBACK")
    blocker.close()
    await load.stop()
    await caught_up(venue, load)


async def test_a_killed_writer_is_restarted_and_catches_up(sqlite_venue: Venue) -> None:
    venue = sqlite_venue
    load = Load(venue)
    await load.start()
    await load.acks_while(0.3)
    os.kill(writer_pid(venue), signal.SIGKILL)
    assert await load.acks_while(1.0) > 0
    await load.stop()
    await caught_up(venue, load)
    assert venue.store_status()["writer_restarts"] == 1


async def test_a_stopped_writer_does_not_hang_reads_and_is_restarted(
    sqlite_venue: Venue,
) -> None:
    venue = sqlite_venue
    load = Load(venue)
    await load.start()
    await load.acks_while(0.3)
    pid = writer_pid(venue)
    os.kill(pid, signal.SIGSTOP)
    try:
        assert await load.acks_while(0.5) > 0
        started = time.monotonic()
        summary = await asyncio.to_thread(venue.analytics.sku_summary, SKU, now_ns=T_FAR)
        assert time.monotonic() - started < 5
        assert summary["as_of_seq"] < venue.released_seq  # answered from what is stored
        with pytest.raises(ExchangeError) as info:
            await asyncio.to_thread(venue.analytics.candles, [SKU], "1h", 0, T_FAR)
        assert (info.value.code, info.value.status) == ("store_behind", 503)
        await load.stop()
        await caught_up(venue, load)
        assert venue.store_status()["writer_restarts"] >= 1
        assert writer_pid(venue) != pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


async def test_postgresql_stopped_and_started_under_load(tmp_path: Path) -> None:
    server = await asyncio.to_thread(private_postgres)
    try:
        url = await asyncio.to_thread(server.database)
        cfg = config(tmp_path, database_url=url, store_close_timeout=1.0)
        venue = await Venue.open(cfg)
        load = Load(venue)
        try:
            await load.start()
            await load.acks_while(0.5)
            await asyncio.to_thread(server.stop)
            assert await load.acks_while(2.0) > 0  # orders go on being acknowledged
            started = time.monotonic()
            with pytest.raises(ExchangeError) as info:
                await asyncio.to_thread(venue.analytics.sku_summary, SKU, now_ns=T_FAR)
            assert info.value.status == 503  # a read says so, it does not hang or 500
            assert time.monotonic() - started < 10
            await asyncio.to_thread(server.start)
            await load.acks_while(0.5)
            await load.stop()
            await caught_up(venue, load)  # no restart
            # Down again, and the venue restarted while it is down.
            load._stop.clear()
            await asyncio.to_thread(server.stop)
            await load.start()
            assert await load.acks_while(1.0) > 0
            await load.stop()
        finally:
            await venue.close()  # gives up on the store after store_close_timeout
        await asyncio.to_thread(server.start)
        venue = await Venue.open(cfg)
        try:
            await caught_up(venue, load)  # after a restart
        finally:
            await venue.close()
    finally:
        await asyncio.to_thread(server.destroy)


def test_an_outbox_write_that_failed_goes_first_with_the_next_group(tmp_path: Path) -> None:
    feed = StoreFeed(tmp_path, None, process=False, fsync=False)
    feed.outbox = outbox = Journal(tmp_path / "outbox", fsync=False)
    outbox.open()
    real_append = outbox.append
    calls = 0

    def failing_once(records: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError(28, "No space left on device")
        real_append(records)

    outbox.append = failing_once  # type: ignore[method-assign]
    with pytest.raises(OSError):
        feed.append([(Outcome(seq=1, ts=0), "Tick"), (Outcome(seq=2, ts=0), "Tick")])
    feed.append([(Outcome(seq=3, ts=0), "Tick")])
    assert [seq for seq, _ in outbox.replay()] == [1, 2, 3]
    outbox.close()
