"""A venue whose journal's disk fills or fails: 503 saying what helps, then resume by itself."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from exchange.errors import ExchangeError
from exchange.health import State
from exchange.journal import Journal
from exchange.venue import Venue, VenueConfig

from .faultyfiles import FaultyFiles

SKU = "DZ5485-612-10"


def config(data_dir: Path, files: FaultyFiles | None, **kw: Any) -> VenueConfig:
    return VenueConfig(
        data_dir=data_dir, fsync=True, tick_interval=3600, store=False, journal_files=files, **kw
    )


def ask(price: int) -> dict[str, Any]:
    return {"sku": SKU, "side": "ask", "type": "limit", "price_cents": price, "quantity": 1}


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for a state the venue reaches by itself in the background."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def journal_seqs(data_dir: Path) -> list[int]:
    j = Journal(data_dir / "journal", fsync=False)
    j.open()
    try:
        assert j.repaired is None, j.repaired  # no torn tail left behind
        return [seq for seq, _ in j.replay()]
    finally:
        j.close()


@pytest.mark.parametrize("fault", ["full_mid_record", "full", "sync_fails"])
async def test_a_journal_fault_refuses_with_503_then_resumes_by_itself(
    tmp_data_dir: Path, fault: str
) -> None:
    files = FaultyFiles()
    venue = await Venue.open(config(tmp_data_dir, files))
    try:
        created = await venue.create_account("alice")
        alice = venue.authenticate(created["api_key"])
        assert alice is not None
        _, first = await venue.place_order(alice, ask(20_000))
        durable = venue.released_seq
        assert venue.health().state is State.READY

        if fault == "full_mid_record":
            files.space = 10  # the next record is written in part
        elif fault == "full":
            files.fill()
        else:
            files.sync_error = errno.EIO
        with pytest.raises(ExchangeError) as info:
            await venue.place_order(alice, ask(20_100))
        assert info.value.code == "not_ready" and info.value.status == 503
        assert "disk is full or failing" in info.value.message
        assert "resumes by itself" in info.value.message
        # Cut back and reloaded: the engine holds exactly the durable state,
        # then it waits for the disk.
        await until(lambda: venue.engine.last_seq == durable)
        await until(lambda: venue.health().state is State.JOURNAL_UNWRITABLE)
        assert not venue.ready
        assert "free space" in venue.health().detail
        # While the disk refuses, orders are refused at once, saying what helps.
        with pytest.raises(ExchangeError) as info:
            await venue.place_order(alice, ask(20_200))
        assert "free space" in info.value.message
        # The refused order never happened: the engine holds the durable state.
        assert venue.engine.last_seq == durable
        assert [o["id"] for o in venue.list_orders(alice)] == [first["order"]["id"]]

        files.free()
        await until(lambda: venue.ready)
        assert venue.health().state is State.READY
        _, third = await venue.place_order(alice, ask(20_300))
        assert third["order"]["status"] == "open"
        assert venue.released_seq == durable + 1
    finally:
        await venue.close()
    assert journal_seqs(tmp_data_dir)[-2:] == [durable, durable + 1]
    venue = await Venue.open(config(tmp_data_dir, None))
    try:
        alice = venue.account(alice.id)
        assert alice is not None
        prices = [o["price_cents"] for o in venue.list_orders(alice)]
        assert sorted(prices) == [20_000, 20_300]
    finally:
        await venue.close()


async def test_closing_during_an_outage_stops_cleanly(tmp_data_dir: Path) -> None:
    files = FaultyFiles()
    venue = await Venue.open(config(tmp_data_dir, files))
    created = await venue.create_account("alice")
    alice = venue.authenticate(created["api_key"])
    assert alice is not None
    files.fill()
    with pytest.raises(ExchangeError):
        await venue.place_order(alice, ask(20_000))
    await until(lambda: venue.health().state is State.JOURNAL_UNWRITABLE)
    await asyncio.wait_for(venue.close(), 10)
    venue = await Venue.open(config(tmp_data_dir, None))
    try:
        assert venue.ready and venue.account(alice.id) is not None
    finally:
        await venue.close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 4 MiB tmpfs (root only); skipped only where mounting is impossible."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
        capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(path: Path) -> None:
    """Write zeros to ``path`` until the disk refuses."""
    with open(path, "wb", buffering=0) as f:
        block = bytes(64 * 1024)
        with contextlib.suppress(OSError):
            while True:
                f.write(block)


async def test_a_real_full_disk_refuses_then_resumes_when_space_is_freed(
    small_disk: Path,
) -> None:
    data_dir = small_disk / "data"
    venue = await Venue.open(config(data_dir, None))
    try:
        created = await venue.create_account("alice")
        alice = venue.authenticate(created["api_key"])
        assert alice is not None
        await venue.place_order(alice, ask(20_000))
        durable = venue.released_seq
        filler = small_disk / "filler"
        fill(filler)
        with pytest.raises(ExchangeError) as info:
            for i in range(200):  # the page cache may take a few before the disk says no
                await venue.place_order(alice, ask(20_100 + 100 * i))
                durable = venue.released_seq
        assert info.value.code == "not_ready"
        await until(lambda: venue.engine.last_seq == durable)  # cut back and reloaded
        assert venue.health().state is State.JOURNAL_UNWRITABLE
        filler.unlink()
        await until(lambda: venue.ready)
        _, placed = await venue.place_order(alice, ask(50_000))
        assert placed["order"]["status"] == "open"
    finally:
        await venue.close()
    assert journal_seqs(data_dir)[-2:] == [durable, durable + 1]
