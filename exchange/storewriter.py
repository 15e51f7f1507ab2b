"""The trade store's writer: a supervised consumer of the store outbox.

CONTRACT

- The venue appends, for every journaled command, one record to the *store
  outbox*: a journal (:class:`exchange.journal.Journal` files) in its own
  directory whose record ``seq`` is the command's journal seq and whose
  payload is the orjson list of the command's store ops (``[]`` for none).
  The outbox is written after the command is durable in the journal, so it
  never holds anything unacknowledged, and it is made durable before every
  snapshot, so that what a crash loses of it can be derived again by
  replaying the journal from that snapshot.
- The writer follows the outbox with its own cursor, the store's ``meta``
  row ``last_seq``: it reads the records after it (at most ``max_records``
  at a time, so its memory is bounded whatever the lag), writes their ops and
  the new ``last_seq`` in ONE transaction, and only then moves on. A failed
  write is retried, the same batch in the same order, with a growing pause
  (``backoff``), until it succeeds: an outage of the database shows as lag,
  never as a lost row. Rows are full rows upserted by id, so writing a batch
  twice (after a crash between commit and report) changes nothing.
- :class:`SupervisedWriter` runs that loop in a child process (or a thread,
  ``process=False``), feeds it the seq up to which the outbox is written
  (:meth:`SupervisedWriter.announce`; only the latest value is kept, so a
  stuck writer costs no memory), and follows its reports: its position
  (:attr:`SupervisedWriter.position`), failed attempts, heartbeats. A child
  that dies is started again (after a pause that grows while it keeps
  dying); a child that sends nothing for ``stall_seconds`` (stopped, hung
  in the database driver) is killed and started again. A new child reads
  the store's position and catches up by itself.
- :meth:`SupervisedWriter.wait` waits for a position with a timeout; the
  venue's reads use it so they never hang on the writer.

Metrics (:mod:`exchange.metrics`): ``exchange_store_write_failures_total``
(failed write attempts), ``exchange_store_write_retries_total`` (attempts
that repeat a failed batch), ``exchange_store_writer_restarts_total``.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import struct
import threading
import time
import zlib
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from . import metrics
from .journal import HEADER_SIZE, MAX_PAYLOAD, segment_name

__all__ = [
    "OutboxGap",
    "OutboxReader",
    "SupervisedWriter",
    "backoff",
    "encode_ops",
    "warm_forkserver",
]

log = logging.getLogger("exchange.store")

_HEADER = struct.Struct("<IIQ")
_SEQ = struct.Struct("<Q")
_SUFFIX = ".log"
HEARTBEAT_SECONDS = 0.5


def encode_ops(ops: list[Any]) -> bytes:
    """The outbox payload of one command's store ops."""
    return orjson.dumps(ops) if ops else b"[]"


def backoff(attempt: int) -> float:
    """Seconds to wait before write attempt ``attempt + 1`` (50 ms doubling, at most 2 s)."""
    return min(2.0, 0.05 * float(1 << min(max(attempt - 1, 0), 10)))


class OutboxGap(Exception):
    """The outbox does not hold the record the writer needs next."""


def _segments(directory: Path) -> list[tuple[int, Path]]:
    out: list[tuple[int, Path]] = []
    try:
        entries = list(directory.iterdir())
    except FileNotFoundError:
        return out
    for entry in entries:
        stem = entry.name[: -len(_SUFFIX)]
        if entry.name.endswith(_SUFFIX) and stem.isdigit() and len(stem) == 20:
            out.append((int(stem), entry))
    out.sort()
    return out


