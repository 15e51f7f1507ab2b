"""A shard's journal on a JetStream stream: :class:`exchange.service.ports.Journal`.

The venue calls the journal from a worker thread (``append`` and ``sync``
block); :class:`JetStreamJournal` runs its NATS connection on an event loop
of its own (:class:`LoopThread`) and waits for it there.

- ``append`` keeps the records (checked gap-free); ``sync`` publishes them
  pipelined and returns once JetStream acknowledged every one: stored on a
  quorum of the three replicas, each fsynced (``sync_interval: always``).
  This is the file journal's rule: an order is acknowledged only after
  ``sync`` returned.
- The stream holds only journal records, so its stream sequence is the
  journal's ``seq``. Each record is published with
  ``Nats-Expected-Last-Sequence: seq - 1`` and ``Nats-Msg-Id:
  j<shard>-<seq>-<crc32 of the payload>``. A stale former leader (one that
  lost its lease while paused) therefore cannot write: its record for a
  seq someone else already wrote is either the same record (same id, a
  de-duplicated repeat) or refused (another id, wrong last sequence).
  Any failure of ``sync`` is final for this process: :attr:`on_failure`
  is called (the engine role exits; a standby takes over), then OSError.
- ``replay`` reads the stream with an ephemeral pull consumer from
  ``after_seq + 1`` to the end it had when called.
- ``rotate``/``prune`` do nothing: the stream keeps every record (a new
  engine replays the whole shard; snapshots in JetStream's object store
  are not done yet).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import zlib
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, TypeVar

from nats.aio.client import Client
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from .nats import connect, ensure_journal, journal_stream, journal_subject

__all__ = ["JetStreamJournal", "LoopThread", "record_msg_id"]

log = logging.getLogger("exchange.cluster")

T = TypeVar("T")

PUBLISH_TIMEOUT = 5.0
REPLAY_BATCH = 2_000


class LoopThread:
    """An asyncio loop in a daemon thread; :meth:`run` waits for a coroutine on it."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coro: Awaitable[T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and return its result (blocks the caller)."""
        fut: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(
            coro,  # type: ignore[arg-type]
            self.loop,
        )
        return fut.result(timeout)

    def submit(self, coro: Awaitable[T]) -> concurrent.futures.Future[T]:
        """Start ``coro`` on the loop; its future (``cancel()`` stops it)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]

    def stop(self) -> None:
        """Stop the loop and join the thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


def record_msg_id(shard: int, seq: int, payload: bytes) -> str:
    """The de-duplication id of a journal record: same record, same id."""
    return f"j{shard}-{seq}-{zlib.crc32(payload):08x}"


