"""Snapshots: every ``snapshot_every`` commands and on close, never ahead of the journal.

A snapshot is written only once the journal is durable up to its seq. Then
the journal rotates, segments older than the previous snapshot are pruned
(recovery can fall back to that one if the newest turns out damaged), and two
snapshots are kept. Periodic snapshots are encoded by a forked child
(copy-on-write, like Redis's BGSAVE), so the event loop does not pause for a
large state; the child writes its file only when the parent tells it the
journal is durable up to it. Without ``os.fork`` (or with forking off) the
state is encoded on the loop and written from the io thread.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import Executor

from ..engine import Engine
from ..journal import SnapshotStore
from .ports import SegmentedJournal

__all__ = ["ForkedSnapshot", "Snapshotter"]

log = logging.getLogger("exchange.venue")


class ForkedSnapshot:
    """A snapshot serialized by a forked child, written only when released.

    The child holds the engine as it was at the fork (copy-on-write), encodes
    it, and waits on a pipe; the parent releases it once the journal is
    durable up to ``seq`` (a snapshot must never be ahead of the journal),
    then reaps it in a thread.
    """

    def __init__(self, pid: int, wfd: int, seq: int) -> None:
        self.pid = pid
        self.wfd = wfd
        self.seq = seq
        self.released = False
        self.status: int | None = None
        self.waiter: asyncio.Task[None] | None = None

    @classmethod
    def start(cls, engine: Engine, snapshots: SnapshotStore, seq: int) -> ForkedSnapshot:
        """Fork a child that encodes ``engine`` (at ``seq``) and waits for its release."""
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child; coverage cannot see it
            code = 1
            try:
                os.close(wfd)
                data = engine.snapshot_bytes()
                if os.read(rfd, 1) == b"1":
                    snapshots.write(seq, data)
                    code = 0
                else:
                    code = 3
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(rfd)
        log.info("venue: snapshot at seq %d forked to pid %d", seq, pid)
        return cls(pid, wfd, seq)

    def _reap(self) -> None:
        _, status = os.waitpid(self.pid, 0)
        self.status = status

    def release(self) -> None:
        """Let the child write its file, and start reaping it."""
        self.released = True
        try:
            os.write(self.wfd, b"1")
        finally:
            os.close(self.wfd)
        self.waiter = asyncio.ensure_future(asyncio.to_thread(self._reap))

    def abandon(self) -> None:
        """Tell the child to exit without writing."""
        self.released = True
        os.close(self.wfd)
        self.waiter = asyncio.ensure_future(asyncio.to_thread(self._reap))

    def ok(self) -> bool:
        """Whether the child wrote the snapshot."""
        good = self.status is not None and os.waitstatus_to_exitcode(self.status) == 0
        if not good:
            log.error("venue: forked snapshot at seq %d failed (%s)", self.seq, self.status)
        return good


class Snapshotter:
    """Takes, releases and finishes snapshots between group commits.

    Args:
        engine: the live engine (read only).
        journal: the journal to rotate and prune after a snapshot.
        snapshots: where snapshot files go.
        io: the single-thread executor the journal is written from (rotation
            and pruning must not run while the committer appends).
        every: commands between periodic snapshots.
        fork: encode periodic snapshots in a forked child.
        snapshot_seq: seq of the snapshot recovery started from (0: none).
        retention_s: journal segments that a kept snapshot covers are
            deleted once last written this many seconds ago; None keeps
            them forever (a start never reads them either way).
        before_write: called in the io thread before a snapshot is written
            (the store outbox is made durable up to it there).
    """

    def __init__(
        self,
        engine: Engine,
        journal: SegmentedJournal,
        snapshots: SnapshotStore,
        io: Executor,
        *,
        every: int,
        fork: bool,
        snapshot_seq: int,
        retention_s: float | None = 7 * 86_400.0,
        before_write: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.journal = journal
        self.snapshots = snapshots
        self.io = io
        self.every = every
        self.fork = fork and hasattr(os, "fork")
        self.before_write = before_write
        self.snap_seq = snapshot_seq
        """Seq of the last snapshot taken (or being taken)."""
        self.prev_snap_seq = snapshot_seq
        """Seq of the last snapshot written; the journal is kept from it on."""
        self.retention_s = retention_s
        self._pending: tuple[int, bytes] | None = None
        self._job: ForkedSnapshot | None = None

    async def between_groups(self, seq: int) -> None:
        """Start, release or finish a snapshot (committer only, journal healthy).

        Args:
            seq: the journal's last appended seq.
        """
        loop = asyncio.get_running_loop()
        durable = self.journal.durable_seq
        job = self._job
        if job is not None:
            if not job.released and durable >= job.seq:
                await self._before_write()
                job.release()
            if job.waiter is not None and job.waiter.done():
                self._job = None
                if job.ok():
                    await loop.run_in_executor(self.io, self.after_snapshot, job.seq)
                else:
                    self.snap_seq = self.prev_snap_seq  # try again later
        elif self._pending is not None:
            if durable >= self._pending[0]:
                snap_seq, data = self._pending
                self._pending = None
                try:
                    await loop.run_in_executor(self.io, self.write, snap_seq, data)
                except Exception:
                    log.exception("venue: snapshot at seq %d failed", snap_seq)
        elif seq - self.snap_seq >= self.every:
            self.snap_seq = seq
            if self.fork:
                self._job = ForkedSnapshot.start(self.engine, self.snapshots, seq)
                if durable >= seq:
                    await self._before_write()
                    self._job.release()
            else:
                # Taken now, written once the journal is durable up to its seq.
                self._pending = (seq, self.engine.snapshot_bytes())

    async def _before_write(self) -> None:
        if self.before_write is not None:
            await asyncio.get_running_loop().run_in_executor(self.io, self.before_write)

    def write(self, seq: int, data: bytes) -> None:
        """Write a snapshot in this process, then rotate and prune (io thread)."""
        if self.before_write is not None:
            self.before_write()
        self.snapshots.write(seq, data)
        log.info("venue: snapshot at seq %d (%d bytes)", seq, len(data))
        self.after_snapshot(seq)

    def after_snapshot(self, seq: int) -> None:
        """Rotate the journal and prune what no kept snapshot needs (io thread,
        between groups: never while the committer appends)."""
        self.journal.rotate()
        if self.prev_snap_seq and self.retention_s is not None:
            # Keep the journal from the previous snapshot on: if the newest
            # snapshot turns out damaged, recovery falls back to that one.
            # Older segments are kept for audit for the retention period.
            self.journal.prune(self.prev_snap_seq, older_than=time.time() - self.retention_s)
        self.snapshots.prune(keep=2)
        self.prev_snap_seq = seq
        self.snap_seq = max(self.snap_seq, seq)

    async def finish(self, *, journal_ok: bool) -> None:
        """At close: let a forked snapshot finish (or give it up)."""
        job, self._job = self._job, None
        if job is None:
            return
        abandoned = False
        if not job.released:
            if journal_ok and self.journal.durable_seq >= job.seq:
                await self._before_write()
                job.release()
            else:
                job.abandon()
                abandoned = True
        if job.waiter is not None:
            await job.waiter
            if abandoned or not job.ok():
                self.snap_seq = self.prev_snap_seq
            else:
                await asyncio.get_running_loop().run_in_executor(
                    self.io, self.after_snapshot, job.seq
                )

    async def final(self, seq: int) -> None:
        """At close: write a snapshot of the engine at ``seq`` unless one exists."""
        if seq == self.snap_seq:
            return
        data = self.engine.snapshot_bytes()
        try:
            await asyncio.get_running_loop().run_in_executor(self.io, self.write, seq, data)
        except Exception:
            # The journal holds everything; the store, journal and lock
            # must still be closed by the caller.
            log.exception("venue: the final snapshot failed")
