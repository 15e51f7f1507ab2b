"""Riding out a journal the disk refused: cut back, reload, wait for space, go on.

When a group's write or sync fails (a full disk, an I/O error), none of the
group's commands was acknowledged, but the engine already applied them. The
venue then, in the background and without a restart:

1. cuts the journal back to its last durable record
   (:meth:`exchange.journal.Journal.discard_unsynced`: a partly written
   record and complete but unsynced ones go), retrying until the disk
   allows even that (state ``journal_unwritable``);
2. reloads the engine from the snapshot and the journal and hands it to
   the venue, so that memory holds exactly what is durable (state
   ``recovering``);
3. waits until the journal's disk takes a probe write of
   :data:`PROBE_BYTES`, fsynced (state ``journal_unwritable``);
4. goes on accepting commands (``ready``).

Retries back off from ``first_delay`` to ``max_delay`` seconds, so the venue
resumes within about a second of space coming back. Each phase logs one
warning when it first fails, and again every :data:`LOG_EVERY` seconds.
Only ``OSError`` is retried; anything else (a journal found corrupt) is for
the caller, which then needs a restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor

from ..health import State
from ..journal import Journal
from .recovery import Recovered

__all__ = ["LOG_EVERY", "PROBE_BYTES", "JournalOutage"]

log = logging.getLogger("exchange.venue")

PROBE_BYTES = 1 << 20
"""Free space the journal's disk must take before commands are accepted again."""
LOG_EVERY = 30.0


class JournalOutage:
    """The background repair after a failed journal write (see the module doc).

    Args:
        io: the journal's executor (cutting back and probing run there).
        reload: recover the engine and a new open journal (sync; run in a
            thread).
        closing: true once the venue shuts down (the repair gives up).
    """

    def __init__(
        self,
        io: Executor,
        reload: Callable[[], Recovered],
        closing: Callable[[], bool],
        *,
        first_delay: float = 0.05,
        max_delay: float = 1.0,
    ) -> None:
        self.io = io
        self.reload = reload
        self.closing = closing
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.state: State | None = None
        """``journal_unwritable`` or ``recovering`` during an outage; None otherwise."""
        self.outages = 0

    async def ride_out(
        self, journal: Journal, adopt: Callable[[Recovered], None]
    ) -> Recovered | None:
        """Repair after a failed write of ``journal``; the recovered state, or None when closing.

        ``adopt`` gets the reloaded state at once (before the wait for
        space): reads show the refused commands only until the reload, a
        moment after the failure.

        Raises:
            Exception: reloading failed other than with OSError (e.g. the
                journal is corrupt): a restart is needed.
        """
        self.outages += 1
        t0 = time.monotonic()
        self.state = State.JOURNAL_UNWRITABLE
        loop = asyncio.get_running_loop()
        try:
            if not await self._retry(
                "cut the journal back",
                lambda: loop.run_in_executor(self.io, journal.discard_unsynced),
            ):
                return None
            self.state = State.RECOVERING
            rec: list[Recovered] = []

            async def reload() -> None:
                rec.append(await asyncio.to_thread(self.reload))

            if not await self._retry("reload the engine from the journal", reload):
                return None
            new = rec[0]
            adopt(new)
            self.state = State.JOURNAL_UNWRITABLE
            probe = new.journal.probe
            if not await self._retry(
                f"write {PROBE_BYTES} bytes to the journal's disk",
                lambda: loop.run_in_executor(self.io, probe, PROBE_BYTES),
            ):
                return None
        finally:
            self.state = None
        log.warning(
            "venue: the journal is writable again; accepting commands after seq %d "
            "(refused them for %.1f s)",
            new.engine.last_seq,
            time.monotonic() - t0,
        )
        return new

    async def _retry(self, what: str, step: Callable[[], Awaitable[object]]) -> bool:
        """Run ``step`` until it does not raise OSError; False when closing first."""
        delay = self.first_delay
        logged = 0.0
        while not self.closing():
            try:
                await step()
                return True
            except OSError as exc:
                now = time.monotonic()
                if now - logged >= LOG_EVERY:
                    logged = now
                    log.warning("venue: cannot %s yet (%s); retrying", what, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_delay)
        return False
