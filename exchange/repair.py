"""Checking and repairing a stopped venue's data: the journal and the snapshots together.

CONTRACT

- A start loads the newest intact snapshot (seq ``S``; 0 when there is
  none) and replays the journal after it. So the journal is *needed* from
  seq ``S + 1`` on: segments whose records all have seq <= ``S`` are covered
  by the snapshot, and damage there is only a warning.
- :func:`check_data` (``exchange recover --check``) reads every snapshot and
  every journal segment and never changes anything. Problems (anything that
  stops a start or loses acknowledged data): damage in a needed segment,
  naming file and byte offset (a torn tail too, which a start would
  truncate); a journal that starts after ``S + 1`` (the state before it is
  in no intact snapshot). Warnings: a damaged snapshot (a start falls back
  to an older one), damage in a covered segment. ``ok`` is True when there
  is no problem.
- :func:`repair_data` (``exchange recover --repair``) keeps everything
  before the first damaged needed record and cuts the rest: the bytes it
  cuts (the rest of that segment and every later segment, in journal order)
  are first copied, fsynced, to ``<segment>.cut-<offset>`` beside the
  segment; then the segment is truncated there and later segments removed.
  It reports how many acknowledged commands that loses: the records found
  intact in the cut bytes, with a seq above ``S``, plus the damaged record
  itself. When the damage lies in records the snapshot holds (``<= S``) but
  in a segment that also holds needed records, the segment is rewritten to
  start at ``S + 1`` with the intact records found after the damage; the
  original goes to the cut file. A journal that starts after ``S + 1``
  cannot be repaired by cutting (:class:`Unrecoverable`): it needs the lost
  snapshots from a backup.
- :func:`require_covered` is the start's guard for that case: one line
  instead of a replay error.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .datadir import fsync_dir
from .journal import (
    _HEADER,
    _SEQ,
    HEADER_SIZE,
    MAX_PAYLOAD,
    Journal,
    JournalCorrupt,
    _list_segments,
    _scan,
    segment_name,
)
from .snapshots import SnapshotCorrupt, SnapshotStore

__all__ = [
    "DataCheck",
    "RepairResult",
    "SegmentScan",
    "SnapshotState",
    "Unrecoverable",
    "check_data",
    "repair_data",
    "require_covered",
    "salvage_frames",
    "scan_segments",
]


@dataclass(frozen=True, slots=True)
class SegmentScan:
    """One segment as :func:`scan_segments` found it.

    ``records`` and ``last_seq`` count the intact records before any damage
    (``last_seq`` is ``first_seq - 1`` when there is none). ``damage_offset``
    is the byte offset of the first damage (None: intact); ``torn`` says it
    is a torn tail that a start truncates.
    """

    path: Path
    first_seq: int
    size: int
    records: int
    last_seq: int
    damage_offset: int | None = None
    damage_reason: str | None = None
    torn: bool = False

    @property
    def damaged(self) -> bool:
        """Whether the segment has damage (a torn tail included)."""
        return self.damage_offset is not None


def scan_segments(directory: Path) -> list[SegmentScan]:
    """Check every segment, never raising for damage: one :class:`SegmentScan` each.

    A segment whose name breaks the sequence of an intact predecessor is
    damaged at offset 0. Read-only.
    """
    out: list[SegmentScan] = []
    segments = _list_segments(Path(directory))
    expected: int | None = None
    for i, (first_seq, path) in enumerate(segments):
        data = path.read_bytes()
        size = len(data)
        if expected is not None and first_seq != expected:
            what = "gap" if first_seq > expected else "regression"
            reason = f"sequence {what}: segment starts at seq {first_seq}, expected {expected}"
            out.append(SegmentScan(path, first_seq, size, 0, first_seq - 1, 0, reason))
            expected = None
            continue
        try:
            scan = _scan(path, data, first_seq, i == len(segments) - 1)
        except JournalCorrupt as e:
            # Count the intact records before the damage for the report.
            intact = _scan(path, data[: e.offset], first_seq, False)
            out.append(
                SegmentScan(
                    path,
                    first_seq,
                    size,
                    intact.records,
                    intact.last_seq if intact.last_seq is not None else first_seq - 1,
                    e.offset,
                    e.reason,
                )
            )
            expected = None
            continue
        last = scan.last_seq if scan.last_seq is not None else first_seq - 1
        out.append(
            SegmentScan(
                path,
                first_seq,
                size,
                scan.records,
                last,
                scan.torn_offset,
                scan.torn_reason,
                scan.torn_offset is not None,
            )
        )
        expected = None if scan.torn_offset is not None else last + 1
    return out


def salvage_frames(data: bytes, offset: int, after_seq: int) -> Iterator[tuple[int, int, int]]:
    """Intact frames found in ``data`` from ``offset`` on, past damage.

    Yields ``(seq, start, end)`` of each frame whose header is sane, whose
    CRC checks and whose seq is above ``after_seq`` (and above the one
    before); after a frame it goes on at the frame's end, after damage it
    tries the next byte. For repair and its report: slow on long damage.
    """
    size = len(data)
    unpack = _HEADER.unpack_from
    crc32 = zlib.crc32
    pack_seq = _SEQ.pack
    prev = after_seq
    off = offset
    while off + HEADER_SIZE <= size:
        length, crc, seq = unpack(data, off)
        end = off + HEADER_SIZE + length
        if (
            seq > prev
            and seq - prev < 1 << 40
            and length <= MAX_PAYLOAD
            and end <= size
            and crc32(data[off + HEADER_SIZE : end], crc32(pack_seq(seq))) == crc
        ):
            yield seq, off, end
            prev = seq
            off = end
        else:
            off += 1


JOURNAL_DIR = "journal"
SNAPSHOT_DIR = "snapshots"


class Unrecoverable(JournalCorrupt):
    """The journal starts after the newest intact snapshot: the state between is gone.

    ``str()`` is one line naming the first segment, where the journal starts
    and what the snapshots are.
    """

    def __init__(self, path: Path, first_seq: int, snapshot_seq: int, damaged: int) -> None:
        have = (
            f"the newest intact snapshot is at seq {snapshot_seq}"
            if snapshot_seq
            else (f"every snapshot is damaged ({damaged})" if damaged else "there is no snapshot")
        )
        super().__init__(
            path,
            0,
            f"the journal starts at seq {first_seq} and {have}: the commands before seq "
            f"{first_seq} are in no intact snapshot; restore the snapshots directory from a "
            "backup",
        )
        self.first_seq = first_seq
        self.snapshot_seq = snapshot_seq


def require_covered(journal: Journal, snapshot_seq: int, snapshots: SnapshotStore) -> None:
    """Raise :class:`Unrecoverable` when the open ``journal`` starts after ``snapshot_seq + 1``."""
    first = journal.first_seq
    if first <= snapshot_seq + 1 or journal.last_seq < first:
        return
    damaged = len(snapshots.seqs()) - (1 if snapshot_seq else 0)
    path = journal.directory / segment_name(first)
    raise Unrecoverable(path, first, snapshot_seq, max(damaged, 0))


@dataclass(frozen=True, slots=True)
class SnapshotState:
    """One snapshot file: intact (``reason`` None) or damaged."""

    seq: int
    path: str
    reason: str | None


@dataclass(slots=True)
class DataCheck:
    """What :func:`check_data` found."""

    snapshots: list[SnapshotState]
    segments: list[SegmentScan]
    snapshot_seq: int
    """The snapshot a start loads (0: none)."""
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unrecoverable: bool = False
    """The journal starts after the snapshot: no repair by cutting helps."""

    @property
    def ok(self) -> bool:
        """True when a start recovers every acknowledged command."""
        return not self.problems

    @property
    def records(self) -> int:
        """Intact journal records (before any damage in each segment)."""
        return sum(s.records for s in self.segments)

    @property
    def last_seq(self) -> int:
        """Seq of the journal's last intact record."""
        return self.segments[-1].last_seq if self.segments else self.snapshot_seq


