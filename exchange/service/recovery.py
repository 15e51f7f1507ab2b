"""Recovery: lock the data directory, load the newest snapshot, replay the journal.

:func:`recover_engine` is synchronous (run it in a thread from the loop). It
replays each journal record with its own ``ts`` as ``now``, so the engine
comes back with the same books, orders, trades and sequence numbers, byte for
byte; on request it keeps the store ops of records above a seq, so that a
trade store behind the journal can be caught up.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..clock import HOUR_NS
from ..commands import decode_record
from ..engine import Engine, StoreOp
from ..fees import DEFAULT_SCHEDULE, FeeSchedule
from ..journal import DataDirLock, FileLayer, Journal, SnapshotStore
from ..repair import require_covered
from .ports import SegmentedJournal

__all__ = ["Recovered", "final_rows", "recover_engine"]

log = logging.getLogger("exchange.venue")


@dataclass(slots=True)
class Recovered:
    """What :func:`recover_engine` opened and rebuilt.

    Attributes:
        lock: the data-dir lock (held unless ``lock=False`` was asked).
        journal: the open journal, ready for appends.
        snapshots: the snapshot store.
        engine: the engine as of the journal's last record.
        snapshot_seq: seq of the snapshot it started from (0: none).
        replayed: ``(seq, store ops)`` of replayed records above
            ``keep_store_ops_after``, in order.
    """

    lock: DataDirLock
    journal: Journal
    snapshots: SnapshotStore
    engine: Engine
    snapshot_seq: int
    replayed: list[tuple[int, list[StoreOp]]]


def recover_engine(
    data_dir: Path,
    *,
    fsync: bool = True,
    schedule: FeeSchedule = DEFAULT_SCHEDULE,
    ship_deadline_ns: int = 48 * HOUR_NS,
    authenticate_deadline_ns: int = 72 * HOUR_NS,
    keep_store_ops_after: int | None = None,
    lock: bool = True,
    files: FileLayer | None = None,
    journal_factory: Callable[[], SegmentedJournal] | None = None,
    id_base: int = 0,
) -> Recovered:
    """Lock ``data_dir``, load the latest snapshot and replay the journal (sync).

    Args:
        data_dir: the data directory.
        fsync: the journal's fsync setting.
        schedule: fee schedule of a fresh engine.
        ship_deadline_ns: ship deadline of a fresh engine.
        authenticate_deadline_ns: authentication deadline (from ship time),
            set after replay like the ship deadline.
        keep_store_ops_after: keep the store ops of replayed records with a
            seq above this (to catch a store up); None keeps none.
        lock: take the data-dir lock (tools that only read may skip it).
        files: the journal's file layer (tests inject faults); None: the OS.
        journal_factory: opens the journal to use instead of the file
            journal under ``data_dir`` (cluster mode: a JetStream stream);
            snapshots stay under ``data_dir``.
        id_base: a fresh engine numbers its orders, trades, ledger entries
            and holdings from ``id_base + 1`` (see :meth:`Engine.start_ids_at`).

    Raises:
        DataDirLocked: another process holds the data dir.
        JournalCorrupt: the journal is damaged before its last record.
    """
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    dir_lock = DataDirLock(data_dir)
    if lock:
        dir_lock.acquire()
    try:
        snapshots = SnapshotStore(data_dir / "snapshots", fsync=fsync)
        latest = snapshots.latest()
        if journal_factory is not None:
            return _recover_on(
                journal_factory(), dir_lock, snapshots, latest, schedule,
                ship_deadline_ns, authenticate_deadline_ns, keep_store_ops_after, id_base,
            )
        journal = Journal(data_dir / "journal", fsync=fsync, files=files)
        # Segments the snapshot holds are not read: their damage cannot block a start.
        journal.open(skip_through=latest[0] if latest is not None else 0)
        while latest is not None and latest[0] > journal.last_seq:
            # Never written that way by the venue (a snapshot waits for the
            # journal to be durable up to it); if it happens, the snapshot
            # holds commands nobody saw acknowledged: drop it.
            log.warning("snapshot at seq %d is ahead of the journal; ignoring it", latest[0])
            snapshots.path_for(latest[0]).unlink(missing_ok=True)
            latest = snapshots.latest()
            journal.close()
            journal = Journal(data_dir / "journal", fsync=fsync, files=files)
            journal.open(skip_through=latest[0] if latest is not None else 0)
        # The journal must go on where the snapshot ends: one line if not.
        require_covered(journal, latest[0] if latest is not None else 0, snapshots)
        if latest is not None:
            engine = Engine.restore_bytes(latest[1])
            snapshot_seq = latest[0]
        else:
            engine = Engine(schedule, ship_deadline_ns, authenticate_deadline_ns)
            snapshot_seq = 0
        if journal.last_seq < engine.last_seq:
            raise RuntimeError(
                f"journal in {data_dir / 'journal'} ends at seq {journal.last_seq}, before the "
                f"snapshot's seq {engine.last_seq}"
            )
        replayed = _replay(journal, engine, keep_store_ops_after)
        engine.ship_deadline_ns = ship_deadline_ns
        engine.authenticate_deadline_ns = authenticate_deadline_ns
    except BaseException:
        if lock:
            dir_lock.release()
        raise
    return Recovered(dir_lock, journal, snapshots, engine, snapshot_seq, replayed)


def _recover_on(
    journal: Any,
    dir_lock: DataDirLock,
    snapshots: SnapshotStore,
    latest: tuple[int, bytes] | None,
    schedule: FeeSchedule,
    ship_deadline_ns: int,
    authenticate_deadline_ns: int,
    keep_store_ops_after: int | None,
    id_base: int,
) -> Recovered:
    """Recovery on a journal that is not the data dir's file journal."""
    if latest is not None and latest[0] > journal.last_seq:
        log.warning("snapshot at seq %d is ahead of the journal; ignoring it", latest[0])
        latest = None
    if latest is not None:
        engine = Engine.restore_bytes(latest[1])
    else:
        engine = Engine(schedule, ship_deadline_ns, authenticate_deadline_ns)
        engine.start_ids_at(id_base)
    replayed = _replay(journal, engine, keep_store_ops_after)
    engine.ship_deadline_ns = ship_deadline_ns
    engine.authenticate_deadline_ns = authenticate_deadline_ns
    return Recovered(
        dir_lock, journal, snapshots, engine, latest[0] if latest is not None else 0, replayed
    )


