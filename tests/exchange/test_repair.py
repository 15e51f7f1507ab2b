"""Checking and repairing journal and snapshots together (exchange/repair.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.journal import HEADER_SIZE, Journal, segment_name
from exchange.repair import (
    Unrecoverable,
    check_data,
    repair_data,
    require_covered,
    scan_segments,
)
from exchange.snapshots import SnapshotStore


def payload(seq: int) -> bytes:
    return b'{"ts":%d,"cmd":"x%s"}' % (seq, b"y" * (seq % 5))


def write(data: Path, seqs: range, *, rotate_at: tuple[int, ...] = ()) -> None:
    """Journal records ``seqs`` one by one, starting a segment after each seq in ``rotate_at``."""
    j = Journal(data / "journal", fsync=False)
    j.open()
    for seq in seqs:
        j.append([(seq, payload(seq))])
        if seq in rotate_at:
            j.rotate()
    j.close()


def snapshot(data: Path, seq: int) -> Path:
    return SnapshotStore(data / "snapshots", fsync=False).write(seq, b"state at %d" % seq)


def offset_of(path: Path, seq: int, first: int) -> int:
    off = 0
    for s in range(first, seq):
        off += HEADER_SIZE + len(payload(s))
    return off


def flip(path: Path, offset: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0xFF
    path.write_bytes(bytes(raw))


def seqs_of(data: Path) -> list[int]:
    j = Journal(data / "journal", fsync=False)
    j.open()
    try:
        return [s for s, _ in j.replay()]
    finally:
        j.close()


def test_intact_data_checks_ok_and_repair_changes_nothing(tmp_path: Path) -> None:
    write(tmp_path, range(1, 11), rotate_at=(5,))
    snapshot(tmp_path, 5)
    check = check_data(tmp_path)
    assert check.ok and not check.warnings
    assert (check.records, check.last_seq, check.snapshot_seq) == (10, 10, 5)
    result = repair_data(tmp_path)
    assert result.cut_file is None and "nothing to repair" in result.message
    assert seqs_of(tmp_path) == list(range(1, 11))


def test_repair_cuts_at_the_first_damaged_record_and_counts_what_is_lost(
    tmp_path: Path,
) -> None:
    write(tmp_path, range(1, 21), rotate_at=(10,))
    first, second = sorted((tmp_path / "journal").glob("*.log"))
    damaged_at = offset_of(first, 7, 1)
    flip(first, damaged_at + HEADER_SIZE + 2)  # record 7's payload
    before = first.read_bytes() + second.read_bytes()
    check = check_data(tmp_path)
    assert not check.ok
    assert f"{first} at byte offset {damaged_at}: checksum mismatch" in check.problems[0]

    result = repair_data(tmp_path)
    assert (result.offset, result.kept_last_seq, result.lost) == (damaged_at, 6, 14)
    assert (result.lost_first, result.lost_last) == (7, 20)
    assert "14 acknowledged commands lost (seq 7..20)" in result.message
    # The cut bytes are kept beside, in journal order.
    assert result.cut_file == first.with_name(f"{first.name}.cut-{damaged_at}")
    assert result.cut_file.read_bytes() == before[damaged_at:]
    assert not second.exists()
    assert check_data(tmp_path).ok
    assert seqs_of(tmp_path) == list(range(1, 7))
    # The journal takes new records after the kept ones.
    write(tmp_path, range(7, 9))
    assert seqs_of(tmp_path) == list(range(1, 9))


def test_damage_in_a_covered_segment_is_a_warning_and_not_read_at_start(
    tmp_path: Path,
) -> None:
    write(tmp_path, range(1, 21), rotate_at=(10,))
    snapshot(tmp_path, 10)
    first = sorted((tmp_path / "journal").glob("*.log"))[0]
    flip(first, offset_of(first, 3, 1) + HEADER_SIZE)
    check = check_data(tmp_path)
    assert check.ok, check.problems
    assert "covered by the snapshot at seq 10" in check.warnings[0]
    assert repair_data(tmp_path).cut_file is None
    j = Journal(tmp_path / "journal", fsync=False)
    assert j.open(skip_through=10) == 20
    assert [s for s, _ in j.replay(after_seq=10)] == list(range(11, 21))
    j.close()


def test_damage_before_the_snapshot_in_a_needed_segment_keeps_what_follows(
    tmp_path: Path,
) -> None:
    # A forked snapshot lands mid-segment: records 1..20 in one segment,
    # the snapshot at 12, damage in record 5.
    write(tmp_path, range(1, 21))
    snapshot(tmp_path, 12)
    (seg,) = sorted((tmp_path / "journal").glob("*.log"))
    flip(seg, offset_of(seg, 5, 1) + HEADER_SIZE + 1)
    assert not check_data(tmp_path).ok
    result = repair_data(tmp_path)
    assert result.lost == 0 and result.kept_last_seq == 20
    assert "no acknowledged command lost" in result.message
    (new,) = sorted((tmp_path / "journal").glob("*.log"))
    assert new.name == segment_name(13)
    assert check_data(tmp_path).ok
    j = Journal(tmp_path / "journal", fsync=False)
    assert j.open() == 20 and j.first_seq == 13
    assert [s for s, _ in j.replay()] == list(range(13, 21))
    j.close()


def test_every_snapshot_damaged_and_the_journal_after_seq_1_is_unrecoverable(
    tmp_path: Path,
) -> None:
    write(tmp_path, range(1, 21), rotate_at=(10,))
    for seq in (5, 10):
        path = snapshot(tmp_path, seq)
        flip(path, path.stat().st_size - 1)
    sorted((tmp_path / "journal").glob("*.log"))[0].unlink()  # pruned after snapshot 10
    check = check_data(tmp_path)
    assert not check.ok and check.unrecoverable
    assert len(check.warnings) == 2  # each damaged snapshot named
    assert "the journal starts at seq 11 and every snapshot is damaged (2)" in check.problems[0]
    with pytest.raises(Unrecoverable):
        repair_data(tmp_path)
    j = Journal(tmp_path / "journal", fsync=False)
    j.open()
    store = SnapshotStore(tmp_path / "snapshots", fsync=False)
    assert store.latest() is None
    with pytest.raises(Unrecoverable) as info:
        require_covered(j, 0, store)
    assert "\n" not in str(info.value)
    require_covered(j, 10, store)  # a snapshot at 10 would have done
    j.close()


def test_torn_tail_is_cut_like_a_start_would(tmp_path: Path) -> None:
    write(tmp_path, range(1, 6))
    (seg,) = sorted((tmp_path / "journal").glob("*.log"))
    seg.write_bytes(seg.read_bytes()[:-3])
    check = check_data(tmp_path)
    assert "would be truncated on start" in check.problems[0]
    result = repair_data(tmp_path)
    assert result.lost == 1 and "torn write" in result.message
    assert seqs_of(tmp_path) == [1, 2, 3, 4]


def test_a_segment_gap_counts_the_records_after_it(tmp_path: Path) -> None:
    write(tmp_path, range(1, 31), rotate_at=(10, 20))
    middle = sorted((tmp_path / "journal").glob("*.log"))[1]
    middle.unlink()
    scans = scan_segments(tmp_path / "journal")
    assert scans[1].damage_offset == 0 and "gap" in (scans[1].damage_reason or "")
    result = repair_data(tmp_path)
    assert (result.kept_last_seq, result.lost) == (10, 20)
    assert seqs_of(tmp_path) == list(range(1, 11))