def _covered(segments: Sequence[SegmentScan], i: int, snapshot_seq: int) -> bool:
    return i + 1 < len(segments) and segments[i + 1].first_seq - 1 <= snapshot_seq


def check_data(data_dir: Path) -> DataCheck:
    """Check the snapshots and the journal of ``data_dir``; read-only."""
    data_dir = Path(data_dir)
    store = SnapshotStore(data_dir / SNAPSHOT_DIR, fsync=False)
    states: list[SnapshotState] = []
    for seq in store.seqs():
        try:
            store.read(seq)
        except SnapshotCorrupt as e:
            states.append(SnapshotState(seq, e.path, e.reason))
        except OSError as e:
            states.append(SnapshotState(seq, str(store.path_for(seq)), str(e)))
        else:
            states.append(SnapshotState(seq, str(store.path_for(seq)), None))
    journal_dir = data_dir / JOURNAL_DIR
    segments = scan_segments(journal_dir) if journal_dir.is_dir() else []
    intact = [s.seq for s in states if s.reason is None]
    snapshot_seq = intact[-1] if intact else 0
    check = DataCheck(states, segments, snapshot_seq)
    for s in states:
        if s.reason is not None:
            check.warnings.append(f"snapshot {s.path} is damaged: {s.reason} (a start skips it)")
    if (
        segments
        and segments[0].first_seq > snapshot_seq + 1
        and segments[-1].last_seq >= (segments[0].first_seq)
    ):
        damaged = len(states) - len(intact)
        check.unrecoverable = True
        check.problems.append(
            str(Unrecoverable(segments[0].path, segments[0].first_seq, snapshot_seq, damaged))
        )
    for i, seg in enumerate(segments):
        if not seg.damaged:
            continue
        where = f"{seg.path} at byte offset {seg.damage_offset}: {seg.damage_reason}"
        if _covered(segments, i, snapshot_seq):
            check.warnings.append(
                f"journal damaged in {where} (covered by the snapshot at seq "
                f"{snapshot_seq}: a start does not read it)"
            )
        elif seg.torn:
            check.problems.append(f"torn tail in {where} (would be truncated on start)")
        else:
            check.problems.append(f"journal corrupt: {where}")
    return check