def _replay(
    journal: Journal, engine: Engine, keep_store_ops_after: int | None
) -> list[tuple[int, list[StoreOp]]]:
    """Apply every journal record after the engine's seq; keep the asked store ops."""
    replayed: list[tuple[int, list[StoreOp]]] = []
    expect = engine.last_seq + 1
    engine.live = False
    # The engine skips building the store ops nobody keeps: those the
    # store already holds (all of them when keep_store_ops_after is None).
    engine.store_ops_after = (
        journal.last_seq if keep_store_ops_after is None else keep_store_ops_after
    )
    # Replay allocates millions of long-lived objects and hardly any
    # cyclic garbage: the collector's passes over them only cost time
    # (the venue's caller collects and freezes once recovery is done).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for seq, payload in journal.replay(after_seq=engine.last_seq):
            if seq != expect:
                raise RuntimeError(f"journal replay expected seq {expect}, found {seq}")
            expect += 1
            ts, cmd = decode_record(payload)
            out = engine.apply(seq, ts, cmd)
            if keep_store_ops_after is not None and seq > keep_store_ops_after and out.store_ops:
                replayed.append((seq, out.store_ops))
    finally:
        if gc_was_enabled:
            gc.enable()
    engine.live = True
    engine.store_ops_after = 0
    return replayed


def final_rows(ops: Iterable[StoreOp]) -> Iterator[StoreOp]:
    """The store ops the venue writes: every one but open orders' rows.

    The store holds orders' final states (issue 3); an open order is served
    from the engine, and its row arrives once it is filled, canceled,
    expired or rejected.
    """
    for op in ops:
        if op[0] != "order" or op[1]["status"] != "open":
            yield op
