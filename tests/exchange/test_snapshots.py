"""Snapshots: atomic writes, durable renames, damaged snapshots fall back."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from exchange.snapshots import SnapshotCorrupt, SnapshotStore


def test_write_then_latest(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "snapshots")
    assert store.latest() is None
    store.write(10, b"ten")
    store.write(25, b"twenty-five")
    assert store.latest() == (25, b"twenty-five")
    assert store.read(10) == b"ten"
    assert store.seqs() == [10, 25]
    assert (tmp_path / "snapshots" / f"{25:020d}.snap").exists()


def test_write_fsyncs_file_then_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real_fsync = os.fsync
    real_replace = os.replace

    def fsync(fd: int) -> None:
        calls.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        calls.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    SnapshotStore(tmp_path).write(1, b"x")
    assert calls == ["file", "replace", "dir"]


def test_crash_before_rename_leaves_the_previous_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SnapshotStore(tmp_path)
    store.write(5, b"five")

    def crash(src: str | Path, dst: str | Path) -> None:
        raise OSError("power cut")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        store.write(9, b"nine" * 1000)
    monkeypatch.undo()
    # Only a temporary file is left; no half snapshot under a .snap name.
    assert store.seqs() == [5]
    assert store.latest() == (5, b"five")
    store.prune()
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{5:020d}.snap"]


@pytest.mark.parametrize("damage", ["flip", "truncate", "magic", "empty"])
def test_damaged_newest_snapshot_falls_back(tmp_path: Path, damage: str) -> None:
    store = SnapshotStore(tmp_path)
    store.write(3, b"three")
    newest = store.write(7, b"seven" * 100)
    data = bytearray(newest.read_bytes())
    if damage == "flip":
        data[-10] ^= 0x40
    elif damage == "truncate":
        del data[-1]
    elif damage == "magic":
        data[0] ^= 0x01
    else:
        data = bytearray()
    newest.write_bytes(bytes(data))
    with pytest.raises(SnapshotCorrupt):
        store.read(7)
    assert store.latest() == (3, b"three")


def test_renamed_snapshot_is_detected(tmp_path: Path) -> None:
    """A snapshot copied under another seq's name is not trusted."""
    store = SnapshotStore(tmp_path)
    old = store.write(3, b"three")
    os.replace(old, store.path_for(8))
    with pytest.raises(SnapshotCorrupt, match="seq 3"):
        store.read(8)
    assert store.latest() is None


def test_prune_keeps_the_newest_good_ones(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    for seq in (1, 2, 3, 4):
        store.write(seq, b"s%d" % seq)
    store.path_for(4).write_bytes(b"garbage")
    store.prune(keep=2)
    assert store.seqs() == [2, 3]
    assert store.latest() == (3, b"s3")
    with pytest.raises(ValueError):
        store.prune(keep=0)
