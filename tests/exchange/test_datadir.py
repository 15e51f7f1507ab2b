"""The data-dir lock: one writer per data directory, a clear one-line refusal."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from exchange.datadir import DataDirLock, DataDirLocked

ROOT = Path(__file__).resolve().parents[2]

# A child that takes the lock, says so, and holds it until stdin closes.
HOLDER = """
import sys
from pathlib import Path
from exchange.datadir import DataDirLock
lock = DataDirLock(Path(sys.argv[1]))
lock.acquire()
print("locked", flush=True)
sys.stdin.read()
lock.release()
"""

# A child that tries the lock once and prints the outcome.
TRY = """
import sys
from pathlib import Path
from exchange.datadir import DataDirLock, DataDirLocked
try:
    DataDirLock(Path(sys.argv[1])).acquire()
except DataDirLocked as e:
    print(e)
    sys.exit(3)
print("acquired")
"""


# A holder that forks a child (as the venue does for snapshots), then waits.
HOLDER_FORKS = """
import os, sys
from pathlib import Path
from exchange.datadir import DataDirLock
lock = DataDirLock(Path(sys.argv[1]))
lock.acquire()
if os.fork() == 0:
    # The child speaks for both: by the time fork() returns here its at-fork
    # hook has run, so the test never kills the holder inside that window.
    print("locked", os.getpid(), flush=True)
    sys.stdin.read()
    os._exit(0)
sys.stdin.read()
"""


def start_holder(data_dir: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


def try_in_child(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", TRY, str(data_dir)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
    )


def test_second_process_is_refused_with_one_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with DataDirLock(data_dir) as lock:
        assert lock.held
        assert (data_dir / "LOCK").read_text().strip() == str(os.getpid())
        result = try_in_child(data_dir)
        assert result.returncode == 3, result.stderr
        assert result.stdout == (
            f"data directory {data_dir.resolve()} is in use by another exchange process "
            f"(pid {os.getpid()})\n"
        )
    assert not lock.held
    result = try_in_child(data_dir)
    assert result.returncode == 0 and result.stdout.strip() == "acquired", result.stderr


def test_lock_held_by_another_process(tmp_path: Path) -> None:
    holder = start_holder(tmp_path)
    try:
        with pytest.raises(DataDirLocked) as info:
            DataDirLock(tmp_path).acquire()
        assert info.value.pid == holder.pid
        assert str(info.value) == (
            f"data directory {tmp_path.resolve()} is in use by another exchange process "
            f"(pid {holder.pid})"
        )
        assert "\n" not in str(info.value)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    DataDirLock(tmp_path).acquire()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    holder = start_holder(tmp_path)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    lock = DataDirLock(tmp_path)
    lock.acquire()
    assert (tmp_path / "LOCK").read_text().strip() == str(os.getpid())
    lock.release()
    lock.release()  # idempotent


def test_two_lock_objects_in_one_process_exclude_each_other(tmp_path: Path) -> None:
    first = DataDirLock(tmp_path)
    first.acquire()
    with pytest.raises(DataDirLocked):
        DataDirLock(tmp_path).acquire()
    first.release()
    with DataDirLock(tmp_path):
        pass


def test_a_forked_child_does_not_keep_the_lock(tmp_path: Path) -> None:
    """The venue forks snapshot writers: a killed holder's child must not block a restart."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER_FORKS, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert holder.stdout is not None and holder.stdin is not None
    word, child = holder.stdout.readline().split()
    assert word == "locked"
    try:
        with pytest.raises(DataDirLocked):
            DataDirLock(tmp_path).acquire()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
        os.kill(int(child), 0)  # the forked child still runs...
        with DataDirLock(tmp_path):  # ...and yet the directory is free
            pass
    finally:
        holder.stdin.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(child), signal.SIGKILL)
