"""The venue's side of the trade store: open it, catch it up, feed it, flush it.

The store holds trades, settlement states, ledger, holdings and orders'
final states (an open order's row is not written: it is served from the
engine, and arrives when the order ends). Each fed batch carries a ``meta``
row ``last_seq``: the journal seq the store reflects. At start a store
behind the snapshot is rebuilt from the engine's state, one behind only the
replayed tail gets that tail.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

from ..engine import StoreOp
from .recovery import Recovered, final_rows

__all__ = ["StoreFeed"]

log = logging.getLogger("exchange.venue")


class StoreFeed:
    """Owns the trade store, its writer and the analytics over it.

    Args:
        data_dir: the venue's data directory (the default SQLite file lives there).
        database_url: the store URL; None for SQLite in ``data_dir``.
        process: write from a child process (:class:`exchange.store.StoreProcessWriter`)
            when ``os.fork`` exists, else from a thread.
    """

    def __init__(self, data_dir: Path, database_url: str | None, *, process: bool) -> None:
        self.data_dir = Path(data_dir)
        self.database_url = database_url
        self.process = process
        self.store: Any = None
        self.writer: Any = None
        self.analytics: Any = None

    def open(self) -> int:
        """Open the store and start its writer (sync); returns the store's last seq."""
        from ..analytics import Analytics
        from ..history import ensure_schema
        from ..store import StoreProcessWriter, StoreWriter, TradeStore, sqlite_url

        self.data_dir.mkdir(parents=True, exist_ok=True)
        url = self.database_url or sqlite_url(str(self.data_dir))
        if self.process and hasattr(os, "fork"):
            # Started before this process opens the database, so the
            # child never shares a descriptor or lock state with it.
            self.writer = StoreProcessWriter(url)
        self.store = TradeStore(url)
        self.store.create_all()
        ensure_schema(self.store)
        if self.writer is None:
            self.writer = StoreWriter(self.store)
        self.analytics = Analytics(self.store, flush=self.writer.flush)
        return int(self.store.get_meta("last_seq") or 0)

    def catch_up(self, store_seq: int, rec: Recovered) -> None:
        """Bring the store to the recovered engine's seq (sync)."""
        engine = rec.engine
        if store_seq == engine.last_seq:
            return
        meta: StoreOp = ("meta", {"key": "last_seq", "value": str(engine.last_seq)})
        if store_seq >= rec.snapshot_seq and store_seq < engine.last_seq:
            log.info("store: replaying seq %d..%d", store_seq + 1, engine.last_seq)
            ops = [op for _, seq_ops in rec.replayed for op in final_rows(seq_ops)]
            self.store.write([*ops, meta])
            return
        log.info("store: rebuilding from the engine state at seq %d", engine.last_seq)
        self.store.reset()
        batch: list[StoreOp] = []
        for op in final_rows(engine.store_rows()):
            batch.append(op)
            if len(batch) >= 50_000:
                self.store.write(batch)
                batch = []
        batch.append(meta)
        self.store.write(batch)

    def submit(self, ops: list[StoreOp], last_seq: int) -> None:
        """Feed one released group's ops (the store then reflects ``last_seq``)."""
        if self.writer is None:
            return
        ops.append(("meta", {"key": "last_seq", "value": str(last_seq)}))
        try:
            self.writer.submit(ops)
        except Exception:
            log.exception("venue: store writer refused a batch")

    async def flush(self) -> None:
        """Wait until the store holds everything fed so far."""
        if self.writer is not None:
            await asyncio.to_thread(self.writer.flush)

    async def close(self) -> None:
        """Write what is fed, stop the writer, close the store."""
        if self.writer is not None:
            try:
                await asyncio.to_thread(self.writer.close)
            except Exception:
                log.exception("venue: store writer failed on close")
        if self.store is not None:
            await asyncio.to_thread(self.store.close)
