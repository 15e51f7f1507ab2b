"""The chaos soak's venue and the faults it suffers (see :mod:`bench.chaos`).

:class:`Venue` is one real ``exchange serve`` process at a time (through
:mod:`bench.chaosserve`, for its steppable wall clock) on free ports, its
data directory on a small tmpfs when one can be mounted (so the disk can be
filled for real), its trade store on a private PostgreSQL cluster
(:class:`bench.chaospg.PrivatePostgres`) or SQLite in the data directory.
:class:`Faults` injects one fault at a time and waits for the venue to be
ready again; each kind is a method named for what an operator would see.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from random import Random
from typing import IO, Any

import aiohttp
import psutil

from .chaospg import PrivatePostgres, bindir

__all__ = ["KINDS", "Faults", "Venue", "VenueDown"]

ROOT = Path(__file__).resolve().parent.parent
DISK_SIZE = "512m"
HOUR_NS = 3600 * 10**9
STALL_SECONDS = 30.0  # exchange.service.venue.VenueConfig.store_stall_seconds
START_TIMEOUT = 120.0

KINDS = [
    "server_kill9",  # kill -9 of the whole server, then a start
    "server_sigterm",  # SIGTERM (graceful stop), then a start
    "writer_kill9",  # kill -9 of the store writer process
    "writer_stop",  # SIGSTOP of the writer for a few seconds, then SIGCONT
    "writer_hang",  # SIGSTOP past the supervisor's stall limit: it kills the writer
    "store_down",  # PostgreSQL stopped then started / SQLite locked by another process
    "store_down_restart",  # PostgreSQL down across a server restart
    "disk_full",  # the data directory's disk filled, then freed
    "clock_forward",  # the wall clock stepped hours ahead, then back
    "clock_backward",  # the wall clock stepped hours back, then ahead
]


class VenueDown(Exception):
    """The venue did not start, or did not get ready, in time (a finding)."""


class Venue:
    """The server under test, its store and its disk; restart it at will."""

    def __init__(self, root: Path, store: str, log: IO[str]) -> None:
        self.root = root
        self.store = store
        self.log = log
        self.unavailable: dict[str, str] = {}
        self.disk: Path | None = None
        self.pg: PrivatePostgres | None = None
        self.database_url: str | None = None
        self.proc: subprocess.Popen[str] | None = None
        self.http_url = ""
        self.metrics_url = ""
        self.admin_key = ""
        self.starts = 0
        self.exit_codes: Counter[str] = Counter()
        self.orphans = 0
        self.clock_file = root / "clock-offset-ns"
        self.session: aiohttp.ClientSession | None = None

    # ------------------------------------------------------------ set up

    async def setup(self) -> None:
        """Mount the disk (when allowed), make the store, start the server."""
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        self._mount_disk()
        base = self.disk if self.disk is not None else self.root
        self.data_dir = base / "data"
        if self.store == "postgresql":
            binaries = bindir()
            if binaries is None:
                raise SystemExit("chaos: PostgreSQL is not installed (initdb, pg_ctl); "
                                 "use --store sqlite")
            self.pg = await asyncio.to_thread(PrivatePostgres, binaries)
            await asyncio.to_thread(self.pg.start)
            self.database_url = await asyncio.to_thread(self.pg.database)
        else:
            self.unavailable["store_down_restart"] = (
                "a start needs the store: a SQLite lock held across a restart only delays it"
            )
        self.set_clock(0)
        await self.start(first=True)

    def _mount_disk(self) -> None:
        mount = self.root / "disk"
        mount.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE},mode=0700", "tmpfs", str(mount)],
            capture_output=True, text=True, check=False,
        )
        if done.returncode == 0:
            self.disk = mount
        else:
            reason = (done.stderr.strip() or "mount failed").splitlines()[0]
            self.unavailable["disk_full"] = f"cannot mount a tmpfs here ({reason})"

    async def close(self, keep: bool = False) -> None:
        """Stop everything this made and unmount the disk (``keep``: copy the data out)."""
        if self.proc is not None and self.proc.poll() is None:
            await self.stop(signal.SIGTERM)
        self._kill_group()
        if self.session is not None:
            await self.session.close()
        if self.pg is not None:
            await asyncio.to_thread(self.pg.destroy)
        if self.disk is not None:
            with contextlib.suppress(OSError):
                (self.disk / "filler").unlink()
            if keep:
                shutil.copytree(self.data_dir, self.root / "data", dirs_exist_ok=True)
            subprocess.run(["umount", "-l", str(self.disk)], check=False)

    # ------------------------------------------------------------ the server

    def _command(self, first: bool) -> list[str]:
        cmd = [sys.executable, "-m", "bench.chaosserve", "serve",
               "--http-port", "0", "--feed-port", "0", "--metrics-port", "0",
               "--data-dir", str(self.data_dir), "--rate-limit", "0",
               "--shutdown-grace", "5", "--log-level", "warning"]
        if self.database_url is not None:
            cmd += ["--database-url", self.database_url]
        if first:
            cmd.append("--bootstrap-admin")
        return cmd

    async def start(self, first: bool = False) -> None:
        """Start the server; return once ``/readyz`` answers 200."""
        self.starts += 1
        print(f"--- start {self.starts} ({time.strftime('%H:%M:%S')})", file=self.log, flush=True)
        env = {**os.environ, "CHAOS_CLOCK_FILE": str(self.clock_file),
               "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        proc = subprocess.Popen(
            self._command(first), stdout=subprocess.PIPE, stderr=self.log, text=True,
            cwd=ROOT, env=env, start_new_session=True,
        )
        self.proc = proc
        lines = 5 if first else 3
        got: list[str] = []
        for _ in range(lines):
            line = await self._line(proc)
            if not line:
                raise VenueDown(f"exchange serve exited {proc.wait()} before printing its URLs")
            got.append(line.strip())
        self.http_url, self.metrics_url = got[0], got[2]
        if first:
            self.admin_key = got[4].split(":", 1)[1].strip()
        assert proc.stdout is not None
        threading.Thread(target=_drain, args=(proc.stdout, self.log), daemon=True).start()
        await self.ready()

    async def _line(self, proc: subprocess.Popen[str]) -> str:
        assert proc.stdout is not None
        reading = asyncio.create_task(asyncio.to_thread(proc.stdout.readline))
        done, _ = await asyncio.wait({reading}, timeout=START_TIMEOUT)
        if not done:
            proc.kill()
            await reading
            raise VenueDown(f"exchange serve printed nothing in {START_TIMEOUT:g} s")
        return reading.result()

    async def stop(self, sig: signal.Signals) -> int:
        """Send ``sig`` to the server process (only it), wait for its exit code."""
        proc = self.proc
        assert proc is not None
        before = self._group()
        proc.send_signal(sig)
        try:
            code = await asyncio.to_thread(proc.wait, 60)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = await asyncio.to_thread(proc.wait)
            self.exit_codes["hung_after_" + sig.name] += 1
        self.exit_codes[f"{sig.name}:{code}"] += 1
        # What it started (the store writer, its fork server) must go by itself.
        deadline = time.monotonic() + 10
        while any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in before):
            if time.monotonic() > deadline:
                self.orphans += sum(p.is_running() for p in before)
                break
            await asyncio.sleep(0.1)
        self._kill_group()
        return code

    async def stop_clean(self) -> None:
        """SIGTERM, which must end in exit 0."""
        code = await self.stop(signal.SIGTERM)
        if code != 0:
            raise VenueDown(f"SIGTERM: exchange serve exited {code}, not 0")

    def store_url(self) -> str:
        """The trade store's SQLAlchemy URL, for reading it directly."""
        return self.database_url or f"sqlite:///{self.data_dir / 'exchange.db'}"

    def _group(self) -> list[psutil.Process]:
        assert self.proc is not None
        with contextlib.suppress(psutil.Error):
            return psutil.Process(self.proc.pid).children(recursive=True)
        return []

    def _kill_group(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(OSError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def writer_pid(self) -> int | None:
        """The store writer's pid: a child of the server's multiprocessing fork server."""
        assert self.proc is not None
        for child in self._group():
            with contextlib.suppress(psutil.Error):
                if child.ppid() != self.proc.pid and "multiprocessing" in " ".join(
                        child.parent().cmdline()):  # type: ignore[union-attr]
                    return child.pid
        return None

    async def ready(self, timeout: float = START_TIMEOUT) -> None:
        """Wait until ``/readyz`` answers 200 (the venue takes orders)."""
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                assert self.session is not None
                async with self.session.get(self.http_url + "/readyz") as r:
                    if r.status == 200:
                        return
            if self.proc is not None and self.proc.poll() is not None:
                raise VenueDown(f"exchange serve exited {self.proc.returncode}")
            if time.monotonic() > deadline:
                raise VenueDown(f"not ready after {timeout:g} s")
            await asyncio.sleep(0.1)

    async def metrics(self) -> dict[str, float]:
        """The server's metrics, each name summed over its labels."""
        assert self.session is not None
        async with self.session.get(self.metrics_url) as r:
            text = await r.text()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            name, _, value = line.rpartition(" ")
            name = name.split("{", 1)[0]
            with contextlib.suppress(ValueError):
                out[name] = out.get(name, 0.0) + float(value)
        return out

    async def caught_up(self, timeout: float = 300.0) -> dict[str, float]:
        """Wait until the store's lag is 0; its metrics then."""
        deadline = time.monotonic() + timeout
        while True:
            m = await self.metrics()
            if m.get("exchange_store_lag_seqs", 1) == 0:
                return m
            if time.monotonic() > deadline:
                raise VenueDown(f"the store is still {m.get('exchange_store_lag_seqs')} "
                                f"seqs behind after {timeout:g} s")
            await asyncio.sleep(0.2)

    # ------------------------------------------------------------ the world around it

    def set_clock(self, offset_ns: int) -> None:
        """Step the server's wall clock to the real one plus ``offset_ns``."""
        tmp = self.clock_file.with_suffix(".tmp")
        tmp.write_text(str(offset_ns))
        os.replace(tmp, self.clock_file)

    def fill_disk(self) -> None:
        """Fill the data directory's disk to the last byte."""
        assert self.disk is not None
        with open(self.disk / "filler", "wb", buffering=0) as f:
            stat = os.statvfs(self.disk)
            with contextlib.suppress(OSError):
                os.posix_fallocate(f.fileno(), 0, max(stat.f_bavail * stat.f_frsize - 65536, 1))
            f.seek(0, os.SEEK_END)
            for size in (65536, 4096, 1):
                try:
                    while True:
                        f.write(bytes(size))
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise

    def free_disk(self) -> None:
        """Give the disk its space back."""
        assert self.disk is not None
        (self.disk / "filler").unlink()

    async def lock_sqlite(self) -> subprocess.Popen[str]:
        """Another process holding ``BEGIN EXCLUSIVE`` on the store (a shell, a backup)."""
        script = ("import sqlite3, sys\n"
                  "c = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)\n"
                  "c.execute('BEGIN EXCLUSIVE')\nprint('locked', flush=True)\n"
                  "sys.stdin.read()\nc.execute('ROLLBACK')\n")
        holder = subprocess.Popen(
            [sys.executable, "-c", script, str(self.data_dir / "exchange.db")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        assert holder.stdout is not None
        line = await asyncio.to_thread(holder.stdout.readline)
        if line.strip() != "locked":
            raise VenueDown("could not lock the SQLite store")
        return holder


def _drain(stream: IO[str], log: IO[str]) -> None:
    for line in stream:
        log.write(line)


class Faults:
    """Inject one fault of a kind, hold it a while under load, undo it."""

    def __init__(self, venue: Venue, rng: Random, kinds: Sequence[str] = KINDS, *,
                 once: bool = False, hold: float = 1.0) -> None:
        self.venue = venue
        self.rng = rng
        self.kinds = list(kinds)
        self.once = once
        self.hold = hold
        self.done: Counter[str] = Counter()
        self.clock_steps_seen = 0
        self._round: list[str] = []

    def available(self) -> list[str]:
        return [k for k in self.kinds if k not in self.venue.unavailable]

    def next_kind(self, remaining: float) -> str | None:
        """Every available kind once per round, in a random order; None when none fits
        (``once``: one round, whatever the time left)."""
        if not self._round:
            if self.once and self.done:
                return None
            self._round = self.available()
            self.rng.shuffle(self._round)
        fits = [k for k in self._round if self.once or remaining > self._needs(k)]
        if not fits:
            return None
        kind = fits[0]
        self._round.remove(kind)
        return kind

    @staticmethod
    def _needs(kind: str) -> float:
        return STALL_SECONDS + 15 if kind == "writer_hang" else 8.0

    async def inject(self, kind: str) -> None:
        await getattr(self, kind)()
        self.done[kind] += 1
        await self.venue.ready()

    def _hold(self, low: float = 2.0, high: float = 6.0) -> float:
        return self.hold * self.rng.uniform(low, high)

    async def server_kill9(self) -> None:
        await self.venue.stop(signal.SIGKILL)
        await self.venue.start()

    async def server_sigterm(self) -> None:
        await self.venue.stop_clean()
        await self.venue.start()

    async def _writer(self) -> int:
        deadline = time.monotonic() + 30
        while (pid := self.venue.writer_pid()) is None:  # restarting after a fault
            if time.monotonic() > deadline:
                raise VenueDown("no store writer process")
            await asyncio.sleep(0.1)
        return pid

    async def writer_kill9(self) -> None:
        os.kill(await self._writer(), signal.SIGKILL)
        await asyncio.sleep(self._hold(1, 3))

    async def writer_stop(self, seconds: float | None = None) -> None:
        pid = await self._writer()
        os.kill(pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(seconds if seconds is not None else self._hold())
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    async def writer_hang(self) -> None:
        await self.writer_stop(STALL_SECONDS + 3)

    async def store_down(self) -> None:
        if self.venue.pg is not None:
            await asyncio.to_thread(self.venue.pg.stop)
            try:
                await asyncio.sleep(self._hold(3, 10))
            finally:
                await asyncio.to_thread(self.venue.pg.start)
            return
        holder = await self.venue.lock_sqlite()
        try:
            await asyncio.sleep(self._hold(3, 10))
        finally:
            holder.communicate("", timeout=30)

    async def store_down_restart(self) -> None:
        assert self.venue.pg is not None
        await asyncio.to_thread(self.venue.pg.stop)
        try:
            await asyncio.sleep(self._hold(1, 3))
            await self.venue.stop_clean()
        finally:
            await asyncio.to_thread(self.venue.pg.start)
        await self.venue.start()

    async def disk_full(self) -> None:
        await asyncio.to_thread(self.venue.fill_disk)
        try:
            await asyncio.sleep(self._hold(2, 5))
        finally:
            self.venue.free_disk()

    async def _step(self, offset_ns: int) -> None:
        before = (await self.venue.metrics()).get("exchange_clock_steps_total", 0.0)
        self.venue.set_clock(offset_ns)
        try:
            await asyncio.sleep(self._hold(2, 5))
        finally:
            self.venue.set_clock(0)
        # The venue logs and counts both steps (there and back) from its timer.
        deadline = time.monotonic() + 5
        seen = 0.0
        while seen < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            seen = (await self.venue.metrics()).get("exchange_clock_steps_total", 0.0) - before
        self.clock_steps_seen += int(seen)

    async def clock_forward(self) -> None:
        await self._step(self.rng.choice([2, 25, 49, 24 * 30]) * HOUR_NS)

    async def clock_backward(self) -> None:
        await self._step(-self.rng.choice([1, 3, 25, 24 * 30]) * HOUR_NS)

    def summary(self) -> dict[str, Any]:
        return {"faults": dict(sorted(self.done.items())),
                "faults_total": sum(self.done.values()),
                "faults_unavailable": dict(self.venue.unavailable)}


def tmp_root() -> Path:
    """A private directory for one soak."""
    return Path(tempfile.mkdtemp(prefix="exchange-chaos-"))
