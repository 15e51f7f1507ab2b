"""What state the venue is in: one value for ``/healthz``, ``/readyz`` and refusals.

CONTRACT

- :class:`Health` is what ``Venue.health()`` returns: a :class:`State`, a
  sentence for a person saying what is wrong and what helps, and the trade
  store's lag (journal seqs not yet in the store) when there is a store.
- ``accepting``: the venue takes commands (``ready``, ``store_behind``).
  ``alive``: the process can get well by itself; only ``failed`` (an
  internal error left the engine ahead of its journal) needs a restart, so
  only ``failed`` fails liveness.
- The API renders it: ``/healthz`` 200 unless ``failed`` (503), ``/readyz``
  200 while accepting, else 503; both bodies are :meth:`Health.wire`.
  Refused commands answer 503 ``not_ready`` with :attr:`Health.detail`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["DETAILS", "STORE_BEHIND_LAG", "Health", "State"]

STORE_BEHIND_LAG = 10_000
"""A store this many journal seqs behind (or with a dead writer) is ``store_behind``."""


class State(StrEnum):
    """The venue's states, as ``status`` on the wire."""

    STARTING = "starting"
    READY = "ready"
    STORE_BEHIND = "store_behind"
    JOURNAL_UNWRITABLE = "journal_unwritable"
    RECOVERING = "recovering"
    FAILED = "failed"
    CLOSING = "closing"


DETAILS: dict[State, str] = {
    State.STARTING: "The exchange is starting (replaying its journal); retry in a few seconds.",
    State.READY: "The exchange is accepting orders.",
    State.STORE_BEHIND: (
        "The exchange is accepting orders, but the trade store is behind the journal; "
        "history and analytics lag until it catches up by itself."
    ),
    State.JOURNAL_UNWRITABLE: (
        "The journal cannot be written (the data directory's disk is full or failing), so "
        "no order can be accepted; free space on that disk and the exchange resumes by "
        "itself within seconds, no restart needed."
    ),
    State.RECOVERING: (
        "The exchange is reloading its state from the journal after a journal write "
        "failed; retry in a few seconds."
    ),
    State.FAILED: (
        "The exchange stopped accepting commands after an internal error and needs a "
        "restart; the journal holds every acknowledged command."
    ),
    State.CLOSING: "The exchange is shutting down; retry once it is back.",
}


@dataclass(frozen=True, slots=True)
class Health:
    """The venue's state, what it means for a person, and the store's lag."""

    state: State
    detail: str
    store_lag: int | None = None

    @classmethod
    def of(cls, state: State, store_lag: int | None = None) -> Health:
        """The state with its standard sentence."""
        detail = DETAILS[state]
        if state is State.STORE_BEHIND and store_lag is not None:
            detail = f"{detail} It is {store_lag} journal records behind."
        return cls(state, detail, store_lag)

    @property
    def accepting(self) -> bool:
        """Whether commands are taken."""
        return self.state in (State.READY, State.STORE_BEHIND)

    @property
    def alive(self) -> bool:
        """False only when a restart is needed."""
        return self.state is not State.FAILED

    def wire(self) -> dict[str, Any]:
        """The JSON body of ``/healthz`` and ``/readyz``."""
        body: dict[str, Any] = {"status": str(self.state), "detail": self.detail}
        if self.store_lag is not None:
            body["store_lag"] = self.store_lag
        return body
