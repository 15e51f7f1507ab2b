"""The venue's side of the trade store: the outbox, the writer, catch-up, reads.

The store holds trades, settlement states, ledger, holdings and orders'
final states (an open order's row is not written: it is served from the
engine, and arrives when the order ends), and a ``meta`` row ``last_seq``:
its position, the journal seq it reflects.

- Every journaled command gets one record in the store outbox
  (``<data_dir>/store-outbox/``, see :mod:`exchange.storewriter`), written
  in the io thread right after its group is durable in the journal, and
  made durable before each snapshot. The supervised writer follows it from
  the store's position; nothing of the store's work waits in memory.
- At start the outbox must hold every record after the store's position:
  what it lacks at its end (a crash) is derived again by replaying the
  journal from the snapshot, which the outbox always reaches. A store
  behind all of that (a new database, an outbox deleted) is rebuilt from the
  engine's state. Then the writer catches up in the background; the start
  waits for it for ``open_wait`` seconds at most.
- Reads (:class:`StoreReads`) wait for the store to reach what is released
  for ``read_timeout`` seconds at most. Then a dict answer says ``as_of_seq``
  (the store's position) and other answers are 503 ``store_behind``; a store
  that cannot be read answers 503 ``store_unavailable``. Never a hang.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from functools import wraps
from pathlib import Path
from typing import Any

from .. import metrics
from ..engine import Outcome, StoreOp
from ..errors import ExchangeError
from ..journal import Journal, JournalCorrupt
from ..storewriter import SupervisedWriter, encode_ops
from .recovery import Recovered, final_rows

__all__ = ["StoreFeed", "StoreReads"]

log = logging.getLogger("exchange.venue")

OUTBOX_SEGMENT_BYTES = 16 * 1024 * 1024


class StoreFeed:
    """Owns the trade store, its outbox, its writer and the reads over it.

    Args:
        data_dir: the venue's data directory (the outbox and the default
            SQLite file live there).
        database_url: the store URL; None for SQLite in ``data_dir``.
        process: run the writer in a child process (else a thread).
        fsync: the outbox's fsync setting (as the journal's).
        stall_seconds: a writer process silent this long is restarted.
        read_timeout: the longest a read waits for the store to catch up.
        open_wait: the longest the start waits for the store to catch up.
        close_timeout: the longest the close waits for it.
    """

    def __init__(
        self,
        data_dir: Path,
        database_url: str | None,
        *,
        process: bool,
        fsync: bool = True,
        stall_seconds: float = 30.0,
        read_timeout: float = 1.0,
        open_wait: float = 5.0,
        close_timeout: float = 10.0,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.database_url = database_url
        self.process = process
        self.fsync = fsync
        self.stall_seconds = stall_seconds
        self.read_timeout = read_timeout
        self.open_wait = open_wait
        self.close_timeout = close_timeout
        self.store: Any = None
        self.analytics: Any = None
        self.writer: SupervisedWriter | None = None
        self.outbox: Journal | None = None
        self.released: Callable[[], int] = lambda: 0
        """The journal seq the store should reach (set by the venue)."""
        self._store_seq = 0
        self._url = ""
        self._unwritten: list[tuple[int, bytes]] = []

    @property
    def outbox_dir(self) -> Path:
        """Where the store outbox lives."""
        return self.data_dir / "store-outbox"

    # ----------------------------------------------------------- starting

    def open(self) -> int:
        """Open the store and the outbox (sync).

        Returns:
            The seq above which recovery must keep store ops for the outbox.
        """
        from ..analytics import Analytics
        from ..history import ensure_schema
        from ..store import TradeStore, sqlite_url

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._url = self.database_url or sqlite_url(str(self.data_dir))
        self.store = TradeStore(self._url)
        self.store.create_all()
        ensure_schema(self.store)
        self.analytics = Analytics(self.store)
        self._store_seq = store_seq = int(self.store.get_meta("last_seq") or 0)
        outbox = self.outbox = Journal(
            self.outbox_dir, fsync=self.fsync, max_segment_bytes=OUTBOX_SEGMENT_BYTES
        )
        try:
            outbox.open()
        except JournalCorrupt as exc:
            log.warning("store: the outbox is damaged (%s); deriving it again", exc)
            self._reset_outbox()
            return store_seq
        if outbox.last_seq <= store_seq:
            self._reset_outbox()
            return store_seq
        first = next(iter(outbox.replay(after_seq=store_seq)), None)
        if first is None or first[0] != store_seq + 1:
            log.warning(
                "store: the outbox does not reach back to the store's seq %d; deriving it again",
                store_seq,
            )
            self._reset_outbox()
            return store_seq
        return outbox.last_seq

    def _reset_outbox(self) -> None:
        """Empty the outbox; its next append chooses its first seq."""
        if self.outbox is not None:
            self.outbox.close()
        for path in self.outbox_dir.glob("*.log"):
            path.unlink()
        self.outbox = Journal(
            self.outbox_dir, fsync=self.fsync, max_segment_bytes=OUTBOX_SEGMENT_BYTES
        )
        self.outbox.open()

    def catch_up(self, kept_after: int, rec: Recovered) -> None:
        """Complete the outbox to the recovered journal, or rebuild the store (sync).

        Args:
            kept_after: what :meth:`open` returned (recovery kept the store
                ops of the records above it).
            rec: the recovery.
        """
        assert self.outbox is not None
        last = rec.engine.last_seq
        if self.outbox.last_seq > last:
            # Only a journal that lost synced records (fsync off and a power
            # loss) gets here: the store may hold rows of lost commands.
            log.warning(
                "store: the outbox (seq %d) is ahead of the journal (seq %d)",
                self.outbox.last_seq,
                last,
            )
        if self._store_seq > last or self.outbox.last_seq > last or kept_after < rec.snapshot_seq:
            self._rebuild(rec)
            return
        ops_by_seq = dict(rec.replayed)
        batch: list[tuple[int, bytes]] = []
        for seq in range(kept_after + 1, last + 1):
            batch.append((seq, encode_ops(list(final_rows(ops_by_seq.get(seq, []))))))
            if len(batch) >= 10_000:
                self.outbox.append(batch)
                batch = []
        self.outbox.append(batch)
        if last > kept_after:
            log.info("store: outbox derived again for seq %d..%d", kept_after + 1, last)
        self.outbox.sync()

    def _rebuild(self, rec: Recovered) -> None:
        engine = rec.engine
        if engine.evicted_seq > self._store_seq:
            # The engine let history up to evicted_seq leave memory because
            # this store held it; a store behind that lost it (another
            # database, a restored backup): refuse rather than rebuild less.
            raise RuntimeError(
                f"the trade store holds history up to seq {self._store_seq}, but the "
                f"venue's history up to seq {engine.evicted_seq} lives only there: give "
                "the --database-url of the store it was written to (or restore it)"
            )
        log.info("store: rebuilding from the engine state at seq %d", engine.last_seq)
        if engine.evicted_seq:
            # History that left memory lives only in the store: keep its
            # orders, trades and ledger (final rows, upserted over below).
            from ..history import reset_live_tables

            reset_live_tables(self.store)
        else:
            self.store.reset()
        batch: list[StoreOp] = []
        for op in final_rows(engine.store_rows()):
            batch.append(op)
            if len(batch) >= 50_000:
                self.store.write(batch)
                batch = []
        batch.append(("meta", {"key": "last_seq", "value": str(engine.last_seq)}))
        self.store.write(batch)
        self._store_seq = engine.last_seq
        self._reset_outbox()

    async def start_writer(self, last_seq: int) -> None:
        """Start the supervised writer and wait (``open_wait`` at most) for it."""
        assert self.outbox is not None
        self.writer = writer = SupervisedWriter(
            self._url,
            self.outbox_dir,
            self._store_seq,
            process=self.process,
            stall_seconds=self.stall_seconds,
        )
        writer.announce(last_seq)
        metrics.bind_store_gauges(
            lambda: max(0, self.released() - writer.position), lambda: writer.position
        )
        if not await asyncio.to_thread(writer.wait, last_seq, self.open_wait):
            log.warning(
                "store: %d seqs behind the journal at start; catching up in the background",
                last_seq - writer.position,
            )

    # ------------------------------------------------------------ running

    def append(self, outs: Sequence[tuple[Outcome, str]]) -> None:
        """Append one durable group's outbox records (io thread, after the sync).

        Raises:
            OSError: the write failed (the journal's failure path follows); the
                records are kept and go first with the next group's, so the
                outbox never has a gap if the venue goes on.
        """
        outbox = self.outbox
        if outbox is None:
            return
        frames = self._unwritten + [
            (out.seq, encode_ops(list(final_rows(out.store_ops)))) for out, _ in outs
        ]
        try:
            outbox.append(frames)
        except BaseException:
            self._unwritten = frames
            raise
        self._unwritten = []

    def announce(self, seq: int) -> None:
        """Tell the writer the outbox is written up to ``seq`` (loop; never blocks)."""
        if self.writer is not None:
            self.writer.announce(seq)

    def sync_outbox(self) -> None:
        """Make the outbox durable (io thread; before a snapshot)."""
        if self.outbox is not None:
            self.outbox.sync()

    def prune_outbox(self) -> None:
        """Drop outbox segments the store holds whole (io thread)."""
        if self.outbox is not None and self.writer is not None:
            self.outbox.prune(self.writer.position)

    def wait(self, seq: int, timeout: float | None) -> bool:
        """Wait until the store holds ``seq`` (sync); False on timeout or without a store."""
        return self.writer is not None and self.writer.wait(seq, timeout)

    def status(self) -> dict[str, Any]:
        """The store's position, lag and writer state, for health and tools."""
        writer = self.writer
        if writer is None:
            return {"enabled": False}
        return {
            "enabled": True,
            "position": writer.position,
            "lag": max(0, self.released() - writer.position),
            "writer_alive": writer.alive,
            "writer_restarts": writer.restarts,
            "write_failures": writer.failures,
            "last_error": writer.last_error,
        }

    async def close(self) -> None:
        """Let the writer catch up (``close_timeout``), stop it, close store and outbox."""
        if self.writer is not None:
            try:
                await asyncio.to_thread(self.writer.close, self.close_timeout)
            except Exception:
                log.exception("venue: store writer failed on close")
        if self.outbox is not None:
            await asyncio.to_thread(self.outbox.close)
        if self.store is not None:
            await asyncio.to_thread(self.store.close)


def _store_failure(exc: BaseException) -> bool:
    from sqlalchemy.exc import SQLAlchemyError

    from ..store import StoreError

    return isinstance(exc, SQLAlchemyError | StoreError | OSError | TimeoutError)


class StoreReads:
    """The analytics over the store, as the API reads it: bounded, never a 500 for an outage.

    Attribute access passes through to :class:`exchange.analytics.Analytics`;
    each call first waits (``read_timeout`` at most, in the caller's thread)
    for the store to reach what the venue has released.
    """

    def __init__(self, feed: StoreFeed) -> None:
        self._feed = feed

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._feed.analytics, name)
        if not callable(value) or name.startswith("_"):
            return value
        feed = self._feed

        @wraps(value)
        def read(*args: Any, **kwargs: Any) -> Any:
            target = feed.released()
            caught_up = feed.wait(target, feed.read_timeout)
            try:
                result = value(*args, **kwargs)
            except ExchangeError:
                raise
            except Exception as exc:
                if not _store_failure(exc):
                    raise
                log.warning("store: a read failed: %s", exc)
                raise ExchangeError(
                    "store_unavailable",
                    "The trade store cannot be read right now; retry shortly.",
                    status=503,
                ) from exc
            if caught_up:
                return result
            position = feed.writer.position if feed.writer is not None else 0
            if isinstance(result, dict):
                return {**result, "as_of_seq": position}
            raise ExchangeError(
                "store_behind",
                f"The trade store is {target - position} commands behind; retry shortly.",
                status=503,
            )

        return read
