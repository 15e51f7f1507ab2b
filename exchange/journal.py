"""The write-ahead journal: framed, checksummed, gap-free records in segment files.

CONTRACT

- Layout: ``<directory>/<first_seq:020d>.log`` segment files. A segment is
  named after the sequence number of its first record (or, while empty, of
  the record it expects next), so the names sort in journal order and an
  empty last segment still tells the journal's ``last_seq`` after snapshots
  and pruning took every record away.
- Frame, little-endian: ``u32 payload length``, ``u32 crc32(seq bytes +
  payload)``, ``u64 seq``, then the payload. The CRC covers the sequence
  number too, so a record moved to another position is detected.
- Sequence numbers are global, start at any value >= 1 in an empty journal
  and then rise by exactly one per record, across segments.
- ``open()`` validates every segment in order (lengths, CRCs, sequence
  continuity, segment names). The only damage it repairs is a torn write: a
  damaged *last* record of the *last* segment (a short frame, a length past
  the end of the file, a bad CRC on the record that ends the file, or a tail
  of zero bytes that a crash left after the size grew). The file is truncated
  at that record's offset, made durable, and the repair is logged and kept in
  :attr:`Journal.repaired`. Any other damage, or a sequence gap or
  regression, raises :class:`JournalCorrupt` naming the file and the byte
  offset; nothing is changed then.
- ``append(records)`` frames a batch into one buffer and writes it with one
  ``write()`` call (no fsync): after a process crash the records are in the
  page cache; after ``sync()`` returns they survive power loss too.
  ``sync()`` may run in a worker thread while the event loop appends the next
  group: it makes durable at least everything appended before it was called
  (:attr:`Journal.durable_seq`). ``rotate()``, ``prune()`` and ``close()``
  must not run concurrently with ``sync()`` (they share a lock with it).
- ``replay(after_seq)`` yields ``(seq, payload)`` in order, reading each
  segment whole and unpacking frames in place; it checks CRCs again so a
  file damaged after ``open()`` is never replayed half.
- :func:`check_journal` is the read-only ``open()`` for ``exchange recover
  --check``: it never truncates. A torn tail is reported as damage
  (``ok=False``, message ``"torn tail at offset N ... (would be truncated on
  start)"``) because the journal is not intact on disk, even though a start
  would repair it by dropping that unacknowledged record. Run it on a
  stopped venue: on a running one, a group being written may show as such a
  tail.

The journal knows nothing of what a payload means (the engine's orjson
bytes); it sits behind this small interface (append a batch, make it
durable, replay from a sequence) so a JetStream stream can take its place:
:class:`Journal` implements the protocols of :mod:`exchange.service.ports`.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import struct
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import Counter

from .datadir import DataDirLock, DataDirLocked, fsync_dir
from .snapshots import SnapshotCorrupt, SnapshotStore

__all__ = [
    "HEADER_SIZE",
    "MAX_PAYLOAD",
    "OS_FILES",
    "WRITE_FAILURES",
    "DataDirLock",
    "DataDirLocked",
    "FileLayer",
    "Journal",
    "JournalCheck",
    "JournalCorrupt",
    "SnapshotCorrupt",
    "SnapshotStore",
    "check_journal",
    "encode_frame",
    "segment_name",
]

log = logging.getLogger("exchange.journal")

WRITE_FAILURES = Counter(
    "exchange_journal_write_failures_total",
    "Journal writes and syncs the disk refused (full, failing); nothing of them was acknowledged.",
    ["op"],
)

_HEADER = struct.Struct("<IIQ")
_SEQ = struct.Struct("<Q")
HEADER_SIZE = _HEADER.size
"""Bytes of a frame header: length, crc, seq."""
MAX_PAYLOAD = 64 * 1024 * 1024
"""A larger length field can only be damage (commands are small)."""
SEGMENT_SUFFIX = ".log"
DEFAULT_SEGMENT_BYTES = 256 * 1024 * 1024


class JournalCorrupt(Exception):
    """The journal is damaged somewhere a crash cannot explain.

    Attributes:
        path: the segment file.
        offset: the byte offset in that file of the first bad frame.
        reason: what is wrong, for a person.
    """

    def __init__(self, path: str | os.PathLike[str], offset: int, reason: str) -> None:
        self.path = str(path)
        self.offset = offset
        self.reason = reason
        super().__init__(f"journal corrupt: {self.path} at byte offset {offset}: {reason}")


@dataclass(frozen=True, slots=True)
class JournalCheck:
    """What :func:`check_journal` found.

    ``ok`` is True only when every segment is intact. ``offset``/``path``
    name the first damage (None when ok).
    """

    ok: bool
    records: int
    last_seq: int
    message: str
    offset: int | None = None
    path: str | None = None


def segment_name(first_seq: int) -> str:
    """The file name of a segment whose first record is ``first_seq``."""
    return f"{first_seq:020d}{SEGMENT_SUFFIX}"


def encode_frame(seq: int, payload: bytes) -> bytes:
    """One framed record (header + payload)."""
    crc = zlib.crc32(payload, zlib.crc32(_SEQ.pack(seq)))
    return _HEADER.pack(len(payload), crc, seq) + payload


def _list_segments(directory: Path) -> list[tuple[int, Path]]:
    """Segments sorted by first seq; other files are ignored."""
    out: list[tuple[int, Path]] = []
    for entry in directory.iterdir():
        name = entry.name
        if not name.endswith(SEGMENT_SUFFIX):
            continue
        stem = name[: -len(SEGMENT_SUFFIX)]
        if not stem.isdigit() or len(stem) != 20:
            continue
        out.append((int(stem), entry))
    out.sort()
    return out


@dataclass(slots=True)
class _Scan:
    records: int
    first_seq: int | None
    last_seq: int | None
    valid_end: int
    torn_offset: int | None
    torn_reason: str | None


def _scan(path: Path, data: bytes, expected_seq: int | None, is_last: bool) -> _Scan:
    """Validate one segment's bytes.

    ``expected_seq`` is the seq its first record must have (None: any). A
    damaged last record of the last segment is reported as torn, anything
    else raises :class:`JournalCorrupt`.
    """
    size = len(data)
    off = 0
    records = 0
    first: int | None = None
    prev = None if expected_seq is None else expected_seq - 1
    unpack = _HEADER.unpack_from
    crc32 = zlib.crc32
    pack_seq = _SEQ.pack
    while off < size:
        bad: str | None = None
        end = off
        if size - off < HEADER_SIZE:
            bad = f"short frame header ({size - off} of {HEADER_SIZE} bytes)"
            end = size
        else:
            length, crc, seq = unpack(data, off)
            end = off + HEADER_SIZE + length
            if length > MAX_PAYLOAD:
                bad = f"frame length {length} exceeds the maximum {MAX_PAYLOAD}"
            elif end > size:
                bad = f"frame length {length} runs past the end of the file ({size} bytes)"
            elif crc32(data[off + HEADER_SIZE : end], crc32(pack_seq(seq))) != crc:
                bad = "checksum mismatch"
            elif prev is not None and seq != prev + 1:
                what = "gap" if seq > prev + 1 else "regression"
                raise JournalCorrupt(
                    path, off, f"sequence {what}: record seq {seq} follows seq {prev}"
                )
            elif seq < 1:
                raise JournalCorrupt(path, off, f"invalid record seq {seq}")
        if bad is not None:
            # A torn write can only be the last thing in the last segment:
            # the frame reaches the end of the file, or everything after it
            # is zeros (the size grew but the data never reached the disk).
            tail_is_torn = is_last and (end >= size or data.count(0, off) == size - off)
            if tail_is_torn:
                return _Scan(records, first, prev if records else None, off, off, bad)
            raise JournalCorrupt(path, off, bad)
        if first is None:
            first = seq
        prev = seq
        records += 1
        off = end
    return _Scan(records, first, prev if records else None, off, None, None)


def _validate_directory(
    directory: Path, skip_through: int = 0
) -> tuple[list[tuple[int, Path]], list[_Scan]]:
    """Scan every segment in order; raise on damage other than a torn tail.

    Segments whose records all have seq <= ``skip_through`` (a snapshot
    holds them) are not read: damage there cannot block a start.
    """
    segments = _list_segments(directory)
    scans: list[_Scan] = []
    expected: int | None = None
    for i, (first_seq, path) in enumerate(segments):
        is_last = i == len(segments) - 1
        if not is_last and segments[i + 1][0] - 1 <= skip_through:
            next_first = segments[i + 1][0]
            scans.append(_Scan(0, None, next_first - 1, 0, None, None))
            expected = next_first
            continue
        if expected is not None and first_seq != expected:
            what = "gap" if first_seq > expected else "regression"
            raise JournalCorrupt(
                path, 0, f"sequence {what}: segment starts at seq {first_seq}, expected {expected}"
            )
        data = path.read_bytes()
        scan = _scan(path, data, first_seq, is_last)
        scans.append(scan)
        if scan.first_seq is not None and scan.first_seq != first_seq:
            raise JournalCorrupt(
                path, 0, f"segment named for seq {first_seq} starts at seq {scan.first_seq}"
            )
        expected = (scan.last_seq if scan.last_seq is not None else first_seq - 1) + 1
    return segments, scans


_fdatasync = getattr(os, "fdatasync", os.fsync)


def _mtime(path: Path) -> float:
    """When a segment was last written (a missing one counts as just now)."""
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return time.time()


class FileLayer:
    """The system calls the journal's appends and syncs go through.

    Tests replace it (:attr:`Journal.files`) with one that fails as a full or
    broken disk does; the default calls the OS.
    """

    def write(self, fd: int, data: memoryview) -> int:
        """``os.write``: may write less than asked; raises OSError (ENOSPC, EIO)."""
        return os.write(fd, data)

    def fdatasync(self, fd: int) -> None:
        """Make a file's data durable."""
        _fdatasync(fd)

    def probe(self, directory: Path, nbytes: int) -> None:
        """Write ``nbytes`` to a scratch file in ``directory``, fsync it and remove it.

        Raises:
            OSError: the disk cannot take them (full, read-only, failing).
        """
        path = directory / ".probe"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            block = memoryview(bytes(min(nbytes, 1 << 16)))
            left = nbytes
            while left > 0:
                n = self.write(fd, block[: min(left, len(block))])
                if not n:
                    raise OSError(errno.ENOSPC, "probe write made no progress")
                left -= n
            self.fdatasync(fd)
        finally:
            os.close(fd)
            with contextlib.suppress(OSError):
                path.unlink()


