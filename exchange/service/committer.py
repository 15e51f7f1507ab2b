"""Group commit: commands applied on the loop, journaled in groups, released in order.

The venue applies a command to the engine on the event loop and hands its
encoded record to :meth:`Committer.enqueue`. One committer task hands the
waiting records to the io thread, which appends them with one write and
makes them durable with one ``journal.sync()``; everything enqueued while
that is in flight forms the next group, and all its callers share one
future. Once a group is durable the committer calls ``release`` with the
group's outcomes (in journal order), then resolves the group's future: so
nothing is acknowledged or published before it is durable.

A journal write or sync error fails every waiting caller with
``not_ready`` (503): none of their commands is durable, and none will be.
Then the committer awaits ``on_failure`` (the venue cuts the journal back to
its durable records, reloads the engine from it, and waits until the disk
takes writes again), which hands back the journal to go on with; without
``on_failure`` (or when it gives None) the committer stops.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor

from .. import metrics
from ..engine import Outcome
from ..errors import ExchangeError
from .ports import Journal

__all__ = ["Committer", "journal_failed"]

log = logging.getLogger("exchange.venue")

Released = Callable[[Sequence[tuple[Outcome, str]]], None]


def journal_failed() -> ExchangeError:
    """The refusal every caller of a group gets when the journal could not be written."""
    return ExchangeError(
        "not_ready",
        "The journal could not be written (the data directory's disk is full or failing), "
        "so this request was not carried out; the exchange resumes by itself once the "
        "journal can be written again: retry in a few seconds.",
    )


class Committer:
    """Owns the pending group, the commit task and the durability waiters.

    Args:
        journal: where groups go.
        io: the single-thread executor that writes and syncs the journal.
        release: called on the loop after each durable group, with its
            ``(outcome, command type)`` pairs in journal order.
        between_groups: awaited after each released group (snapshots).
        seq: the journal's last seq at start (everything up to it is durable).
        on_failure: awaited after a failed group; returns the journal to go
            on with (its last seq is ``released_seq``), or None to stop.
        after_sync: called in the io thread with the group's outcomes once it
            is durable, before its release (the store outbox); an error there
            fails the venue like a journal error.
    """

    def __init__(
        self,
        journal: Journal,
        io: Executor,
        release: Released,
        between_groups: Callable[[], Awaitable[None]],
        seq: int,
        on_failure: Callable[[BaseException], Awaitable[Journal | None]] | None = None,
        after_sync: Released | None = None,
    ) -> None:
        self.journal = journal
        self.on_failure = on_failure
        self.after_sync = after_sync
        self.io = io
        self.release = release
        self.between_groups = between_groups
        self.released_seq = seq
        """The last seq whose command is durable and released."""
        self.groups = 0
        self.commands = 0
        self.failed: BaseException | None = None
        self.closing = False
        self._pending: list[tuple[int, bytes]] = []
        self._pending_out: list[tuple[Outcome, str]] = []
        self._group: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._wake = asyncio.Event()
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._task = asyncio.create_task(self._loop(), name="venue-commit")

    @property
    def has_pending(self) -> bool:
        """Whether records wait for the next group."""
        return bool(self._pending)

    def enqueue(self, record: tuple[int, bytes], out: Outcome, kind: str) -> asyncio.Future[None]:
        """Add an applied command's record to the next group; its future resolves
        once the group is durable and released (or fails with ``not_ready``)."""
        self._pending.append(record)
        self._pending_out.append((out, kind))
        self._wake.set()
        return self._group

    async def wait(self, seq: int) -> None:
        """Wait until every command up to ``seq`` is durable and released."""
        if seq <= self.released_seq:
            return
        if self.failed is not None:
            raise journal_failed()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((seq, waiter))
        await waiter

    async def stop(self) -> None:
        """Let the task commit what is pending, then end it."""
        self.closing = True
        self._wake.set()
        try:
            await self._task
        except Exception:
            log.exception("venue: committer failed")

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._pending:
                if self.closing:
                    return
                continue
            records, outs = self._pending, self._pending_out
            self._pending, self._pending_out = [], []
            group = self._group
            self._group = loop.create_future()
            try:
                # The write joins the sync in the io thread: a write() can
                # wait on the disk too, and the loop must not.
                await loop.run_in_executor(self.io, self._append_and_sync, records, outs)
            except BaseException as exc:
                self._fail(exc, group)
                journal = None if self.on_failure is None else await self.on_failure(exc)
                if journal is None:
                    return
                self.journal = journal
                self.failed = None
                continue
            self.groups += 1
            self.commands += len(records)
            metrics.GROUP_SIZE.observe(len(records))
            try:
                self.released_seq = outs[-1][0].seq
                self.release(outs)
                self._wake_waiters()
            finally:
                if not group.done():
                    group.set_result(None)
            await self.between_groups()

    def _append_and_sync(
        self, records: list[tuple[int, bytes]], outs: Sequence[tuple[Outcome, str]]
    ) -> None:
        """Write one group and make it durable (io thread; timed as one sync)."""
        self.journal.append(records)
        t0 = time.perf_counter()
        self.journal.sync()
        metrics.FSYNC_SECONDS.observe(time.perf_counter() - t0)
        if self.after_sync is not None:
            self.after_sync(outs)

    def _wake_waiters(self) -> None:
        last = self.released_seq
        if not self._waiters:
            return
        still = []
        for seq, waiter in self._waiters:
            if seq <= last:
                if not waiter.done():
                    waiter.set_result(None)
            else:
                still.append((seq, waiter))
        self._waiters = still

    def _fail(self, exc: BaseException, group: asyncio.Future[None]) -> None:
        log.critical(
            "venue: journal write failed (%s); refusing commands until it can be written",
            exc,
            exc_info=exc,
        )
        self.failed = exc
        error = journal_failed()
        if not group.done():
            group.set_exception(error)
        if not self._group.done():
            self._group.set_exception(error)
            self._group.exception()  # seen, even when nobody enqueued into it
        # Commands enqueued meanwhile share the failed fate: never journaled.
        self._pending, self._pending_out = [], []
        self._group = asyncio.get_running_loop().create_future()
        for _, waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(error)
        self._waiters.clear()
        # The futures' exceptions are read by their awaiters; mark them seen.
        group.exception()
