"""The data directory opened without a server, for ``exchange accounts create``.

Synchronous: recover, then journal a command durably (append and sync) per
call. Holds the data-dir lock from :func:`open_offline` until
:meth:`OfflineVenue.close`, so it cannot run beside a server.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..commands import Command, encode_record
from ..engine import Outcome
from .recovery import Recovered, recover_engine
from .requests import new_account

__all__ = ["OfflineVenue", "open_offline"]


class OfflineVenue:
    """A recovered data directory that journals commands one at a time.

    Holds the data-dir lock from :func:`open_offline` until :meth:`close`.
    """

    def __init__(self, rec: Recovered) -> None:
        self._rec = rec
        self.engine = rec.engine

    def submit(self, cmd: Command) -> Outcome:
        """Validate, apply and journal ``cmd`` durably; return its outcome."""
        now = max(time.time_ns(), self.engine.last_ts)
        self.engine.validate(cmd, now)
        seq = self.engine.last_seq + 1
        out = self.engine.apply(seq, now, cmd)
        journal = self._rec.journal
        journal.append([(seq, encode_record(now, cmd))])
        journal.sync()
        return out

    def create_account(self, name: object, role: object = "trader") -> dict[str, Any]:
        """Journal a new account durably; returns its id and its API key."""
        cmd, api_key = new_account(self.engine.next_account_id(), name, role)
        out = self.submit(cmd)
        assert out.response is not None
        return {**out.response, "api_key": api_key}

    def close(self) -> None:
        """Close the journal and release the lock."""
        self._rec.journal.close()
        self._rec.lock.release()

    def __enter__(self) -> OfflineVenue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_offline(data_dir: Path, *, fsync: bool = True) -> OfflineVenue:
    """Lock and recover ``data_dir`` synchronously (the server must be stopped).

    Raises:
        DataDirLocked: a server (or another tool) holds the data dir.
    """
    return OfflineVenue(recover_engine(Path(data_dir), fsync=fsync))
