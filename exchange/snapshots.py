"""Snapshots of the engine's state, written atomically and checked on load.

CONTRACT

- Layout: ``<directory>/<seq:020d>.snap``, where ``seq`` is the journal seq
  the snapshot is current as of (recovery replays the journal after it).
- File: a 28-byte header, little-endian: magic ``b"RXSNAP01"``, ``u64 seq``,
  ``u64 body length``, ``u32 crc32(body)``; then the body (the engine's bytes,
  opaque here).
- ``write`` never leaves a half-written snapshot under a ``.snap`` name: it
  writes a temporary file in the same directory, fsyncs it, renames it into
  place (``os.replace``, atomic on POSIX) and fsyncs the directory so the
  rename itself survives a power loss.
- ``latest()`` returns the newest snapshot whose header, length and CRC check
  out; a damaged one is logged and skipped, so recovery falls back to the one
  before it (and replays more journal).
- ``prune(keep)`` keeps the ``keep`` newest good snapshots and deletes the
  rest, damaged ones and leftover temporary files included.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from pathlib import Path

from .datadir import fsync_dir

__all__ = ["SNAPSHOT_MAGIC", "SnapshotCorrupt", "SnapshotStore"]

log = logging.getLogger("exchange.snapshots")

SNAPSHOT_MAGIC = b"RXSNAP01"
_HEADER = struct.Struct("<8sQQI")
_SUFFIX = ".snap"
_TMP_SUFFIX = ".tmp"


class SnapshotCorrupt(Exception):
    """A snapshot file failed its header, length or checksum check."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"snapshot {self.path} is damaged: {reason}")


class SnapshotStore:
    """Numbered, checksummed snapshot files in one directory.

    Args:
        directory: where snapshots live (created on first write).
        fsync: when False, skip the fsyncs (tests and benchmarks only).
    """

    def __init__(self, directory: Path, *, fsync: bool = True) -> None:
        self.directory = Path(directory)
        self.fsync = fsync

    def path_for(self, seq: int) -> Path:
        """The file of the snapshot as of journal seq ``seq``."""
        return self.directory / f"{seq:020d}{_SUFFIX}"

    def write(self, seq: int, data: bytes) -> Path:
        """Store ``data`` as the snapshot as of ``seq``, atomically and durably.

        Returns:
            The snapshot's path.
        """
        if seq < 0:
            raise ValueError(f"snapshot seq must be >= 0, got {seq}")
        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.path_for(seq)
        tmp = final.with_name(final.name + _TMP_SUFFIX)
        header = _HEADER.pack(SNAPSHOT_MAGIC, seq, len(data), zlib.crc32(data))
        with open(tmp, "wb") as f:
            f.write(header)
            f.write(data)
            f.flush()
            if self.fsync:
                os.fsync(f.fileno())
        os.replace(tmp, final)
        if self.fsync:
            fsync_dir(self.directory)
        return final

    def seqs(self) -> list[int]:
        """Seqs of the snapshot files present (good or not), oldest first."""
        if not self.directory.is_dir():
            return []
        out = []
        for entry in self.directory.iterdir():
            stem, dot, suffix = entry.name.partition(".")
            if dot and suffix == _SUFFIX[1:] and stem.isdigit() and len(stem) == 20:
                out.append(int(stem))
        out.sort()
        return out

    def read(self, seq: int) -> bytes:
        """The body of the snapshot as of ``seq``.

        Raises:
            SnapshotCorrupt: the file fails its checks.
            FileNotFoundError: there is no such snapshot.
        """
        path = self.path_for(seq)
        data = path.read_bytes()
        if len(data) < _HEADER.size:
            raise SnapshotCorrupt(path, f"short header ({len(data)} bytes)")
        magic, hseq, length, crc = _HEADER.unpack_from(data, 0)
        if magic != SNAPSHOT_MAGIC:
            raise SnapshotCorrupt(path, "bad magic")
        if hseq != seq:
            raise SnapshotCorrupt(path, f"header says seq {hseq}")
        body = data[_HEADER.size :]
        if len(body) != length:
            raise SnapshotCorrupt(path, f"body is {len(body)} bytes, header says {length}")
        if zlib.crc32(body) != crc:
            raise SnapshotCorrupt(path, "checksum mismatch")
        return body

    def latest(self) -> tuple[int, bytes] | None:
        """The newest good snapshot as ``(seq, body)``, or None when there is none."""
        for seq in reversed(self.seqs()):
            try:
                return seq, self.read(seq)
            except SnapshotCorrupt as e:
                log.warning("%s; falling back to an older snapshot", e)
            except FileNotFoundError:
                continue  # pruned by someone meanwhile
        return None

    def prune(self, keep: int = 2) -> None:
        """Keep the ``keep`` newest good snapshots; delete the others and temp files."""
        if keep < 1:
            raise ValueError("keep must be >= 1")
        if not self.directory.is_dir():
            return
        good = 0
        removed = False
        for seq in reversed(self.seqs()):
            path = self.path_for(seq)
            if good < keep:
                try:
                    self.read(seq)
                except (SnapshotCorrupt, FileNotFoundError):
                    path.unlink(missing_ok=True)
                    removed = True
                else:
                    good += 1
                continue
            path.unlink(missing_ok=True)
            removed = True
        for entry in self.directory.iterdir():
            if entry.name.endswith(_SUFFIX + _TMP_SUFFIX):
                entry.unlink(missing_ok=True)
                removed = True
        if removed and self.fsync:
            fsync_dir(self.directory)