@dataclass(frozen=True, slots=True)
class RepairResult:
    """What :func:`repair_data` did (``cut_file`` None: nothing to repair)."""

    cut_file: Path | None
    segment: Path | None
    offset: int
    kept_last_seq: int
    lost: int
    """Acknowledged commands cut (seq above the snapshot): lost for good."""
    lost_first: int
    lost_last: int
    message: str


def repair_data(data_dir: Path) -> RepairResult:
    """Cut the journal at its first damaged needed record (see the module doc).

    Run it on a stopped venue (the caller holds the data-dir lock).

    Raises:
        Unrecoverable: the journal starts after the newest intact snapshot.
    """
    data_dir = Path(data_dir)
    check = check_data(data_dir)
    segments = check.segments
    base = check.snapshot_seq
    if (
        segments
        and segments[0].first_seq > base + 1
        and segments[-1].last_seq >= (segments[0].first_seq)
    ):
        damaged = sum(1 for s in check.snapshots if s.reason is not None)
        raise Unrecoverable(segments[0].path, segments[0].first_seq, base, damaged)
    first_bad = next(
        (i for i, seg in enumerate(segments) if seg.damaged and not _covered(segments, i, base)),
        None,
    )
    if first_bad is None:
        return RepairResult(
            None,
            None,
            0,
            check.last_seq,
            0,
            0,
            0,
            "nothing to repair: every record a start needs is intact",
        )
    seg = segments[first_bad]
    assert seg.damage_offset is not None
    data = seg.path.read_bytes()
    earlier = segments[:first_bad]
    rewrite = seg.last_seq < base
    if not rewrite:
        # The damage is in records after the snapshot: keep the prefix.
        offset, keep = seg.damage_offset, b""
        kept_last = seg.last_seq
        if not seg.records and first_bad:
            kept_last = segments[first_bad - 1].last_seq  # e.g. a segment gap at offset 0
        cut = data[offset:]
        cut_more = True  # the damaged record itself is lost
    else:
        # The damage is in records the snapshot holds, but this segment
        # also holds needed ones: keep the intact run from base + 1 on. The
        # segments before it are covered too; they go to the cut file, so
        # the journal starts at base + 1 without a gap.
        offset = 0
        cut = b"".join(e.path.read_bytes() for e in earlier) + data
        run: list[bytes] = []
        kept_last = base
        run_end = seg.damage_offset
        for seq, start, end in salvage_frames(data, seg.damage_offset, base):
            if seq != kept_last + 1:
                break
            run.append(data[start:end])
            kept_last, run_end = seq, end
        keep = b"".join(run)
        cut_more = run_end < len(data) or first_bad + 1 < len(segments)
    # Count what the cut loses: intact records above what is kept.
    found = [s for s, _, _ in salvage_frames(data, offset, kept_last)]
    later = segments[first_bad + 1 :]
    for other in later:
        other_data = other.path.read_bytes()
        found.extend(s for s, _, _ in salvage_frames(other_data, 0, kept_last))
        cut += other_data
    highest = max([kept_last + (1 if cut_more else 0), *found])
    lost = highest - kept_last
    cut_file = seg.path.with_name(f"{seg.path.name}.cut-{offset}")
    with open(cut_file, "wb") as f:
        f.write(cut)
        f.flush()
        os.fsync(f.fileno())
    fsync_dir(seg.path.parent)
    if rewrite:
        new_path = seg.path.with_name(segment_name(base + 1))
        tmp = new_path.with_name(new_path.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(keep)
            f.flush()
            os.fsync(f.fileno())
        for e in earlier:
            e.path.unlink()
        seg.path.unlink()
        os.replace(tmp, new_path)
    elif offset == 0 and first_bad:
        seg.path.unlink()  # an empty segment here would leave a gap behind
    else:
        with open(seg.path, "r+b") as f:
            f.truncate(offset)
            f.flush()
            os.fsync(f.fileno())
    for other in later:
        other.path.unlink()
    fsync_dir(seg.path.parent)
    if lost:
        torn = " (a torn write: acknowledged only if damaged after its fsync)"
        what = (
            f"{lost} acknowledged command{'s' if lost != 1 else ''} lost (seq "
            f"{kept_last + 1}..{highest}){torn if seg.torn and lost == 1 else ''}"
        )
    else:
        what = f"no acknowledged command lost (the snapshot at seq {base} holds the cut records)"
    message = (
        f"cut the journal at {seg.path} byte offset {seg.damage_offset} "
        f"({seg.damage_reason}); kept seq up to {kept_last}; {what}; "
        f"the cut bytes are in {cut_file}"
    )
    return RepairResult(
        cut_file, seg.path, offset, kept_last, lost, kept_last + 1, highest, message
    )