class OutboxReader:
    """Reads outbox records after ``pos``, in order, as they are appended.

    Only call :meth:`read` with a ``limit`` the appender has finished
    writing: a frame past the end of the file is taken as not yet written,
    a bad checksum below ``limit`` as damage.
    """

    def __init__(self, directory: Path, pos: int) -> None:
        self.directory = Path(directory)
        self.pos = pos
        """Seq of the last record returned."""
        self._file: BinaryIO | None = None
        self._first = 0
        self._buf = b""

    def close(self) -> None:
        """Close the open segment."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def _open(self, first: int, path: Path) -> None:
        self.close()
        self._file = open(path, "rb")  # noqa: SIM115 (kept open across reads)
        self._first = first
        self._buf = b""

    def _locate(self) -> bool:
        """Open the segment that holds ``pos + 1``; False when there is none yet."""
        want = self.pos + 1
        segments = _segments(self.directory)
        below = [s for s in segments if s[0] <= want]
        if below:
            self._open(*below[-1])
            return True
        if segments:
            raise OutboxGap(
                f"store outbox in {self.directory} starts at seq {segments[0][0]}, "
                f"the store needs seq {want}"
            )
        return False

    def _next_segment(self) -> bool:
        """Move to the segment that starts at ``pos + 1``, if there is one."""
        path = self.directory / segment_name(self.pos + 1)
        if path.exists() and self.pos + 1 != self._first:
            self._open(self.pos + 1, path)
            return True
        return False

    def _frame(self) -> tuple[int, bytes] | None:
        """The next whole frame of the open segment, or None at its end."""
        assert self._file is not None
        while True:
            buf = self._buf
            if len(buf) >= HEADER_SIZE:
                length, crc, seq = _HEADER.unpack_from(buf, 0)
                if length > MAX_PAYLOAD:
                    raise OutboxGap(f"store outbox damaged near seq {self.pos + 1}")
                end = HEADER_SIZE + length
                if len(buf) >= end:
                    payload = buf[HEADER_SIZE:end]
                    if zlib.crc32(payload, zlib.crc32(_SEQ.pack(seq))) != crc:
                        raise OutboxGap(f"store outbox checksum mismatch at seq {seq}")
                    self._buf = buf[end:]
                    return seq, payload
            more = self._file.read(1 << 20)
            if not more:
                return None
            self._buf = buf + more

    def read(self, limit: int, max_records: int) -> list[tuple[int, bytes]]:
        """Records after :attr:`pos` up to ``limit`` (at most ``max_records``).

        Raises:
            OutboxGap: the record after :attr:`pos` is missing or damaged.
        """
        out: list[tuple[int, bytes]] = []
        while self.pos < limit and len(out) < max_records:
            if self._file is None and not self._locate():
                break
            frame = self._frame()
            if frame is None:
                if self._next_segment():
                    continue
                if not (self.directory / segment_name(self._first)).exists():
                    # An empty first segment is renamed when the outbox gets
                    # its first record: find the file again (records already
                    # returned are skipped).
                    self.close()
                    continue
                break
            seq = frame[0]
            if seq <= self.pos:
                continue
            if seq != self.pos + 1:
                raise OutboxGap(f"store outbox has seq {seq} where {self.pos + 1} was due")
            out.append(frame)
            self.pos = seq
        return out


# ----------------------------------------------------------------- the writer


def _brief(exc: BaseException) -> str:
    """The first line of an error, without the SQL and parameters drivers append."""
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def _writer_main(
    url: str,
    schema: str | None,
    outbox: str,
    max_records: int,
    notify: Pipe[bytes, bytes],
    reports: Pipe[bytes, bytes],
    in_process: bool,
) -> None:
    """Follow the outbox from the store's position; report position and failures."""
    if in_process:
        # Ctrl-C reaches the whole process group: the writer must not stop
        # before the parent has told it everything and closed the pipe.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    from .store import TradeStore  # SQLAlchemy only in the writer

    send_lock = threading.Lock()
    done = threading.Event()

    def report(*msg: Any) -> None:
        with send_lock:
            reports.send_bytes(orjson.dumps(msg))

    def heartbeat() -> None:
        while not done.wait(HEARTBEAT_SECONDS):
            try:
                report("hb")
            except OSError:
                return

    threading.Thread(target=heartbeat, name="store-heartbeat", daemon=True).start()
    store = TradeStore(url, schema=schema)
    reader: OutboxReader | None = None
    try:
        attempt = 0
        while True:
            try:
                pos = int(store.get_meta("last_seq") or 0)
                break
            except Exception as exc:  # the database is down: wait for it
                attempt += 1
                report("fail", attempt, f"reading the store position: {_brief(exc)}")
                time.sleep(backoff(attempt))
        report("pos", pos)
        reader = OutboxReader(Path(outbox), pos)
        limit = 0
        eof = False
        while True:
            if not eof:
                try:
                    wait: float | None = None if limit <= pos else 0
                    while notify.poll(wait):
                        limit = max(limit, orjson.loads(notify.recv_bytes()))
                        wait = 0
                except EOFError:
                    eof = True
            if limit <= pos:
                if eof:
                    return
                continue
            records = reader.read(limit, max_records)
            if not records:
                raise OutboxGap(f"store outbox has no seq {pos + 1} although {limit} is written")
            upto = records[-1][0]
            ops: list[Any] = []
            for _, payload in records:
                ops.extend(orjson.loads(payload))
            ops.append(("meta", {"key": "last_seq", "value": str(upto)}))
            attempt = 0
            while True:
                try:
                    store.write(ops)
                    break
                except Exception as exc:  # retried in order until it succeeds
                    attempt += 1
                    report("fail", attempt, _brief(exc))
                    time.sleep(backoff(attempt))
            pos = upto
            report("pos", pos)
    except OutboxGap as exc:
        report("fatal", str(exc))
    finally:
        done.set()
        if reader is not None:
            reader.close()
        store.close()


