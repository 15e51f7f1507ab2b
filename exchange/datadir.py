"""One writer per data directory: an advisory lock on ``<data_dir>/LOCK``.

``fcntl.flock(LOCK_EX | LOCK_NB)`` on the LOCK file; the holder writes its
pid there so that a refused process can say who holds it. The kernel drops
the lock when the holder exits, even by SIGKILL, so a crash never leaves a
stale lock behind (the file itself stays; it is never deleted, which would
let two processes lock two different files of the same name).

A forked child (the venue forks to serialize snapshots) does not keep the
lock: an ``os.register_at_fork`` hook closes the child's copy of the
descriptor, so a holder killed while its child still runs frees the data
directory at once. (Closing a copy never unlocks: ``flock`` locks belong to
the open file description and end with its last descriptor or ``LOCK_UN``,
which the child never calls.)
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import weakref
from pathlib import Path

__all__ = ["DataDirLock", "DataDirLocked", "fsync_dir"]

LOCK_NAME = "LOCK"


_HELD: weakref.WeakSet[DataDirLock] = weakref.WeakSet()


def _forget_in_child() -> None:
    """After a fork, in the child: drop (close) every held lock's descriptor."""
    for lock in list(_HELD):
        fd, lock._fd = lock._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


class DataDirLocked(Exception):
    """Another process holds the data directory.

    ``str()`` is one line: ``data directory <path> is in use by another
    exchange process (pid N)``.
    """

    def __init__(self, path: Path, pid: int | None) -> None:
        self.path = str(path)
        self.pid = pid
        holder = f"pid {pid}" if pid is not None else "pid unknown"
        super().__init__(
            f"data directory {self.path} is in use by another exchange process ({holder})"
        )


class DataDirLock:
    """Exclusive lock of a data directory for the life of this process's writer.

    Usable as a context manager. ``acquire()`` creates the directory if needed.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or fail at once.

        Raises:
            DataDirLocked: another process (or another lock object) holds it.
        """
        if self._fd is not None:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise DataDirLocked(self.data_dir.resolve(), pid) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        _HELD.add(self)

    def release(self) -> None:
        """Give the lock up (idempotent)."""
        fd = self._fd
        if fd is None:
            return
        self._fd = None
        _HELD.discard(self)
        try:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> DataDirLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def fsync_dir(directory: Path) -> None:
    """Make a directory's entries (a new, renamed or removed file) durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
