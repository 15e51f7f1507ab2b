"""A journal file layer that fails as a full or broken disk does (tests only)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from exchange.journal import FileLayer


class FaultyFiles(FileLayer):
    """Writes stop after ``space`` bytes (ENOSPC); syncs fail while ``sync_error`` is set.

    ``space=None`` is an unlimited disk. A write that reaches the limit
    writes what fits (a partly written record, as a real full disk leaves)
    and the next one raises ENOSPC. ``writes_failed`` and ``syncs_failed``
    count the injected failures.
    """

    def __init__(self, space: int | None = None) -> None:
        self.space = space
        self.sync_error: int | None = None
        self.writes_failed = 0
        self.syncs_failed = 0

    def fill(self) -> None:
        """The disk is full from now on."""
        self.space = 0

    def free(self) -> None:
        """Space is freed: writes and syncs work again."""
        self.space = None
        self.sync_error = None

    def write(self, fd: int, data: memoryview) -> int:
        if self.space is None:
            return os.write(fd, data)
        if self.space <= 0:
            self.writes_failed += 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = os.write(fd, data[: self.space])
        self.space -= n
        return n

    def fdatasync(self, fd: int) -> None:
        if self.sync_error is not None:
            self.syncs_failed += 1
            raise OSError(self.sync_error, os.strerror(self.sync_error))
        super().fdatasync(fd)

    def probe(self, directory: Path, nbytes: int) -> None:
        if self.sync_error is not None:
            self.syncs_failed += 1
            raise OSError(self.sync_error, os.strerror(self.sync_error))
        super().probe(directory, nbytes)
