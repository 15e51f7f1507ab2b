"""The journal on a full or failing disk: cut back to what is durable, then go on."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from exchange.journal import HEADER_SIZE, WRITE_FAILURES, Journal

from .faultyfiles import FaultyFiles


def payload(seq: int) -> bytes:
    return b'{"ts":%d,"cmd":"place"}' % seq


def frame_size(seq: int) -> int:
    return HEADER_SIZE + len(payload(seq))


def records(first: int, last: int) -> list[tuple[int, bytes]]:
    return [(seq, payload(seq)) for seq in range(first, last + 1)]


def reopened(directory: Path) -> list[int]:
    j = Journal(directory)
    j.open()
    try:
        return [seq for seq, _ in j.replay()]
    finally:
        j.close()


def test_a_full_disk_mid_record_is_cut_back_and_the_journal_goes_on(tmp_path: Path) -> None:
    files = FaultyFiles()
    j = Journal(tmp_path, files=files)
    j.open()
    j.append(records(1, 3))
    j.sync()
    files.space = frame_size(4) + 5  # room for record 4 and 5 bytes of record 5
    failures = WRITE_FAILURES.labels("write")._value.get()
    with pytest.raises(OSError) as info:
        j.append(records(4, 6))
    assert info.value.errno == errno.ENOSPC
    assert WRITE_FAILURES.labels("write")._value.get() == failures + 1
    with pytest.raises(OSError):
        j.probe(4096)
    j.discard_unsynced()
    assert reopened(tmp_path) == [1, 2, 3]
    files.free()
    j.probe(4096)
    j = Journal(tmp_path, files=files)
    assert j.open() == 3
    j.append(records(4, 5))
    j.sync()
    j.close()
    assert reopened(tmp_path) == [1, 2, 3, 4, 5]


def test_records_written_but_not_synced_are_removed(tmp_path: Path) -> None:
    files = FaultyFiles()
    j = Journal(tmp_path, files=files)
    j.open()
    j.append(records(1, 2))
    j.sync()
    j.append(records(3, 4))
    files.sync_error = errno.EIO
    with pytest.raises(OSError):
        j.sync()
    assert j.durable_seq == 2
    with pytest.raises(OSError):
        j.discard_unsynced()  # the disk still fails: try again later
    files.free()
    # Complete records that never became durable were never acknowledged:
    # they go, or a start would bring back commands answered with 503.
    j.discard_unsynced()
    (segment,) = tmp_path.glob("*.log")
    assert segment.stat().st_size == frame_size(1) + frame_size(2)
    assert j.last_seq == 2
    assert reopened(tmp_path) == [1, 2]


def test_a_segment_rolled_in_the_failed_group_is_removed(tmp_path: Path) -> None:
    files = FaultyFiles()
    j = Journal(tmp_path, files=files, max_segment_bytes=frame_size(1) * 2)
    j.open()
    j.append(records(1, 2))
    j.sync()
    j.append(records(3, 3))  # rolls: a new segment for seq 3
    assert len(list(tmp_path.glob("*.log"))) == 2
    files.sync_error = errno.ENOSPC
    with pytest.raises(OSError):
        j.sync()
    files.free()
    j.discard_unsynced()
    assert [p.name for p in sorted(tmp_path.glob("*.log"))] == ["00000000000000000001.log"]
    assert reopened(tmp_path) == [1, 2]


def test_discard_is_safe_to_repeat_and_on_a_fresh_journal(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    j.open()
    assert j.discard_unsynced() == 0
    assert j.discard_unsynced() == 0
    files = FaultyFiles()
    j = Journal(tmp_path, files=files)
    j.open()
    j.append(records(1, 2))
    files.sync_error = errno.EIO
    with pytest.raises(OSError):
        j.sync()
    files.free()
    assert j.discard_unsynced() == frame_size(1) + frame_size(2)
    assert reopened(tmp_path) == []