OS_FILES = FileLayer()
"""The layer every journal uses unless given another."""


class Journal:
    """An append-only journal of ``(seq, payload)`` records in segment files.

    Args:
        directory: where the segments live (created if missing).
        fsync: when False, ``sync()`` only counts (tests and benchmarks);
            records still reach the page cache on ``append`` and survive a
            process crash, not a power loss.
        max_segment_bytes: ``append`` starts a new segment once the current
            one is at least this big (the fsyncs this needs are deferred to
            the next ``sync()``, so ``append`` never blocks on the disk).
    """

    def __init__(
        self,
        directory: Path,
        *,
        fsync: bool = True,
        max_segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        files: FileLayer | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.files = files if files is not None else OS_FILES
        """The system calls appends and syncs go through (tests inject faults)."""
        self.fsync = fsync
        self.max_segment_bytes = max_segment_bytes
        self.last_seq = 0
        """Seq of the last appended record (0 when the journal never held one)."""
        self.durable_seq = 0
        """Every record up to this seq is durable (after ``sync()``)."""
        self.last_fsync_seconds = 0.0
        """How long the last ``sync()`` spent in fsync."""
        self.fsync_count = 0
        self.repaired: str | None = None
        """The torn-tail repair ``open()`` made, for a person; None when none."""
        self._file: io.FileIO | None = None
        self._file_path: Path | None = None
        self._file_size = 0
        self._file_first = 1
        self._file_records = 0
        self._pending_close: list[io.FileIO] = []
        self._dir_dirty = False
        self._lock = threading.Lock()
        self._segments: list[tuple[int, Path]] = []
        # Where the durable records end: the journal is cut back to it when
        # a write or sync fails (discard_unsynced).
        self._durable_path: Path | None = None
        self._durable_size = 0

    # -- lifecycle -----------------------------------------------------------

    def open(self, skip_through: int = 0) -> int:
        """Validate the journal, repair a torn tail, and open it for appends.

        Args:
            skip_through: a snapshot holds every record up to this seq:
                segments entirely at or below it are neither read nor
                checked (their damage does not block a start).

        Returns:
            ``last_seq``, 0 for an empty journal.

        Raises:
            JournalCorrupt: damage before the last record, or a sequence gap.
        """
        if self._file is not None:
            raise RuntimeError("journal already open")
        self.directory.mkdir(parents=True, exist_ok=True)
        segments, scans = _validate_directory(self.directory, skip_through)
        self.repaired = None
        if not segments:
            self.last_seq = 0
            self._segments = []
            self._start_segment(1)
            self._sync_dir_now()
            self.durable_seq = 0
            self._durable_path, self._durable_size = self._file_path, self._file_size
            return 0
        last_first, last_path = segments[-1]
        last_scan = scans[-1]
        if last_scan.torn_offset is not None:
            size = last_path.stat().st_size
            with open(last_path, "r+b") as f:
                f.truncate(last_scan.torn_offset)
                f.flush()
                os.fsync(f.fileno())
            self.repaired = (
                f"truncated torn tail of {last_path} at byte offset {last_scan.torn_offset} "
                f"({size - last_scan.torn_offset} bytes dropped: {last_scan.torn_reason})"
            )
            log.warning("journal: %s", self.repaired)
        last_seq = 0
        for (first_seq, _), scan in zip(segments, scans, strict=True):
            last_seq = scan.last_seq if scan.last_seq is not None else first_seq - 1
        self.last_seq = last_seq
        self.durable_seq = last_seq
        self._segments = segments
        self._file = io.FileIO(last_path, "ab")
        self._file_path = last_path
        self._file_size = last_scan.valid_end
        self._file_first = last_first
        self._file_records = last_scan.records
        self._durable_path, self._durable_size = last_path, last_scan.valid_end
        return last_seq

    @property
    def first_seq(self) -> int:
        """Seq of the first record the journal holds (or expects, when empty)."""
        return self._segments[0][0] if self._segments else self._file_first

    def close(self) -> None:
        """Make everything durable (when ``fsync``) and close the files."""
        if self._file is None:
            return
        self.sync()
        with self._lock:
            for f in self._pending_close:
                f.close()
            self._pending_close.clear()
            self._file.close()
            self._file = None

    def __enter__(self) -> Journal:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -------------------------------------------------------------

    def append(self, records: Sequence[tuple[int, bytes]]) -> None:
        """Write a batch of records, in one ``write()``; no fsync.

        Each seq must be ``last_seq + 1`` of the one before; the first record
        of an empty journal may start anywhere >= 1 (after a snapshot).

        Raises:
            ValueError: a sequence gap or a payload too large (a caller bug);
                nothing is written then.
            OSError: the write failed; the segment is cut back to where the
                batch began, so the journal stays consistent.
        """
        if not records:
            return
        f = self._file
        if f is None:
            raise RuntimeError("journal is not open")
        first = records[0][0]
        if self.last_seq == 0 and self._file_records == 0 and first != self._file_first:
            if first < 1:
                raise ValueError(f"journal seq must be >= 1, got {first}")
            self._rename_empty_segment(first)
            f = self._file
            assert f is not None
        elif first != self.last_seq + 1:
            raise ValueError(f"journal seq {first} does not follow last seq {self.last_seq}")
        if self._file_size >= self.max_segment_bytes and self._file_records:
            self._roll(defer_sync=True)
            f = self._file
            assert f is not None
        pack = _HEADER.pack
        pack_seq = _SEQ.pack
        crc32 = zlib.crc32
        parts: list[bytes] = []
        expect = first
        for seq, payload in records:
            if seq != expect:
                raise ValueError(f"journal seq {seq} in a batch where {expect} was due")
            n = len(payload)
            if n > MAX_PAYLOAD:
                raise ValueError(f"journal payload of {n} bytes exceeds {MAX_PAYLOAD}")
            parts.append(pack(n, crc32(payload, crc32(pack_seq(seq))), seq))
            parts.append(payload)
            expect += 1
        buf = b"".join(parts)
        start = self._file_size
        try:
            view = memoryview(buf)
            written = 0
            while written < len(buf):
                n = self.files.write(f.fileno(), view[written:])
                if not n:
                    raise OSError("journal write made no progress")
                written += n
        except BaseException:
            WRITE_FAILURES.labels("write").inc()
            # Never leave half a batch behind: later appends would follow it.
            try:
                os.ftruncate(f.fileno(), start)
            except OSError:
                log.exception("journal: could not cut back a failed write")
            raise
        self._file_size = start + len(buf)
        self._file_records += len(records)
        self.last_seq = expect - 1

    def sync(self) -> None:
        """Make every record appended so far durable (fdatasync; off the loop).

        Also fsyncs segments left behind by an automatic rotation and the
        directory when a segment was created. Records the fsync duration in
        :attr:`last_fsync_seconds`.
        """
        with self._lock:
            f = self._file
            if f is None:
                return
            # last_seq before the size: the size then covers every record up to it.
            target = self.last_seq
            path, size = self._file_path, self._file_size
            pending = self._pending_close
            dir_dirty = self._dir_dirty
            t0 = time.perf_counter()
            if self.fsync:
                # On failure nothing is marked durable and the rolled files
                # stay pending (a later sync must not skip them).
                try:
                    for old in pending:
                        self.files.fdatasync(old.fileno())
                    self.files.fdatasync(f.fileno())
                    if dir_dirty:
                        fsync_dir(self.directory)
                except OSError:
                    WRITE_FAILURES.labels("sync").inc()
                    raise
            self._pending_close = []
            self._dir_dirty = False
            for old in pending:
                old.close()
            self.last_fsync_seconds = time.perf_counter() - t0
            self.fsync_count += 1
            self._durable_path, self._durable_size = path, size
            if target > self.durable_seq:
                self.durable_seq = target

    def discard_unsynced(self) -> int:
        """Cut the journal back to its durable records and close it (after a failed write or sync).

        What was appended but never made durable (so never acknowledged), a
        partly written record included, is removed: the segment where the
        durable records end is truncated there and segments started after
        it are deleted, durably. The journal is closed then; open a new one
        to go on. Safe to call again after an OSError.

        Returns:
            The bytes removed.

        Raises:
            OSError: the disk refused even that; nothing is lost by retrying.
        """
        with self._lock:
            for f in [*self._pending_close, self._file]:
                if f is not None:
                    with contextlib.suppress(OSError):
                        f.close()
            self._pending_close = []
            self._file = None
            path, size = self._durable_path, self._durable_size
            if path is None:
                return 0
            durable_first = int(path.name[: -len(SEGMENT_SUFFIX)])
            removed = 0
            keep: list[tuple[int, Path]] = []
            for first, seg in self._segments:
                if first > durable_first:
                    with contextlib.suppress(FileNotFoundError):
                        removed += seg.stat().st_size
                        seg.unlink()
                else:
                    keep.append((first, seg))
            current = path.stat().st_size
            if current > size:
                fd = os.open(path, os.O_RDWR)
                try:
                    os.ftruncate(fd, size)
                    self.files.fdatasync(fd)
                finally:
                    os.close(fd)
                removed += current - size
            fsync_dir(self.directory)
            self._segments = keep
            if removed:
                log.warning(
                    "journal: cut back to seq %d in %s at byte offset %d (%d bytes never "
                    "made durable removed)",
                    self.durable_seq,
                    path,
                    size,
                    removed,
                )
            self.last_seq = self.durable_seq
            return removed

    def probe(self, nbytes: int = 1 << 20) -> None:
        """Check the journal's disk takes ``nbytes`` now (a scratch file, fsynced, removed).

        Raises:
            OSError: it does not (full, read-only, failing).
        """
        self.files.probe(self.directory, nbytes)

    def rotate(self) -> None:
        """Start a new segment (after a snapshot), durably.

        A no-op when the current segment holds no record yet.
        """
        if self._file is None:
            raise RuntimeError("journal is not open")
        if not self._file_records:
            return
        self._roll(defer_sync=False)

    def prune(self, upto_seq: int, older_than: float | None = None) -> None:
        """Delete segments whose records all have seq <= ``upto_seq``.

        With ``older_than`` (a wall time, seconds since the epoch) only those
        last written before it go: the others are kept for audit (journal
        retention). The current segment is never deleted. The directory is
        fsynced first (a new segment must be durable before old ones go) and
        after.
        """
        with self._lock:
            if self.fsync and self._dir_dirty:
                fsync_dir(self.directory)
                self._dir_dirty = False
            keep: list[tuple[int, Path]] = []
            removed = False
            for i, (first, path) in enumerate(self._segments):
                is_current = path == self._file_path
                next_first = (
                    self._segments[i + 1][0] if i + 1 < len(self._segments) else self.last_seq + 1
                )
                if (
                    not is_current
                    and next_first - 1 <= upto_seq
                    and (older_than is None or _mtime(path) < older_than)
                ):
                    path.unlink(missing_ok=True)
                    removed = True
                else:
                    keep.append((first, path))
            self._segments = keep
            if removed and self.fsync:
                fsync_dir(self.directory)

    # -- reading -------------------------------------------------------------

    def replay(self, after_seq: int = 0) -> Iterator[tuple[int, bytes]]:
        """Yield ``(seq, payload)`` for every record with seq > ``after_seq``.

        Raises:
            JournalCorrupt: a frame fails its checksum or sequence check.
        """
        segments = list(self._segments) if self._file is not None else None
        if segments is None:
            segments = _list_segments(self.directory)
        unpack = _HEADER.unpack_from
        crc32 = zlib.crc32
        pack_seq = _SEQ.pack
        hs = HEADER_SIZE
        for i, (first, path) in enumerate(segments):
            if i + 1 < len(segments) and segments[i + 1][0] - 1 <= after_seq:
                continue
            if path == self._file_path:
                with open(path, "rb") as fh:
                    data = fh.read(self._file_size)
            else:
                data = path.read_bytes()
            size = len(data)
            off = 0
            expect = first
            while off + hs <= size:
                length, crc, seq = unpack(data, off)
                start = off + hs
                end = start + length
                if end > size:
                    break  # an incomplete tail: never replay half a record
                if seq != expect:
                    raise JournalCorrupt(path, off, f"record seq {seq}, expected {expect}")
                expect += 1
                if seq > after_seq:
                    payload = data[start:end]
                    if crc32(payload, crc32(pack_seq(seq))) != crc:
                        raise JournalCorrupt(path, off, "checksum mismatch")
                    yield seq, payload
                off = end

    # -- internals -----------------------------------------------------------

    def _start_segment(self, first_seq: int) -> None:
        path = self.directory / segment_name(first_seq)
        f = self._file = io.FileIO(path, "ab")
        self._file_path = path
        self._file_size = os.fstat(f.fileno()).st_size
        self._file_first = first_seq
        self._file_records = 0
        self._segments.append((first_seq, path))
        self._dir_dirty = True

    def _sync_dir_now(self) -> None:
        if self.fsync:
            fsync_dir(self.directory)
        self._dir_dirty = False

    def _roll(self, *, defer_sync: bool) -> None:
        with self._lock:
            old = self._file
            assert old is not None
            self._start_segment(self.last_seq + 1)
            if defer_sync:
                self._pending_close.append(old)
                return
            if self.fsync:
                self.files.fdatasync(old.fileno())
            old.close()
            self._sync_dir_now()
            self._durable_path, self._durable_size = self._file_path, 0
            self.durable_seq = self.last_seq

    def _rename_empty_segment(self, first_seq: int) -> None:
        """An empty journal starts at ``first_seq`` (e.g. after a snapshot)."""
        with self._lock:
            old = self._file
            old_path = self._file_path
            assert old is not None and old_path is not None
            old.close()
            self._segments = [s for s in self._segments if s[1] != old_path]
            old_path.unlink(missing_ok=True)
            self._start_segment(first_seq)
            self._sync_dir_now()
            self._durable_path, self._durable_size = self._file_path, 0


def check_journal(directory: Path) -> JournalCheck:
    """Verify a journal directory without changing it.

    Returns:
        ``ok=True`` when every segment is intact; otherwise ``ok=False`` with
        the first damage's ``path`` and ``offset`` and a one-line message. A
        torn tail counts as damage here ("would be truncated on start").
    """
    directory = Path(directory)
    if not directory.is_dir():
        return JournalCheck(False, 0, 0, f"journal directory {directory} does not exist")
    try:
        segments, scans = _validate_directory(directory)
    except JournalCorrupt as e:
        return JournalCheck(False, 0, 0, str(e), e.offset, e.path)
    except OSError as e:
        return JournalCheck(False, 0, 0, f"cannot read journal: {e}")
    records = sum(s.records for s in scans)
    last_seq = 0
    for (first_seq, _), scan in zip(segments, scans, strict=True):
        last_seq = scan.last_seq if scan.last_seq is not None else first_seq - 1
    if scans and scans[-1].torn_offset is not None:
        path = str(segments[-1][1])
        off = scans[-1].torn_offset
        return JournalCheck(
            False,
            records,
            last_seq,
            f"torn tail at offset {off} in {path} ({scans[-1].torn_reason}; "
            "would be truncated on start)",
            off,
            path,
        )
    return JournalCheck(
        True,
        records,
        last_seq,
        f"journal intact: {records} records in {len(segments)} segments, last seq {last_seq}",
    )