_PRELOAD = ["__main__", __name__, "exchange.store"]
"""What the writer's forkserver imports once, before it forks any writer."""


def warm_forkserver() -> None:
    """Start the writer's forkserver now, so its imports run while the caller
    does other work (a start recovers the engine meanwhile); the first
    :class:`SupervisedWriter` then only forks. No-op without forkserver."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(_PRELOAD)
        from multiprocessing import forkserver

        forkserver.ensure_running()


class SupervisedWriter:
    """Runs the store writer, restarts it when it dies or stalls, tracks its position.

    Args:
        url: the store URL.
        outbox: the store outbox directory.
        position: the store's position when the venue opened it.
        schema: PostgreSQL schema, as for :class:`exchange.store.TradeStore`.
        process: run the writer in a child process (else a thread).
        stall_seconds: a child silent this long is killed and restarted.
        max_records: outbox records per transaction at most.
    """

    def __init__(
        self,
        url: str,
        outbox: Path,
        position: int,
        *,
        schema: str | None = None,
        process: bool = True,
        stall_seconds: float = 30.0,
        max_records: int = 2000,
    ) -> None:
        self.url = url
        self.outbox = Path(outbox)
        self.schema = schema
        self.process = process and hasattr(os, "fork")
        self.stall_seconds = stall_seconds
        self.max_records = max_records
        self.position = position
        """The store's position: every outbox record up to it is in the store."""
        self.restarts = 0
        self.failures = 0
        self.last_error: str | None = None
        self.fatal: str | None = None
        self._cond = threading.Condition()
        self._announced = 0
        self._closing = False
        self._seen = self._started = time.monotonic()
        self._child: Any = None
        self._alive = False
        self._incarnation = 0
        self._ctx: Any = None
        if self.process:
            methods = mp.get_all_start_methods()
            # forkserver: the child is forked from a small clean server process,
            # so it inherits neither this process's descriptors (the data-dir
            # lock, the journal, sockets) nor SQLite's per-process lock state.
            self._ctx = mp.get_context("forkserver" if "forkserver" in methods else "spawn")
            if "forkserver" in methods:
                self._ctx.set_forkserver_preload(_PRELOAD)
        self._start()
        self._supervisor = threading.Thread(
            target=self._supervise, name="store-supervisor", daemon=True
        )
        self._supervisor.start()

    # -------------------------------------------------------------- interface

    def announce(self, seq: int) -> None:
        """The outbox is written up to ``seq``; never blocks."""
        with self._cond:
            if seq > self._announced:
                self._announced = seq
                self._cond.notify_all()

    def wait(self, seq: int, timeout: float | None) -> bool:
        """Wait until the store's position reaches ``seq``; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self.position >= seq, timeout)

    @property
    def alive(self) -> bool:
        """Whether a writer is running now."""
        return self._alive

    @property
    def pid(self) -> int | None:
        """The writer process's pid (None for a thread or none running)."""
        child = self._child
        return child.pid if self.process and child is not None else None

    def close(self, timeout: float | None = 10.0) -> bool:
        """Let the writer catch up to what was announced (for ``timeout`` s), then stop it.

        Returns:
            Whether the store caught up; if not, the rest stays in the outbox
            for the next start.
        """
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            target = self._announced
        caught_up = self.wait(target, timeout)
        child = self._child
        if child is not None:
            child.join(5.0 if caught_up else 0.1)
            if self.process and child.is_alive():
                child.kill()
                child.join()
        self._supervisor.join()
        if not caught_up:
            log.warning(
                "store: closing %d seqs behind the journal (store at %d); "
                "the rest is written at the next start",
                target - self.position,
                self.position,
            )
        return caught_up

    # -------------------------------------------------------------- internals

    def _start(self) -> None:
        self._incarnation += 1
        incarnation = self._incarnation
        if self.process:
            ctx = self._ctx
            notify_r, notify_w = ctx.Pipe(duplex=False)
            report_r, report_w = ctx.Pipe(duplex=False)
            child = ctx.Process(
                target=_writer_main,
                args=(self.url, self.schema, str(self.outbox), self.max_records,
                      notify_r, report_w, True),
                name="store-writer",
                daemon=True,
            )
            child.start()
            notify_r.close()
            report_w.close()
        else:
            notify_r, notify_w = mp.Pipe(duplex=False)
            report_r, report_w = mp.Pipe(duplex=False)
            child = threading.Thread(
                target=self._thread_main,
                args=(notify_r, report_w),
                name="store-writer",
                daemon=True,
            )
            child.start()
        self._child = child
        self._alive = True
        self._seen = self._started = time.monotonic()
        threading.Thread(
            target=self._send, args=(notify_w, incarnation), name="store-sender", daemon=True
        ).start()
        threading.Thread(
            target=self._receive, args=(report_r, incarnation), name="store-receiver", daemon=True
        ).start()

    def _thread_main(self, notify: Pipe[bytes, bytes], reports: Pipe[bytes, bytes]) -> None:
        try:
            _writer_main(
                self.url, self.schema, str(self.outbox), self.max_records, notify, reports, False
            )
        finally:
            reports.close()
            notify.close()

    def _send(self, conn: Pipe[bytes, bytes], incarnation: int) -> None:
        """Tell the writer the latest announced seq (only the latest: bounded)."""
        sent = 0

        def due() -> bool:
            return (
                self._announced > sent or self._closing or incarnation != self._incarnation
            )

        try:
            while True:
                with self._cond:
                    self._cond.wait_for(due)
                    if incarnation != self._incarnation:
                        return
                    target = self._announced
                    closing = self._closing
                if target > sent:
                    conn.send_bytes(orjson.dumps(target))
                    sent = target
                if closing:
                    with self._cond:
                        if self._announced <= sent:
                            return
        except OSError:
            pass  # the writer is gone; the supervisor starts another
        finally:
            conn.close()  # the writer sees the end and exits once caught up

    def _receive(self, conn: Pipe[bytes, bytes], incarnation: int) -> None:
        failing = 0
        try:
            while True:
                msg = orjson.loads(conn.recv_bytes())
                self._seen = time.monotonic()
                kind = msg[0]
                if kind == "pos":
                    if failing:
                        log.warning("store: write succeeded again after %d attempts", failing + 1)
                        failing = 0
                    with self._cond:
                        if msg[1] > self.position:
                            self.position = msg[1]
                        self._cond.notify_all()
                elif kind == "fail":
                    attempt, error = msg[1], msg[2]
                    self.failures += 1
                    self.last_error = error
                    metrics.STORE_WRITE_FAILURES.inc()
                    if attempt > 1:
                        metrics.STORE_WRITE_RETRIES.inc()
                    failing = attempt
                    if attempt == 1 or attempt % 20 == 0:
                        log.warning(
                            "store: write failed (attempt %d, store at seq %d); retrying: %s",
                            attempt, self.position, error,
                        )
                elif kind == "fatal":
                    self.fatal = msg[1]
                    log.error("store: writer stopped: %s", msg[1])
        except (EOFError, OSError):
            pass
        finally:
            conn.close()
            if incarnation == self._incarnation:
                self._alive = False
            with self._cond:
                self._cond.notify_all()

    def _supervise(self) -> None:
        pause = 0.1
        while True:
            with self._cond:
                self._cond.wait(0.2)
                closing = self._closing
            child = self._child
            if not self._alive:
                if child is not None:
                    child.join()
                if closing or self.fatal is not None:
                    return
                code = getattr(child, "exitcode", None)
                log.error("store: writer died (exit code %s); restarting it", code)
                time.sleep(pause)
                pause = min(pause * 2, 5.0)
                self.restarts += 1
                metrics.STORE_WRITER_RESTARTS.inc()
                self._start()
                continue
            if time.monotonic() - self._started > 10.0:
                pause = 0.1  # up for a while: a later death restarts fast again
            if (
                self.process
                and not closing
                and time.monotonic() - self._seen > self.stall_seconds
            ):
                log.error(
                    "store: writer silent for %.0f s (stopped or hung); killing it",
                    time.monotonic() - self._seen,
                )
                child.kill()
                self._seen = time.monotonic()
