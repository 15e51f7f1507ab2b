"""The running venue: lifecycle, the one submit path, release, commands.

:class:`Venue` is a thin shell: recovery (:mod:`.recovery`), group commit
(:mod:`.committer`), snapshots (:mod:`.snapshotter`), the trade store
(:mod:`.storefeed`) and the reads (:mod:`.queries`) live in their own
modules; request bodies are checked in :mod:`.requests`. Every command goes
through :meth:`Venue.submit`: refused unless the venue accepts commands,
validated (raise before journaling), applied with a seq and ``ts`` (never
below the last ts), enqueued for the next group, answered once that group
is durable and released.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import metrics
from ..accountfeed import AccountBatch
from ..accounts import Account, Role
from ..catalog import Product, demo_products
from ..clock import HOUR_NS
from ..commands import (
    AuthenticateTrade,
    CancelOrder,
    Command,
    MarkShipped,
    RemoveHolding,
    Tick,
    encode_record,
)
from ..engine import Engine, Outcome
from ..errors import ExchangeError
from ..fees import DEFAULT_SCHEDULE, FeeSchedule
from ..health import STORE_BEHIND_LAG, Health, State
from ..journal import DataDirLock, FileLayer
from ..marketdata import L2Mirror, MarketDataEvent, TradePrint
from ..storewriter import warm_forkserver
from ..venueclock import VenueClock, check_start_jump
from .committer import Committer
from .history import VenueHistory
from .keys import KeyListener, VenueKeys
from .outage import JournalOutage
from .ports import SegmentedJournal
from .queries import VenueQueries
from .recent import RecentTrades, load_recent
from .recovery import Recovered, recover_engine
from .requests import (
    check_holding,
    create_product_command,
    new_account,
    parse_amend,
    parse_holding,
    parse_passed,
)
from .snapshotter import Snapshotter
from .storefeed import StoreFeed, StoreReads

__all__ = ["Subscriber", "Venue", "VenueConfig"]

log = logging.getLogger("exchange.venue")

Subscriber = Callable[[list[MarketDataEvent]], None]
AccountSubscriber = Callable[[AccountBatch], None]

# Labelled metric children, looked up once (labels() costs on every call).
_COMMAND_COUNTERS: dict[str, Any] = {}
_ORDER_COUNTERS: dict[tuple[str, str], Any] = {}


@dataclass(frozen=True, slots=True)
class VenueConfig:
    """Settings of one venue.

    Attributes:
        data_dir: journal, snapshots, lock and the default SQLite store.
        database_url: the trade store URL; None for ``sqlite:///<data_dir>/exchange.db``.
        fsync: False skips fsync (tests and benchmarks; a process crash
            still loses nothing, a power loss may).
        ship_deadline_hours: time a seller has to ship.
        authenticate_deadline_hours: time the platform has to authenticate a
            shipped trade; then it is canceled (buyer refunded, no seller
            penalty).
        max_open_orders: open orders per account (``open_order_limit`` beyond).
        max_holdings: portfolio holdings per account (``holding_limit`` beyond).
        demo_catalog: journal the demo products on a first start.
        snapshot_every: commands between snapshots.
        store: False runs without a trade store (no analytics).
        tick_interval: seconds between checks for due expiries/deadlines.
        schedule: the fee schedule.
        fork_snapshots: serialize periodic snapshots in a forked child
            (copy-on-write) so the event loop never pauses for them; where
            ``os.fork`` is missing, or when False, they are serialized on the
            loop.
        store_process: write the trade store from a child process
            (:class:`exchange.storewriter.SupervisedWriter`), so SQL work
            never takes the GIL from the matching path; False (or no
            ``os.fork``) writes from a thread of this process.
        journal_files: the journal's file layer; None is the OS (tests
            inject a full or failing disk).
        max_clock_ahead_hours: a start whose wall clock is further ahead of
            the journal's last record is refused (``ClockJumpRefused``) ...
        accept_clock_jump: ... unless this confirms it.
        wall_clock, monotonic_clock: int-ns clocks of the venue's time
            (:class:`exchange.venueclock.VenueClock`); tests inject them.
        journal_retention_days: journal segments a kept snapshot covers are
            never read at start, and are deleted this many days after they
            were last written; None keeps them forever.
        store_stall_seconds: a writer process silent this long (stopped,
            hung) is killed and restarted.
        store_read_timeout: the longest a store read waits for the store to
            catch up before it answers from what is stored.
        store_open_wait: the longest a start waits for the store to catch up.
        store_close_timeout: the longest a close waits for it (the rest is
            written after the next start).
        journal_factory: opens the journal in place of the file journal
            under ``data_dir`` (cluster mode: a shard's JetStream stream).
        id_base: a fresh engine's ids start above it (cluster mode gives each
            shard its own range).
    """

    data_dir: Path = Path("data")
    database_url: str | None = None
    fsync: bool = True
    ship_deadline_hours: float = 48
    authenticate_deadline_hours: float = 72
    max_open_orders: int = 10_000
    max_holdings: int = 5_000
    demo_catalog: bool = True
    snapshot_every: int = 100_000
    store: bool = True
    tick_interval: float = 1.0
    schedule: FeeSchedule = field(default=DEFAULT_SCHEDULE)
    fork_snapshots: bool = True
    store_process: bool = True
    journal_files: FileLayer | None = None
    max_clock_ahead_hours: float = 24
    accept_clock_jump: bool = False
    wall_clock: Callable[[], int] = time.time_ns
    monotonic_clock: Callable[[], int] = time.monotonic_ns
    journal_retention_days: float | None = 7.0
    store_stall_seconds: float = 30.0
    store_read_timeout: float = 1.0
    store_open_wait: float = 5.0
    store_close_timeout: float = 10.0
    journal_factory: Callable[[], SegmentedJournal] | None = None
    id_base: int = 0


class Venue(VenueQueries, VenueHistory, VenueKeys):
    """The running venue; build it with :meth:`Venue.open`."""

    def __init__(self, cfg: VenueConfig) -> None:
        self.cfg = cfg
        self._ready = False
        self.mirror = L2Mirror()
        self.engine: Engine = Engine(cfg.schedule)
        self._store = StoreFeed(
            cfg.data_dir,
            cfg.database_url,
            process=cfg.store_process,
            fsync=cfg.fsync,
            stall_seconds=cfg.store_stall_seconds,
            read_timeout=cfg.store_read_timeout,
            open_wait=cfg.store_open_wait,
            close_timeout=cfg.store_close_timeout,
        )
        self._store.released = lambda: self.released_seq
        self._reads: StoreReads | None = None
        self._journal: SegmentedJournal | None = None
        self._lock: DataDirLock | None = None
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")
        self._subscribers: list[Subscriber] = []
        self._account_subscribers: list[AccountSubscriber] = []
        self._key_listeners: list[KeyListener] = []
        self._committer: Committer | None = None
        self._snapshotter: Snapshotter | None = None
        self._timer: asyncio.Task[None] | None = None
        self._failed: BaseException | None = None
        self._closing = False
        self._seq = 0
        self._last_ts = 0
        self._released_trade = 0
        self._recent = RecentTrades()
        self._clock: VenueClock | None = None
        self._outage = JournalOutage(self._io, self._reload, lambda: self._closing)

    def _store_or_none(self) -> Any:
        return self._store.store if self.cfg.store else None

    # ------------------------------------------------------------ lifecycle

    @classmethod
    async def open(cls, cfg: VenueConfig) -> Venue:
        """Lock the data dir, recover, start the store writer and tasks.

        Raises:
            DataDirLocked: another process uses the data dir.
            JournalCorrupt: the journal is damaged (names file and offset).
        """
        venue = cls(cfg)
        await venue._open()
        return venue

    async def _open(self) -> None:
        cfg = self.cfg
        Path(cfg.data_dir).mkdir(parents=True, exist_ok=True)
        lock = DataDirLock(Path(cfg.data_dir))
        # The lock first: a second process must fail before touching anything.
        await asyncio.to_thread(lock.acquire)
        self._lock = lock
        if cfg.store and cfg.store_process:
            warm_forkserver()  # the writer's imports run while the engine recovers
        try:
            store_seq: int | None = None
            if cfg.store:
                store_seq = await asyncio.to_thread(self._store.open)
            rec = await asyncio.to_thread(self._reload, store_seq)
            # Deadlines a far jump of the clock would fire cannot be undone.
            check_start_jump(
                rec.engine.last_ts,
                cfg.wall_clock(),
                max_ahead_ns=int(cfg.max_clock_ahead_hours * HOUR_NS),
                accept=cfg.accept_clock_jump,
            )
        except BaseException:
            await self._shutdown(snapshot=False)
            raise
        self._adopt(rec)
        engine = rec.engine
        self._clock = VenueClock(
            engine.last_ts, wall=cfg.wall_clock, mono=cfg.monotonic_clock
        )
        try:
            if cfg.store:
                await asyncio.to_thread(self._store.catch_up, store_seq or 0, rec)
                # The feed's recent trades that left memory, read from the
                # store while the writer process starts.
                recent = asyncio.ensure_future(asyncio.to_thread(self._load_recent, engine))
                await self._store.start_writer(engine.last_seq)
                self._recent = await recent
                self._reads = StoreReads(self._store)
            for sku in sorted(engine.books):
                bids, asks = engine.book_levels(sku)
                seq, book_seq, trade_seq = engine.md_sequences(sku)
                self.mirror.load(
                    sku, seq, bids, asks, book_sequence=book_seq, trade_sequence=trade_seq
                )
            self._released_trade = engine.trade_count()
            # Read through self.engine: a reload after a journal failure swaps it.
            metrics.bind_gauges(
                lambda: len(self.engine.books), lambda: self.engine.resting_orders()
            )
            self._committer = Committer(
                rec.journal,
                self._io,
                self._release,
                self._between_groups,
                self._seq,
                on_failure=self._journal_failed,
                after_sync=self._store.append if cfg.store else None,
            )
            self._ready = True
            if cfg.demo_catalog:
                await self._journal_demo_catalog()
            self._timer = asyncio.create_task(self._tick_loop(), name="venue-tick")
        except BaseException:
            await self._shutdown(snapshot=False)
            raise

    def _load_recent(self, engine: Engine) -> RecentTrades:
        """Each traded SKU's recent trades the engine no longer holds (sync)."""
        traded = [sku for sku in sorted(engine.books) if engine.md_sequences(sku)[2]]
        try:
            return load_recent(self._store.store, traded, engine.trade_book.holds)
        except Exception:  # a store that cannot be read must not stop the start
            log.warning("venue: recent trades not read from the store", exc_info=True)
            return RecentTrades()

    def _reload(self, keep_store_ops_after: int | None = None) -> Recovered:
        """Recover the engine and open the journal (sync; the lock is held)."""
        cfg = self.cfg
        return recover_engine(
            cfg.data_dir,
            fsync=cfg.fsync,
            schedule=cfg.schedule,
            ship_deadline_ns=int(cfg.ship_deadline_hours * HOUR_NS),
            authenticate_deadline_ns=int(cfg.authenticate_deadline_hours * HOUR_NS),
            keep_store_ops_after=keep_store_ops_after,
            lock=False,
            files=cfg.journal_files,
            journal_factory=cfg.journal_factory,
            id_base=cfg.id_base,
        )

    def _adopt(self, rec: Recovered) -> None:
        """Take a recovered engine and journal as the venue's own."""
        self._journal = rec.journal
        self.engine = engine = rec.engine
        engine.max_open_orders = self.cfg.max_open_orders
        engine.max_holdings = self.cfg.max_holdings
        self._seq = engine.last_seq
        self._last_ts = engine.last_ts
        self._snapshotter = Snapshotter(
            engine,
            rec.journal,
            rec.snapshots,
            self._io,
            every=self.cfg.snapshot_every,
            fork=self.cfg.fork_snapshots,
            snapshot_seq=rec.snapshot_seq,
            retention_s=(
                None
                if self.cfg.journal_retention_days is None
                else self.cfg.journal_retention_days * 86_400.0
            ),
            before_write=self._store.sync_outbox if self.cfg.store else None,
        )

    async def _journal_failed(self, exc: BaseException) -> SegmentedJournal | None:
        """The committer's ``on_failure``: ride the outage out, go on with a new journal."""
        journal = self._journal
        assert journal is not None
        if self._snapshotter is not None:
            try:
                # A snapshot not yet released may hold commands never journaled.
                await self._snapshotter.finish(journal_ok=False)
            except Exception:
                log.exception("venue: giving up a snapshot after a journal failure")
        released = self._committer.released_seq if self._committer is not None else 0

        def adopt(rec: Recovered) -> None:
            if rec.engine.last_seq != released:
                log.error(
                    "venue: reloaded at seq %d, but seq %d was released",
                    rec.engine.last_seq,
                    released,
                )
            self._adopt(rec)

        try:
            rec = await self._outage.ride_out(journal, adopt)  # type: ignore[arg-type]
        except Exception as reload_error:
            log.critical("venue: cannot reload after a journal failure; a restart is needed")
            self._failed = reload_error
            return None
        return None if rec is None else rec.journal

    async def _journal_demo_catalog(self) -> None:
        """On a first start, journal the demo products (all in one group).

        A start that finds only some of them (a crash cut the first group
        short) journals the rest; a catalog without any of them is left alone.
        """
        catalog = self.engine.catalog
        demo = demo_products()
        if len(catalog) and not any(catalog.has_product(p.style) for p in demo):
            return
        missing = [p for p in demo if not catalog.has_product(p.style)]
        for product in missing:
            cmd = create_product_command(product)
            now = self._now()
            self.engine.validate(cmd, now)
            self._enqueue(cmd, now)
        if missing:
            await self._wait_group()

    async def close(self) -> None:
        """Drain pending commands, snapshot, close the store, journal and lock."""
        if self._closing:
            return
        self._closing = True
        await self._shutdown(snapshot=self._failed is None)

    def _journal_ok(self) -> bool:
        committer = self._committer
        return self._failed is None and (committer is None or committer.failed is None)

    async def _shutdown(self, *, snapshot: bool) -> None:
        self._ready = False
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._timer
        committer = self._committer
        if committer is not None and committer.has_pending and self._journal_ok():
            try:
                await self._wait_group()
            except Exception:
                log.exception("venue: could not commit the last group")
        self._closing = True
        if committer is not None:
            await committer.stop()
        snapshotter = self._snapshotter
        if snapshotter is not None:
            await snapshotter.finish(journal_ok=self._journal_ok())
            if snapshot and self._journal_ok():
                await snapshotter.final(self.engine.last_seq)
        await self._store.close()
        if self._journal is not None:
            await asyncio.get_running_loop().run_in_executor(self._io, self._journal.close)
        self._io.shutdown(wait=True)
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    # ------------------------------------------------------------ submitting

    def _now(self) -> int:
        clock = self._clock
        now = time.time_ns() if clock is None else clock.now_ns()
        if now < self._last_ts:
            now = self._last_ts
        return now

    def _accepting(self) -> int:
        """``now`` for a new command, or ``not_ready`` when commands are refused."""
        if not self.ready or self._closing:
            raise ExchangeError("not_ready", self.health().detail)
        return self._now()

    def health(self) -> Health:
        """The venue's state for ``/healthz``, ``/readyz`` and refusals."""
        if self._closing:
            return Health.of(State.CLOSING)
        if self._failed is not None:
            return Health.of(State.FAILED)
        if self._outage.state is not None:
            return Health.of(self._outage.state)
        if not self.ready:
            return Health.of(State.STARTING)
        lag, writing = self._store_lag()
        if lag is not None and (lag > STORE_BEHIND_LAG or not writing):
            return Health.of(State.STORE_BEHIND, lag)
        return Health.of(State.READY, lag)

    def _store_lag(self) -> tuple[int | None, bool]:
        """The store's lag in journal seqs and whether its writer runs (None: unknown)."""
        status = getattr(self, "store_status", None)
        if status is None:
            return None, True
        info = status()
        if not info.get("enabled"):
            return None, True
        return int(info.get("lag", 0)), bool(info.get("writer_alive", True))

    def _enqueue(self, cmd: Command, now: int) -> tuple[Outcome, asyncio.Future[None]]:
        """Apply a validated command and add it to the next group; no await inside."""
        seq = self._seq + 1
        t0 = time.perf_counter()
        try:
            out = self.engine.apply(seq, now, cmd)
        except BaseException as exc:
            # A bug: the engine may be half-changed by a command the journal
            # will never hold. Stop; a restart recovers the journaled state.
            log.critical("venue: applying %r failed; refusing commands until restart", cmd)
            self._failed = exc
            self._ready = False
            raise
        elapsed = time.perf_counter() - t0
        self._seq = seq
        self._last_ts = now
        metrics.MATCH_SECONDS.observe(elapsed)
        assert self._committer is not None
        return out, self._committer.enqueue((seq, encode_record(now, cmd)), out, cmd.TYPE)

    async def submit(self, cmd: Command, now: int | None = None) -> Outcome:
        """Validate, apply and journal ``cmd``; return its outcome once durable.

        Args:
            cmd: the command.
            now: its time, from :meth:`_accepting` when the caller needed it
                to build the command; None takes it here.

        Raises:
            ExchangeError: ``not_ready`` when commands are refused, the
                engine's refusal (nothing journaled), or a refusal only the
                book could see (journaled; it changed nothing).
        """
        if now is None:
            now = self._accepting()
        self.engine.validate(cmd, now)
        out, group = self._enqueue(cmd, now)
        # shield: a caller cancelled while waiting (a client went away) must
        # not cancel the group's future, which other callers share.
        await asyncio.shield(group)
        if out.error is not None:
            raise out.error
        return out

    async def _wait_group(self) -> None:
        """Wait until everything submitted so far is durable and released."""
        assert self._committer is not None
        await self._committer.wait(self._seq)

    def _release(self, outs: Sequence[tuple[Outcome, str]]) -> None:
        """After a durable group, in journal order: the L2 mirror, metrics
        (summed per group), the store, then the subscribers."""
        mirror = self.mirror
        events: list[MarketDataEvent] = []
        # Metric facts are summed over the group: one inc per label, not per command.
        kinds: dict[str, int] = {}
        outcomes: dict[tuple[str, str], int] = {}
        trades = traded = fees = 0
        for out, kind in outs:
            kinds[kind] = kinds.get(kind, 0) + 1
            if out.md:
                for ev, counts in zip(out.md, out.md_orders, strict=True):
                    mirror.apply(ev, counts)
                    events.append(ev)
                    if type(ev) is TradePrint and ev.trade_id > self._released_trade:
                        self._released_trade = ev.trade_id
            if out.order_status is not None:
                key = (out.order_status, out.order_reason or "none")
                outcomes[key] = outcomes.get(key, 0) + 1
            if out.trades:
                trades += out.trades
                traded += out.traded_cents
                fees += out.fees_cents
        for kind, n in kinds.items():
            counter = _COMMAND_COUNTERS.get(kind)
            if counter is None:
                counter = _COMMAND_COUNTERS[kind] = metrics.COMMANDS.labels(kind)
            counter.inc(n)
        for key, n in outcomes.items():
            counter = _ORDER_COUNTERS.get(key)
            if counter is None:
                counter = _ORDER_COUNTERS[key] = metrics.ORDERS.labels(*key)
            counter.inc(n)
        if trades:
            metrics.TRADES.inc(trades)
            metrics.TRADED_VALUE_CENTS.inc(traded)
            metrics.FEES_EARNED_CENTS.inc(fees)
        # The group's store ops are in the outbox already (after_sync).
        self._store.announce(outs[-1][0].seq)
        if events:
            for callback in list(self._subscribers):
                try:
                    callback(events)
                except Exception:
                    log.exception("venue: market-data subscriber %r failed", callback)
        if self._account_subscribers:
            # Every group, also one without rows: it tells how far release got.
            batch = AccountBatch(
                outs[-1][0].seq, [(out.seq, out.store_ops) for out, _ in outs if out.store_ops]
            )
            for account_callback in list(self._account_subscribers):
                try:
                    account_callback(batch)
                except Exception:
                    log.exception("venue: account subscriber %r failed", account_callback)

    async def _between_groups(self) -> None:
        if self._journal_ok() and self._snapshotter is not None:
            try:
                await self._snapshotter.between_groups(self._seq)
            except Exception:
                log.exception("venue: snapshot step failed; trying again after the next group")

    async def _tick_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.cfg.tick_interval)
            if self._clock is not None:
                self._clock.check()  # a wall-clock step: logged and counted, not followed
            await self.tick_if_due()
            if self.cfg.store and self._journal_ok():
                try:
                    await loop.run_in_executor(self._io, self._store.prune_outbox)
                except Exception:
                    log.exception("venue: pruning the store outbox failed")
            await self.evict_if_due()

    async def tick_if_due(self) -> bool:
        """Journal a :class:`Tick` if an expiry or ship deadline has passed.

        Returns:
            Whether a Tick was journaled.
        """
        due = self.engine.next_due()
        if due is None or due > self._now() or not self.ready:
            return False
        try:
            await self.submit(Tick())
        except ExchangeError:
            return False
        except Exception:
            log.exception("venue: tick failed")
            return False
        return True

    async def flush_store(self, timeout: float | None = None) -> bool:
        """Wait until the trade store holds everything released so far.

        Returns:
            False when ``timeout`` seconds passed first (or there is no store).
        """
        return await asyncio.to_thread(self._store.wait, self.released_seq, timeout)

    def store_status(self) -> dict[str, Any]:
        """The trade store's position, lag (seqs behind the journal) and writer state."""
        return self._store.status()

    # ------------------------------------------------------------- commands

    async def create_account(self, name: object, role: object = "trader") -> dict[str, Any]:
        """Create an account; the API key is in the answer and nowhere else.

        Raises:
            ExchangeError: ``validation_error`` for a bad name or role.
        """
        now = self._accepting()
        cmd, api_key = new_account(self.engine.next_account_id(), name, role)
        out = await self.submit(cmd, now)
        assert out.response is not None
        return {**out.response, "api_key": api_key}

    async def create_product(self, account: Account, body: object) -> dict[str, Any]:
        """Add a product (admin only); returns it in wire shape."""
        if account.role is not Role.ADMIN:
            raise ExchangeError("forbidden", "Only an admin may add products.")
        product = Product.from_request(body)
        out = await self.submit(create_product_command(product))
        assert out.response is not None
        return out.response

    async def place_order(self, account: Account, body: object) -> tuple[int, dict[str, Any]]:
        """Place one order; ``(201, answer)``, or ``(200, answer)`` for a replay."""
        cmd, now, answer = await self._placement(account, body)
        if answer is not None:
            # The answer is the state as of now; it may rest on commands still
            # on their way to the disk, so it leaves only once they are durable
            # (reading the engine again after the wait could show later,
            # not yet durable, changes).
            await self._wait_group()
            return 200, answer
        out = await self.submit(cmd, now)
        assert out.response is not None
        return out.status, out.response

    async def place_orders(
        self, account: Account, bodies: Sequence[object]
    ) -> list[dict[str, Any]]:
        """Place several orders as one group commit; one result per body, in order."""
        self._accepting()
        results: list[dict[str, Any] | Outcome] = []
        replayed = False
        group: asyncio.Future[None] | None = None
        for body in bodies:
            try:
                cmd, now, answer = await self._placement(account, body)
                if answer is not None:
                    replayed = True
                    results.append(answer)
                    continue
                self.engine.validate(cmd, now)
            except ExchangeError as exc:
                results.append({"error": exc})
                continue
            out, group = self._enqueue(cmd, now)
            results.append(out)
        if group is not None:
            await asyncio.shield(group)
        if replayed:
            # Replay answers were taken before the wait, as in place_order.
            await self._wait_group()
        final: list[dict[str, Any]] = []
        for item in results:
            if isinstance(item, Outcome):
                assert item.response is not None
                final.append(item.response)
            else:
                final.append(item)
        return final

    async def _answer(self, cmd: Command) -> dict[str, Any]:
        out = await self.submit(cmd)
        assert out.response is not None
        return out.response

    async def cancel_order(self, account: Account, order_id: int) -> dict[str, Any]:
        """Cancel an open order; returns its final state."""
        await self.refuse_ended_order(account, order_id)
        return await self._answer(CancelOrder(account.id, order_id))

    async def amend_order(self, account: Account, order_id: int, body: object) -> dict[str, Any]:
        """Amend an open order (new total ``quantity`` and/or ``price_cents``)."""
        await self.refuse_ended_order(account, order_id)
        return await self._answer(parse_amend(account.id, order_id, body))

    async def ship(self, account: Account, trade_id: int) -> dict[str, Any]:
        """The seller marks a trade shipped."""
        await self.refuse_settled_trade(account, trade_id)
        return await self._answer(MarkShipped(account.id, trade_id))

    async def authenticate_trade(
        self, account: Account, trade_id: int, passed: object
    ) -> dict[str, Any]:
        """An authenticator passes or fails a shipped trade."""
        await self.refuse_settled_trade(account, trade_id)
        return await self._answer(AuthenticateTrade(account.id, trade_id, parse_passed(passed)))

    async def add_holding(self, account: Account, body: object) -> dict[str, Any]:
        """Add a hand-entered item to the account's portfolio."""
        data = check_holding(body)
        now = self._accepting()
        out = await self.submit(parse_holding(account.id, data, now), now)
        assert out.response is not None
        return out.response

    async def remove_holding(self, account: Account, holding_id: int) -> dict[str, Any]:
        """Remove a hand-added item (``not_found`` unless it is one of the account's)."""
        return await self._answer(RemoveHolding(account.id, holding_id))

    # ------------------------------------------------------ subscriptions

    def subscribe(self, callback: Subscriber) -> None:
        """Call ``callback(events)`` on the loop after each durable group with market data."""
        self._subscribers.append(callback)

    def unsubscribe(self, callback: Subscriber) -> None:
        """Stop calling ``callback``; a no-op if it was not subscribed."""
        with contextlib.suppress(ValueError):
            self._subscribers.remove(callback)

    def subscribe_accounts(self, callback: AccountSubscriber) -> None:
        """Call ``callback(batch)`` on the loop after each durable group (see
        :mod:`exchange.accountfeed`), after the market-data subscribers."""
        self._account_subscribers.append(callback)

    def unsubscribe_accounts(self, callback: AccountSubscriber) -> None:
        """Stop calling ``callback``; a no-op if it was not subscribed."""
        with contextlib.suppress(ValueError):
            self._account_subscribers.remove(callback)

    def open_orders(self, account: Account) -> tuple[int, list[dict[str, Any]]]:
        """The account's open orders (REST shape, oldest first) and the journal seq
        they are as of: the last command applied, which may not be durable yet."""
        return self._seq, self.engine.orders(account.id, "open")

    # ------------------------------------------------- tests and benchmarks

    @property
    def ready(self) -> bool:
        """Whether the venue accepts commands (recovered, journal writable, not closing)."""
        return self._ready and self._journal_ok()

    @property
    def analytics(self) -> Any:
        """The :class:`exchange.analytics.Analytics` over the store, as
        :class:`StoreReads` (bounded waits, 503 for an outage); None without a store."""
        return self._reads

    @property
    def released_seq(self) -> int:
        """The last journal seq whose command is durable and released."""
        return self._committer.released_seq if self._committer is not None else self._seq

    @property
    def groups(self) -> int:
        """Group commits done (each one journal sync)."""
        return self._committer.groups if self._committer is not None else 0

    @property
    def commands(self) -> int:
        """Commands journaled by this process."""
        return self._committer.commands if self._committer is not None else 0

    @property
    def journal(self) -> SegmentedJournal:
        """The open journal (tests and tools)."""
        assert self._journal is not None
        return self._journal