class JetStreamJournal:
    """Shard ``shard``'s journal on the stream ``JOURNAL_<shard>``.

    Attributes:
        last_seq: seq of the last appended record.
        durable_seq: seq of the last record JetStream acknowledged.
        on_failure: called (from the journal's thread) before a failed
            ``sync`` raises; the engine role makes it end the process.
    """

    def __init__(
        self,
        servers: str,
        shard: int,
        *,
        on_failure: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.servers = servers
        self.shard = shard
        self.on_failure = on_failure
        self.last_seq = 0
        self.durable_seq = 0
        self._pending: list[tuple[int, bytes]] = []
        self._loop: LoopThread | None = None
        self._nc: Client | None = None

    # ---------------------------------------------------------- lifecycle

    def open(self) -> JetStreamJournal:
        """Connect, create the stream if needed, learn its last seq (blocks)."""
        self._loop = LoopThread(f"journal-{self.shard}")
        self.last_seq = self.durable_seq = self._run(self._open())
        return self

    async def _open(self) -> int:
        self._nc = await connect(self.servers, name=f"journal-{self.shard}")
        js = self._nc.jetstream()
        await ensure_journal(js, self.shard)
        info = await js.stream_info(journal_stream(self.shard))
        return int(info.state.last_seq)

    def _run(self, coro: Awaitable[T], timeout: float | None = 60.0) -> T:
        assert self._loop is not None
        return self._loop.run(coro, timeout)

    def close(self) -> None:
        """Publish what is pending, then close the connection."""
        if self._loop is None:
            return
        try:
            if self._pending:
                self.sync()
        finally:
            if self._nc is not None:
                self._run(self._nc.close())
            self._loop.stop()
            self._loop = None

    # ------------------------------------------------------------ writing

    def append(self, records: Sequence[tuple[int, bytes]]) -> None:
        """Keep a batch for the next ``sync``.

        Raises:
            ValueError: a sequence gap (nothing kept).
        """
        expect = self.last_seq + 1
        for seq, _ in records:
            if seq != expect:
                raise ValueError(f"journal seq {seq} does not follow {expect - 1}")
            expect += 1
        self._pending.extend(records)
        if records:
            self.last_seq = records[-1][0]

    def sync(self) -> None:
        """Publish the pending records; return once JetStream acknowledged all.

        Raises:
            OSError: not acknowledged (fenced by another writer, no quorum,
                a timeout); :attr:`on_failure` was called first.
        """
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            self._run(self._publish(batch), PUBLISH_TIMEOUT + 5)
        except BaseException as exc:
            log.error("cluster: shard %d journal write of seqs %d..%d failed: %r",
                      self.shard, batch[0][0], batch[-1][0], exc)
            if self.on_failure is not None:
                self.on_failure(exc)
            raise OSError(
                f"JetStream did not acknowledge journal seq {batch[0][0]}: {exc!r}"
            ) from exc
        self.durable_seq = batch[-1][0]

    async def _publish(self, batch: list[tuple[int, bytes]]) -> None:
        assert self._nc is not None
        js = self._nc.jetstream()
        subject = journal_subject(self.shard)
        acks = await asyncio.gather(
            *(
                js.publish(
                    subject,
                    payload,
                    timeout=PUBLISH_TIMEOUT,
                    headers={
                        "Nats-Msg-Id": record_msg_id(self.shard, seq, payload),
                        "Nats-Expected-Last-Sequence": str(seq - 1),
                    },
                )
                for seq, payload in batch
            ),
            return_exceptions=True,
        )
        for (seq, _), ack in zip(batch, acks, strict=True):
            if isinstance(ack, BaseException):
                raise ack
            if ack.seq != seq:
                raise RuntimeError(f"journal seq {seq} was stored as stream seq {ack.seq}")

    # ------------------------------------------------------------ reading

    def replay(self, after_seq: int = 0) -> Iterator[tuple[int, bytes]]:
        """Every record above ``after_seq`` up to the stream's end as of now, in order."""
        end = self._run(self._last())
        pos = after_seq
        while pos < end:
            batch = self._run(read_range(self._client(), self.shard, pos, end))
            if not batch:
                raise RuntimeError(f"journal of shard {self.shard} ended at {pos}, expected {end}")
            yield from batch
            pos = batch[-1][0]

    def _client(self) -> Client:
        assert self._nc is not None
        return self._nc

    async def _last(self) -> int:
        info = await self._client().jetstream().stream_info(journal_stream(self.shard))
        return int(info.state.last_seq)

    # ---------------------------------------------------------- retention

    def rotate(self) -> None:
        """Nothing to do: the stream is one log."""

    def prune(self, upto_seq: int, older_than: float | None = None) -> None:
        """Nothing is dropped (the stream keeps every record)."""


async def read_range(nc: Client, shard: int, after: int, end: int) -> list[tuple[int, bytes]]:
    """Records ``after+1 .. min(end, after + REPLAY_BATCH)`` of shard ``shard``'s journal."""
    js = nc.jetstream()
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=after + 1,
        ack_policy=AckPolicy.NONE,
        inactive_threshold=30.0,
        num_replicas=1,
        mem_storage=True,
    )
    sub = await js.pull_subscribe(
        journal_subject(shard), stream=journal_stream(shard), config=config
    )
    out: list[tuple[int, bytes]] = []
    try:
        want = min(end - after, REPLAY_BATCH)
        while len(out) < want:
            try:
                msgs = await sub.fetch(want - len(out), timeout=5)
            except NatsTimeout:
                break
            for msg in msgs:
                seq = msg.metadata.sequence.stream
                if seq > end:
                    break
                out.append((seq, msg.data))
    finally:
        await sub.unsubscribe()
    return out


def journal_failure_exit(shard: int) -> Callable[[BaseException], Any]:
    """An ``on_failure`` that ends the process (a stale or cut-off leader must stop)."""
    import os

    def fail(exc: BaseException) -> None:
        log.critical("cluster: shard %d engine stops: its journal write failed (%r)", shard, exc)
        os._exit(75)

    return fail
