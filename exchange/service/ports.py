"""What the venue needs of its storage, as protocols.

The venue's shell (:mod:`exchange.service.venue`) talks to the journal only
through :class:`Journal`, so that cluster mode can put a replicated stream
(a JetStream stream) where the file journal (:class:`exchange.journal.Journal`)
is today. :class:`SegmentedJournal` adds the retention calls the snapshotter
makes after a snapshot.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

__all__ = ["Journal", "SegmentedJournal"]


@runtime_checkable
class Journal(Protocol):
    """An ordered log of ``(seq, payload)`` records with gap-free sequences.

    Attributes:
        last_seq: seq of the last appended record (0: none yet).
        durable_seq: every record up to this seq survives a crash.
    """

    last_seq: int
    durable_seq: int

    def append(self, records: Sequence[tuple[int, bytes]]) -> None:
        """Append a batch (each seq one above the one before), not yet durable.

        Raises:
            ValueError: a sequence gap (a caller bug); nothing appended.
            OSError: the write failed; nothing of the batch stays.
        """

    def sync(self) -> None:
        """Make everything appended before the call durable (may block; off the loop)."""

    def replay(self, after_seq: int = 0) -> Iterator[tuple[int, bytes]]:
        """Every record with a seq above ``after_seq``, in order."""

    def close(self) -> None:
        """Make everything durable and release the journal."""


@runtime_checkable
class SegmentedJournal(Journal, Protocol):
    """A journal whose old records can be dropped once a snapshot covers them."""

    def rotate(self) -> None:
        """Start a new segment, so that older ones can be pruned whole."""

    def prune(self, upto_seq: int, older_than: float | None = None) -> None:
        """Drop segments whose records all have seq <= ``upto_seq`` (and, with
        ``older_than``, that were last written before that wall time)."""
