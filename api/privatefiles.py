"""Owner-only data: what the exchange writes is readable by its user alone.

Journal records, snapshots and the SQLite store hold every order, trade and
(hashed) key; :func:`private_files` runs before any command that writes the
data directory (``serve``, ``demo``, ``accounts``, ``recover``).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["private_files"]


def private_files(data_dir: Path) -> None:
    """Make what the process creates owner-only, and the data directory's files too.

    Sets the process umask to 077 (new files 0600, directories 0700; child
    processes such as the store writer inherit it) and takes group and other
    access off everything already under ``data_dir``.
    """
    os.umask(0o077)
    if not data_dir.is_dir():
        return
    for root, dirs, files in os.walk(data_dir):
        for name in [*dirs, *files]:
            _owner_only(Path(root, name))
    _owner_only(data_dir)


def _owner_only(path: Path) -> None:
    # Best effort: a file owned by someone else keeps its mode (the command
    # then fails, or not, on its own terms).
    try:
        mode = path.lstat().st_mode
        if not path.is_symlink() and mode & 0o077:
            path.chmod(mode & 0o700)
    except OSError:
        pass
