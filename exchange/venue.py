"""The venue as an asyncio service: the one object ``api/`` and ``feeds/`` use.

CONTRACT (api/feeds code against it). All money in integer cents; all
returned records are plain JSON-able dicts in the wire shapes of DESIGN.md
(times as RFC 3339 UTC strings). Every refusal raises
:class:`exchange.errors.ExchangeError` and changes nothing.

    cfg = VenueConfig(data_dir=Path("data"), database_url=None, fsync=True,
                      ship_deadline_hours=48, demo_catalog=True)
    venue = await Venue.open(cfg)      # locks data dir, recovers, ready
    venue.ready -> bool

    # accounts (journaled)
    await venue.create_account(name, role="trader") -> {"account_id", "api_key", "name", "role"}
    venue.authenticate(api_key) -> Account | None          # O(1), sha256 of key
    Account: .id (str), .name, .role ("trader"|"authenticator"|"admin")
    venue.account(account_id) -> Account | None

    # catalog
    venue.products() -> list[dict]        # {"style","name","brand","category",
                                          #  "retail_price_cents","release_date",
                                          #  "skus":[{"sku","size"}]}
    venue.product(style) -> dict          # ExchangeError unknown_product
    await venue.create_product(account, {...}) -> dict   # admin only (forbidden)
    venue.sku_rules(sku) -> dict          # tick_size_cents, min/max_price_cents, max_quantity
                                          # (+ sku, style, size, retail_price_cents); unknown_sku
    venue.sku_exists(sku) -> bool
    venue.skus() -> list[str]

    # orders (journaled; acknowledged after fsync)
    await venue.place_order(account, body: dict) -> (status_code, {"order":{...},"fills":[...]})
        body keys: sku, side, type, price_cents, quantity, time_in_force,
        post_only, expires_in_days, client_order_id (validated here: unknown
        keys -> unknown_field, wrong types -> validation_error). status_code is
        201 for a new order, 200 for an idempotent replay.
    await venue.place_orders(account, bodies: list[dict]) -> list[dict]
        one {"order","fills"} or {"error": ExchangeError} per body, in order,
        committed as one group (no limit here; api/ enforces 100).
    await venue.cancel_order(account, order_id) -> order dict     # not_found / order_not_open
    await venue.amend_order(account, order_id, body) -> {"order","fills"}
        body keys: quantity (new total), price_cents
    venue.get_order(account, order_id) -> order dict              # another's: not_found
    venue.list_orders(account, status=None) -> list[order dict]

    # trades, settlement, ledger
    venue.list_trades(account) -> list[trade dict]   # own fills, with the account's side
                                                     # (authenticator/admin: every trade)
    venue.get_trade(account, trade_id) -> trade dict # parties and authenticators
    await venue.ship(account, trade_id) -> trade dict  # seller only; ship_deadline_passed 409
    await venue.authenticate_trade(account, trade_id, passed) -> trade dict  # authenticator role
    venue.ledger(account) -> list[entry dict]        # {id, trade_id, kind, amount_cents,
                                                     #  time, description}

    # portfolio holdings (journaled); valuation through venue.analytics
    await venue.add_holding(account, {"sku","purchase_price_cents","acquired_at","condition"})
        -> holding dict {id, sku, purchase_price_cents, acquired_at, condition,
           source, trade_id}; acquired_at is an RFC 3339 time or a YYYY-MM-DD date
           (default: now), condition "new" (default) or "used"
    await venue.remove_holding(account, holding_id) -> {"id", "removed": True}
    venue.holdings(account) -> list[holding dict]
    venue.fee_schedule -> exchange.fees.FeeSchedule  # for net proceeds
    venue.seller_level(account, now=None) -> int     # pure (does not prune fee stats)

    # public market data
    venue.book(sku, depth) -> {"sku","sequence","bids":[[p,q,n]],"asks":[...]}  # released state
    venue.public_trades(sku, limit, before) -> list[trade dict]                # released only
    venue.mirror -> exchange.marketdata.L2Mirror   # released L2 of every SKU
    venue.subscribe(callback)  # callback(list[MarketDataEvent]) after durability, in order
    venue.unsubscribe(callback)

    # analytics and portfolio (issue 6; polars over the trade store)
    venue.analytics -> exchange.analytics.Analytics | None (None when store=False)
    await venue.flush_store()   # wait until the store holds everything released

    await venue.close()   # final snapshot, flush store, release the lock

    # more settings and tools
    VenueConfig(..., snapshot_every=100_000, store=True, tick_interval=1.0,
                schedule=DEFAULT_SCHEDULE, fork_snapshots=True)
    await venue.tick_if_due() -> bool   # journal a Tick now if an expiry/deadline passed
    venue.engine -> exchange.engine.Engine   # read-only use outside the venue!
    venue.released_seq, venue.groups, venue.commands, venue.journal   # tests, benchmarks

    open_offline(data_dir) -> OfflineVenue   # sync; for `exchange accounts create`
        .create_account(name, role) -> {"account_id","api_key","name","role"}; .close()

HOW IT WORKS

- Recovery (:meth:`Venue.open`): lock the data dir (:class:`DataDirLock`),
  open the journal (a torn last record is truncated; damage elsewhere raises
  :class:`JournalCorrupt`), load the newest good snapshot and replay the
  journal after it, each record with its own ``ts`` as now. On a first start
  with ``demo_catalog`` the demo products are journaled as CreateProduct
  commands. The trade store is brought up to date: each group's store ops
  carry a ``meta`` row ``last_seq``; a store behind the snapshot is rebuilt
  from the engine's state, one behind only the replayed tail gets that tail.
- Submitting: validate (raise before journaling) -> seq and ``ts =
  time.time_ns()`` (never below the last ts) -> ``engine.apply`` -> encode ->
  queue. One committer task hands a group to a worker thread, which appends
  it with one write and runs ``journal.sync()``; everything submitted while
  that is in flight forms the next group, and all its callers share one
  future. After the sync, in journal order: the L2 mirror, the subscribers
  (once per group, with that group's events), the store writer and the
  metrics (summed per group); then the callers get their answers. So
  nothing is acknowledged or published before it is durable.
- The trade store holds trades, settlement states, ledger, holdings and
  orders' final states (filled, canceled, expired, rejected): an open
  order's row is not written (it is served from the engine), and arrives
  when the order ends. By default a child process writes it
  (:class:`exchange.store.StoreProcessWriter`, ``store_process``), so the
  SQL work runs on another core; :meth:`Venue.flush_store` waits for it.
- Reads (orders, trades, ledger) come from the engine's state, which may be
  a few milliseconds ahead of what is durable; public market data (book,
  public trades, the mirror) shows released state only.
- A timer every ``tick_interval`` seconds journals a :class:`Tick` when
  ``engine.next_due()`` has passed (order expiry, ship deadlines).
- Snapshots every ``snapshot_every`` commands and on close, written once the
  journal is durable up to them; then the journal rotates, segments older
  than the previous snapshot are pruned, and two snapshots are kept. The
  periodic ones are encoded by a forked child (copy-on-write, like Redis's
  BGSAVE), so the loop does not pause for a large state; the child writes
  its file only when the parent tells it the journal is durable up to it.
  Recovery ignores (and deletes) a snapshot ahead of the journal.
- Memory: the engine keeps every order and trade (queries and idempotent
  replays read them); closed orders are stored as compact tuples.
- A journal write or sync error is fatal: the venue stops accepting commands
  (``not_ready``, 503), since its memory is ahead of its journal; a restart
  recovers the durable state.
- ``ship_deadline_hours`` applies to trades matched from this start on
  (replayed trades keep the deadline they were matched with only when they
  come from the snapshot; set it once and keep it).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import metrics
from .accounts import Account, Role, generate_api_key, hash_api_key, parse_role, validate_name
from .catalog import Product, demo_products
from .clock import DAY_NS, HOUR_NS, parse_rfc3339
from .commands import (
    AddHolding,
    AmendOrder,
    AuthenticateTrade,
    CancelOrder,
    Command,
    CreateAccount,
    CreateProduct,
    MarkShipped,
    PlaceOrder,
    RemoveHolding,
    Tick,
    decode_record,
    encode_record,
)
from .engine import Engine, Outcome, StoreOp, holding_wire
from .errors import ExchangeError
from .fees import DEFAULT_SCHEDULE, FeeSchedule
from .journal import DataDirLock, Journal, SnapshotStore
from .marketdata import L2Mirror, MarketDataEvent, TradePrint

__all__ = [
    "ORDER_FIELDS",
    "OfflineVenue",
    "Subscriber",
    "Venue",
    "VenueConfig",
    "create_product_command",
    "open_offline",
    "recover_engine",
]

log = logging.getLogger("exchange.venue")

Subscriber = Callable[[list[MarketDataEvent]], None]

ORDER_FIELDS = frozenset(
    {
        "sku",
        "side",
        "type",
        "price_cents",
        "quantity",
        "time_in_force",
        "post_only",
        "expires_in_days",
        "client_order_id",
    }
)
_AMEND_FIELDS = frozenset({"quantity", "price_cents"})
_HOLDING_FIELDS = frozenset({"sku", "purchase_price_cents", "acquired_at", "condition"})
_STATUSES = frozenset({"open", "filled", "canceled", "expired", "rejected"})
MAX_EXPIRY_DAYS = 60

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
        demo_catalog: journal the demo products on a first start.
        snapshot_every: commands between snapshots.
        store: False runs without a trade store (no analytics).
        tick_interval: seconds between checks for due expiries/deadlines.
        schedule: the fee schedule.
        fork_snapshots: serialize periodic snapshots in a forked child
            (copy-on-write) so the event loop never pauses for them; where
            ``os.fork`` is missing, or when False, they are serialized on the
            loop.
        store_process: write the trade store from a forked child process
            (:class:`exchange.store.StoreProcessWriter`), so SQL work never
            takes the GIL from the matching path; False (or no ``os.fork``)
            writes from a thread of this process.
    """

    data_dir: Path = Path("data")
    database_url: str | None = None
    fsync: bool = True
    ship_deadline_hours: float = 48
    demo_catalog: bool = True
    snapshot_every: int = 100_000
    store: bool = True
    tick_interval: float = 1.0
    schedule: FeeSchedule = field(default=DEFAULT_SCHEDULE)
    fork_snapshots: bool = True
    store_process: bool = True


# ----------------------------------------------------------------- parsing


def _invalid(message: str) -> ExchangeError:
    return ExchangeError("validation_error", message)


def _check_fields(body: object, allowed: frozenset[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _invalid("The body must be a JSON object.")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ExchangeError(
            "unknown_field",
            f"Unknown field {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}.",
        )
    return body


def _opt_int(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is not None and type(value) is not int:
        raise _invalid(f"{key} must be an integer.")
    return value


def _opt_str(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise _invalid(f"{key} must be a string.")
    return value


def parse_place(account_id: str, body: object, now: int) -> PlaceOrder:
    """Turn a ``POST /v1/orders`` body into a :class:`PlaceOrder` at ``now``.

    Raises:
        ExchangeError: ``unknown_field`` or ``validation_error`` (naming the field).
    """
    data = _check_fields(body, ORDER_FIELDS)
    for key in ("sku", "side", "type", "quantity"):
        if data.get(key) is None:
            raise _invalid(f"{key} is required.")
    sku = _opt_str(data, "sku")
    side = _opt_str(data, "side")
    order_type = _opt_str(data, "type")
    if side not in ("bid", "ask"):
        raise _invalid("side must be 'bid' or 'ask'.")
    if order_type not in ("limit", "market"):
        raise _invalid("type must be 'limit' or 'market'.")
    quantity = _opt_int(data, "quantity")
    price = _opt_int(data, "price_cents")
    tif = _opt_str(data, "time_in_force") or "gtc"
    if tif not in ("gtc", "ioc", "fok"):
        raise _invalid("time_in_force must be 'gtc', 'ioc' or 'fok'.")
    post_only = data.get("post_only", False)
    if post_only is None:
        post_only = False
    if type(post_only) is not bool:
        raise _invalid("post_only must be true or false.")
    days = _opt_int(data, "expires_in_days")
    if days is not None and not 1 <= days <= MAX_EXPIRY_DAYS:
        raise _invalid(f"expires_in_days must be between 1 and {MAX_EXPIRY_DAYS}.")
    coid = _opt_str(data, "client_order_id")
    return PlaceOrder(
        account_id=account_id,
        client_order_id=coid,
        sku=sku,  # type: ignore[arg-type]
        side=side,
        order_type=order_type,
        price_cents=price,
        quantity=quantity,  # type: ignore[arg-type]
        time_in_force=tif,
        post_only=post_only,
        expires_at=None if days is None else now + days * DAY_NS,
    )


def create_product_command(product: Product) -> CreateProduct:
    """The journaled command that adds ``product``."""
    return CreateProduct.from_product(product)


def _parse_time(value: object, key: str) -> int:
    if type(value) is int:
        return value
    if isinstance(value, str):
        try:
            return parse_rfc3339(value)
        except ValueError:
            pass
    raise _invalid(f"{key} must be an RFC 3339 time or a YYYY-MM-DD date.")


# ---------------------------------------------------------------- recovery


@dataclass(slots=True)
class _Recovered:
    lock: DataDirLock
    journal: Journal
    snapshots: SnapshotStore
    engine: Engine
    snapshot_seq: int
    replayed: list[tuple[int, list[StoreOp]]]


def recover_engine(
    data_dir: Path,
    *,
    fsync: bool = True,
    schedule: FeeSchedule = DEFAULT_SCHEDULE,
    ship_deadline_ns: int = 48 * HOUR_NS,
    keep_store_ops_after: int | None = None,
    lock: bool = True,
) -> _Recovered:
    """Lock ``data_dir``, load the latest snapshot and replay the journal (sync).

    Args:
        data_dir: the data directory.
        fsync: the journal's fsync setting.
        schedule: fee schedule of a fresh engine.
        ship_deadline_ns: ship deadline of a fresh engine.
        keep_store_ops_after: keep the store ops of replayed records with a
            seq above this (to catch a store up); None keeps none.
        lock: take the data-dir lock (tools that only read may skip it).

    Raises:
        DataDirLocked: another process holds the data dir.
        JournalCorrupt: the journal is damaged before its last record.
    """
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    dir_lock = DataDirLock(data_dir)
    if lock:
        dir_lock.acquire()
    try:
        journal = Journal(data_dir / "journal", fsync=fsync)
        journal.open()
        snapshots = SnapshotStore(data_dir / "snapshots", fsync=fsync)
        latest = snapshots.latest()
        while latest is not None and latest[0] > journal.last_seq:
            # Never written that way by the venue (a snapshot waits for the
            # journal to be durable up to it); if it happens, the snapshot
            # holds commands nobody saw acknowledged: drop it.
            log.warning("snapshot at seq %d is ahead of the journal; ignoring it", latest[0])
            snapshots.path_for(latest[0]).unlink(missing_ok=True)
            latest = snapshots.latest()
        if latest is not None:
            engine = Engine.restore_bytes(latest[1])
            snapshot_seq = latest[0]
        else:
            engine = Engine(schedule, ship_deadline_ns)
            snapshot_seq = 0
        if journal.last_seq < engine.last_seq:
            raise RuntimeError(
                f"journal in {data_dir / 'journal'} ends at seq {journal.last_seq}, before the "
                f"snapshot's seq {engine.last_seq}"
            )
        replayed: list[tuple[int, list[StoreOp]]] = []
        expect = engine.last_seq + 1
        engine.live = False
        # The engine skips building the store ops nobody keeps: those the
        # store already holds (all of them when keep_store_ops_after is None).
        engine.store_ops_after = (
            journal.last_seq if keep_store_ops_after is None else keep_store_ops_after
        )
        # Replay allocates millions of long-lived objects and hardly any
        # cyclic garbage: the collector's passes over them only cost time
        # (the venue's caller collects and freezes once recovery is done).
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            for seq, payload in journal.replay(after_seq=engine.last_seq):
                if seq != expect:
                    raise RuntimeError(f"journal replay expected seq {expect}, found {seq}")
                expect += 1
                ts, cmd = decode_record(payload)
                out = engine.apply(seq, ts, cmd)
                if (
                    keep_store_ops_after is not None
                    and seq > keep_store_ops_after
                    and out.store_ops
                ):
                    replayed.append((seq, out.store_ops))
        finally:
            if gc_was_enabled:
                gc.enable()
        engine.live = True
        engine.store_ops_after = 0
        engine.ship_deadline_ns = ship_deadline_ns
    except BaseException:
        if lock:
            dir_lock.release()
        raise
    return _Recovered(dir_lock, journal, snapshots, engine, snapshot_seq, replayed)


def _final_rows(ops: Iterable[StoreOp]) -> Iterator[StoreOp]:
    """The store ops the venue writes: every one but open orders' rows.

    The store holds orders' final states (issue 3); an open order is served
    from the engine, and its row arrives once it is filled, canceled,
    expired or rejected.
    """
    for op in ops:
        if op[0] != "order" or op[1]["status"] != "open":
            yield op


# ------------------------------------------------------------------ venue


class _ForkedSnapshot:
    """A snapshot serialized by a forked child, written only when released.

    The child holds the engine as it was at the fork (copy-on-write), encodes
    it, and waits on a pipe; the parent releases it once the journal is
    durable up to ``seq`` (a snapshot must never be ahead of the journal),
    then reaps it in a thread.
    """

    def __init__(self, pid: int, wfd: int, seq: int) -> None:
        self.pid = pid
        self.wfd = wfd
        self.seq = seq
        self.released = False
        self.status: int | None = None
        self.waiter: asyncio.Task[None] | None = None

    @classmethod
    def start(cls, venue: Venue) -> _ForkedSnapshot:
        seq = venue._seq
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child; coverage cannot see it
            code = 1
            try:
                os.close(wfd)
                data = venue.engine.snapshot_bytes()
                if os.read(rfd, 1) == b"1":
                    assert venue._snapshots is not None
                    venue._snapshots.write(seq, data)
                    code = 0
                else:
                    code = 3
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(rfd)
        log.info("venue: snapshot at seq %d forked to pid %d", seq, pid)
        return cls(pid, wfd, seq)

    def _reap(self) -> None:
        _, status = os.waitpid(self.pid, 0)
        self.status = status

    def release(self) -> None:
        """Let the child write its file, and start reaping it."""
        self.released = True
        try:
            os.write(self.wfd, b"1")
        finally:
            os.close(self.wfd)
        self.waiter = asyncio.ensure_future(asyncio.to_thread(self._reap))

    def abandon(self) -> None:
        """Tell the child to exit without writing."""
        self.released = True
        os.close(self.wfd)
        self.waiter = asyncio.ensure_future(asyncio.to_thread(self._reap))

    def ok(self) -> bool:
        """Whether the child wrote the snapshot."""
        good = self.status is not None and os.waitstatus_to_exitcode(self.status) == 0
        if not good:
            log.error("venue: forked snapshot at seq %d failed (%s)", self.seq, self.status)
        return good


class Venue:
    """The running venue; build it with :meth:`Venue.open`."""

    def __init__(self, cfg: VenueConfig) -> None:
        self.cfg = cfg
        self.ready = False
        self.mirror = L2Mirror()
        self.analytics: Any = None
        self.engine: Engine = Engine(cfg.schedule)
        self.groups = 0
        """Group commits done (each one journal sync)."""
        self.commands = 0
        """Commands journaled by this process."""
        self._journal: Journal | None = None
        self._snapshots: SnapshotStore | None = None
        self._lock: DataDirLock | None = None
        self._store: Any = None
        self._writer: Any = None
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")
        self._subscribers: list[Subscriber] = []
        self._pending: list[tuple[int, bytes]] = []
        self._pending_out: list[tuple[Outcome, str]] = []
        self._group: asyncio.Future[None] | None = None
        self._wake = asyncio.Event()
        self._committer: asyncio.Task[None] | None = None
        self._timer: asyncio.Task[None] | None = None
        self._failed: BaseException | None = None
        self._closing = False
        self._seq = 0
        self._last_ts = 0
        self._released_seq = 0
        self._released_trade = 0
        self._snap_seq = 0
        self._prev_snap_seq = 0
        self._snap_pending: tuple[int, bytes] | None = None
        self._snap_job: _ForkedSnapshot | None = None
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    # -------------------------------------------------------- lifecycle

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
        try:
            store_seq: int | None = None
            if cfg.store:
                store_seq = await asyncio.to_thread(self._open_store)
            rec = await asyncio.to_thread(
                recover_engine,
                cfg.data_dir,
                fsync=cfg.fsync,
                schedule=cfg.schedule,
                ship_deadline_ns=int(cfg.ship_deadline_hours * HOUR_NS),
                keep_store_ops_after=store_seq,
                lock=False,
            )
        except BaseException:
            await self._shutdown(snapshot=False)
            raise
        self._journal, self._snapshots = rec.journal, rec.snapshots
        self.engine = engine = rec.engine
        self._seq = self._released_seq = engine.last_seq
        self._last_ts = engine.last_ts
        self._snap_seq = self._prev_snap_seq = rec.snapshot_seq
        try:
            if cfg.store:
                await asyncio.to_thread(self._catch_up_store, store_seq or 0, rec)
            for sku in sorted(engine.books):
                bids, asks = engine.book_levels(sku)
                seq, book_seq, trade_seq = engine.md_sequences(sku)
                self.mirror.load(
                    sku, seq, bids, asks, book_sequence=book_seq, trade_sequence=trade_seq
                )
            self._released_trade = engine.trade_count()
            metrics.bind_gauges(lambda: len(self.engine.books), self.engine.resting_orders)
            self._group = asyncio.get_running_loop().create_future()
            self._committer = asyncio.create_task(self._commit_loop(), name="venue-commit")
            self.ready = True
            if cfg.demo_catalog:
                await self._journal_demo_catalog()
            self._timer = asyncio.create_task(self._tick_loop(), name="venue-tick")
        except BaseException:
            await self._shutdown(snapshot=False)
            raise

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

    def _open_store(self) -> int:
        from .analytics import Analytics
        from .store import StoreProcessWriter, StoreWriter, TradeStore, sqlite_url

        Path(self.cfg.data_dir).mkdir(parents=True, exist_ok=True)
        url = self.cfg.database_url or sqlite_url(str(self.cfg.data_dir))
        if self.cfg.store_process and hasattr(os, "fork"):
            # Started before this process opens the database, so the
            # child never shares a descriptor or lock state with it.
            self._writer = StoreProcessWriter(url)
        self._store = TradeStore(url)
        self._store.create_all()
        if self._writer is None:
            self._writer = StoreWriter(self._store)
        self.analytics = Analytics(self._store, flush=self._writer.flush)
        return int(self._store.get_meta("last_seq") or 0)

    def _catch_up_store(self, store_seq: int, rec: _Recovered) -> None:
        engine = rec.engine
        if store_seq == engine.last_seq:
            return
        meta: StoreOp = ("meta", {"key": "last_seq", "value": str(engine.last_seq)})
        if store_seq >= rec.snapshot_seq and store_seq < engine.last_seq:
            log.info("store: replaying seq %d..%d", store_seq + 1, engine.last_seq)
            ops = [op for _, seq_ops in rec.replayed for op in _final_rows(seq_ops)]
            self._store.write([*ops, meta])
            return
        log.info("store: rebuilding from the engine state at seq %d", engine.last_seq)
        self._store.reset()
        batch: list[StoreOp] = []
        for op in _final_rows(engine.store_rows()):
            batch.append(op)
            if len(batch) >= 50_000:
                self._store.write(batch)
                batch = []
        batch.append(meta)
        self._store.write(batch)

    async def close(self) -> None:
        """Drain pending commands, snapshot, close the store, journal and lock."""
        if self._closing:
            return
        self._closing = True
        await self._shutdown(snapshot=self._failed is None)

    async def _shutdown(self, *, snapshot: bool) -> None:
        self.ready = False
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._timer
        if self._pending and self._failed is None:
            try:
                await self._wait_group()
            except Exception:
                log.exception("venue: could not commit the last group")
        self._closing = True
        self._wake.set()
        if self._committer is not None:
            try:
                await self._committer
            except Exception:
                log.exception("venue: committer failed")
        loop = asyncio.get_running_loop()
        await self._finish_snapshot_job()
        if (
            snapshot
            and self._journal is not None
            and self._failed is None
            and self.engine.last_seq != self._snap_seq
        ):
            data = self.engine.snapshot_bytes()
            try:
                await loop.run_in_executor(
                    self._io, self._write_snapshot, self.engine.last_seq, data
                )
            except Exception:
                # The journal holds everything; the store, journal and lock
                # must still be closed below.
                log.exception("venue: the final snapshot failed")
        if self._writer is not None:
            try:
                await asyncio.to_thread(self._writer.close)
            except Exception:
                log.exception("venue: store writer failed on close")
        if self._store is not None:
            await asyncio.to_thread(self._store.close)
        if self._journal is not None:
            await loop.run_in_executor(self._io, self._journal.close)
        self._io.shutdown(wait=True)
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    # -------------------------------------------------------- committing

    def _now(self) -> int:
        now = time.time_ns()
        if now < self._last_ts:
            now = self._last_ts
        return now

    def _check_open(self) -> None:
        if self._failed is not None or not self.ready or self._closing:
            raise ExchangeError("not_ready", "The exchange is not accepting commands right now.")

    def _enqueue(self, cmd: Command, now: int) -> tuple[Outcome, asyncio.Future[None]]:
        """Journal (in memory) and apply a validated command; no await inside."""
        seq = self._seq + 1
        t0 = time.perf_counter()
        try:
            out = self.engine.apply(seq, now, cmd)
        except BaseException as exc:
            # A bug: the engine may be half-changed by a command the journal
            # will never hold. Stop; a restart recovers the journaled state.
            log.critical("venue: applying %r failed; refusing commands until restart", cmd)
            self._failed = exc
            self.ready = False
            raise
        elapsed = time.perf_counter() - t0
        self._seq = seq
        self._last_ts = now
        self._pending.append((seq, encode_record(now, cmd)))
        self._pending_out.append((out, cmd.TYPE))
        metrics.MATCH_SECONDS.observe(elapsed)
        self._wake.set()
        group = self._group
        assert group is not None
        return out, group

    async def _submit(self, cmd: Command) -> Outcome:
        self._check_open()
        now = self._now()
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
        seq = self._seq
        if seq <= self._released_seq:
            return
        if self._failed is not None:
            raise ExchangeError("not_ready", "The journal could not be written; retry later.")
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((seq, waiter))
        await waiter

    async def _commit_loop(self) -> None:
        loop = asyncio.get_running_loop()
        journal = self._journal
        assert journal is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._pending:
                if self._closing:
                    return
                continue
            records, outs = self._pending, self._pending_out
            self._pending, self._pending_out = [], []
            group = self._group
            assert group is not None
            self._group = loop.create_future()
            try:
                # The write joins the sync in the io thread: a write() can
                # wait on the disk too, and the loop must not.
                await loop.run_in_executor(self._io, self._append_and_sync, records)
            except BaseException as exc:
                self._fail(exc, group)
                return
            self.groups += 1
            self.commands += len(records)
            metrics.GROUP_SIZE.observe(len(records))
            try:
                self._release(outs)
            finally:
                if not group.done():
                    group.set_result(None)
            await self._maybe_snapshot(loop)

    def _append_and_sync(self, records: list[tuple[int, bytes]]) -> None:
        """Write one group and make it durable (io thread; timed as one sync)."""
        journal = self._journal
        assert journal is not None
        journal.append(records)
        t0 = time.perf_counter()
        journal.sync()
        metrics.FSYNC_SECONDS.observe(time.perf_counter() - t0)

    def _fail(self, exc: BaseException, group: asyncio.Future[None]) -> None:
        log.critical("venue: journal write failed; refusing commands until restart", exc_info=exc)
        self._failed = exc
        self.ready = False
        error = ExchangeError("not_ready", "The journal could not be written; retry later.")
        if not group.done():
            group.set_exception(error)
        if self._group is not None and not self._group.done():
            self._group.set_exception(error)
        for _, waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(error)
        self._waiters.clear()
        # The futures' exceptions are read by their awaiters; mark them seen.
        group.exception()

    def _release(self, outs: Sequence[tuple[Outcome, str]]) -> None:
        mirror = self.mirror
        events: list[MarketDataEvent] = []
        ops: list[StoreOp] = []
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
            if out.store_ops:
                # Orders go to the store in their final state only; open
                # ones are served from the engine's memory.
                for op in out.store_ops:
                    if op[0] != "order" or op[1]["status"] != "open":
                        ops.append(op)
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
        last = outs[-1][0].seq
        self._released_seq = last
        if self._waiters:
            still = []
            for seq, waiter in self._waiters:
                if seq <= last:
                    if not waiter.done():
                        waiter.set_result(None)
                else:
                    still.append((seq, waiter))
            self._waiters = still
        if self._writer is not None:
            ops.append(("meta", {"key": "last_seq", "value": str(last)}))
            try:
                self._writer.submit(ops)
            except Exception:
                log.exception("venue: store writer refused a batch")
        if events:
            for callback in list(self._subscribers):
                try:
                    callback(events)
                except Exception:
                    log.exception("venue: market-data subscriber %r failed", callback)

    async def _maybe_snapshot(self, loop: asyncio.AbstractEventLoop) -> None:
        """Between groups: start, release or finish a snapshot (committer only)."""
        journal = self._journal
        assert journal is not None
        if self._failed is not None:
            return  # the engine may be ahead of the journal: never snapshot it
        job = self._snap_job
        if job is not None:
            if not job.released and journal.durable_seq >= job.seq:
                job.release()
            if job.waiter is not None and job.waiter.done():
                self._snap_job = None
                if job.ok():
                    await loop.run_in_executor(self._io, self._after_snapshot, job.seq)
                else:
                    self._snap_seq = self._prev_snap_seq  # try again later
        elif self._snap_pending is not None:
            if journal.durable_seq >= self._snap_pending[0]:
                seq, data = self._snap_pending
                self._snap_pending = None
                try:
                    await loop.run_in_executor(self._io, self._write_snapshot, seq, data)
                except Exception:
                    log.exception("venue: snapshot at seq %d failed", seq)
        elif self._seq - self._snap_seq >= self.cfg.snapshot_every:
            self._snap_seq = self._seq
            if self.cfg.fork_snapshots and hasattr(os, "fork"):
                self._snap_job = _ForkedSnapshot.start(self)
                if journal.durable_seq >= self._seq:
                    self._snap_job.release()
            else:
                # Taken now, written once the journal is durable up to its seq.
                self._snap_pending = (self._seq, self.engine.snapshot_bytes())

    def _write_snapshot(self, seq: int, data: bytes) -> None:
        """Write a snapshot in this process, then rotate and prune (io thread)."""
        assert self._snapshots is not None
        self._snapshots.write(seq, data)
        log.info("venue: snapshot at seq %d (%d bytes)", seq, len(data))
        self._after_snapshot(seq)

    def _after_snapshot(self, seq: int) -> None:
        """Rotate the journal and prune what no kept snapshot needs (io thread,
        between groups: never while the committer appends)."""
        assert self._snapshots is not None and self._journal is not None
        self._journal.rotate()
        if self._prev_snap_seq:
            # Keep the journal from the previous snapshot on: if the newest
            # snapshot turns out damaged, recovery falls back to that one.
            self._journal.prune(self._prev_snap_seq)
        self._snapshots.prune(keep=2)
        self._prev_snap_seq = seq
        self._snap_seq = max(self._snap_seq, seq)

    async def _finish_snapshot_job(self) -> None:
        """At close: let a forked snapshot finish (or give it up)."""
        job, self._snap_job = self._snap_job, None
        if job is None:
            return
        assert self._journal is not None
        abandoned = False
        if not job.released:
            if self._failed is None and self._journal.durable_seq >= job.seq:
                job.release()
            else:
                job.abandon()
                abandoned = True
        if job.waiter is not None:
            await job.waiter
            if abandoned or not job.ok():
                self._snap_seq = self._prev_snap_seq
            else:
                await asyncio.get_running_loop().run_in_executor(
                    self._io, self._after_snapshot, job.seq
                )

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.tick_interval)
            await self.tick_if_due()

    async def tick_if_due(self) -> bool:
        """Journal a :class:`Tick` if an expiry or ship deadline has passed.

        Returns:
            Whether a Tick was journaled.
        """
        due = self.engine.next_due()
        if due is None or due > self._now() or not self.ready:
            return False
        try:
            await self._submit(Tick())
        except ExchangeError:
            return False
        except Exception:
            log.exception("venue: tick failed")
            return False
        return True

    async def flush_store(self) -> None:
        """Wait until the trade store holds everything released so far."""
        if self._writer is not None:
            await asyncio.to_thread(self._writer.flush)

    # -------------------------------------------------------- accounts

    async def create_account(self, name: object, role: object = "trader") -> dict[str, Any]:
        """Create an account; the API key is in the answer and nowhere else.

        Raises:
            ExchangeError: ``validation_error`` for a bad name or role.
        """
        self._check_open()
        name = validate_name(name)
        role = parse_role(role)
        api_key = generate_api_key()
        cmd = CreateAccount(self.engine.next_account_id(), name, str(role), hash_api_key(api_key))
        out = await self._submit(cmd)
        assert out.response is not None
        return {**out.response, "api_key": api_key}

    def authenticate(self, api_key: str) -> Account | None:
        """The account of an API key, or None (O(1))."""
        return self.engine.accounts.by_key(api_key)

    def account(self, account_id: str) -> Account | None:
        """An account by id, or None."""
        return self.engine.accounts.get(account_id)

    # --------------------------------------------------------- catalog

    def products(self) -> list[dict[str, Any]]:
        """Every product in wire shape."""
        return self.engine.catalog.products_dicts()

    def product(self, style: str) -> dict[str, Any]:
        """One product in wire shape (``unknown_product``)."""
        return self.engine.catalog.product_dict(style)

    async def create_product(self, account: Account, body: object) -> dict[str, Any]:
        """Add a product (admin only); returns it in wire shape."""
        if account.role is not Role.ADMIN:
            raise ExchangeError("forbidden", "Only an admin may add products.")
        product = Product.from_request(body)
        out = await self._submit(create_product_command(product))
        assert out.response is not None
        return out.response

    def sku_exists(self, sku: str) -> bool:
        """Whether the SKU is in the catalog."""
        return self.engine.catalog.has_sku(sku)

    def skus(self) -> list[str]:
        """Every SKU in catalog order."""
        return self.engine.catalog.skus()

    def sku_rules(self, sku: str) -> dict[str, Any]:
        """The SKU's trading rules and identity (``unknown_sku``)."""
        info = self.engine.catalog.sku(sku)
        product = self.engine.catalog.product(info.style)
        rules = info.rules
        return {
            "sku": info.sku,
            "style": info.style,
            "size": info.size,
            "retail_price_cents": product.retail_price_cents,
            "tick_size_cents": rules.tick_size_cents,
            "min_price_cents": rules.min_price_cents,
            "max_price_cents": rules.max_price_cents,
            "max_quantity": rules.max_quantity,
        }

    def seller_level(self, account: Account, now: int | None = None) -> int:
        """The account's seller fee level at ``now`` (default: the clock); pure."""
        return self.engine.seller_level(account.id, self._now() if now is None else now)

    @property
    def fee_schedule(self) -> FeeSchedule:
        """The engine's fee schedule."""
        return self.engine.schedule

    # ---------------------------------------------------------- orders

    async def place_order(self, account: Account, body: object) -> tuple[int, dict[str, Any]]:
        """Place one order; ``(201, answer)``, or ``(200, answer)`` for a replay."""
        self._check_open()
        now = self._now()
        cmd = parse_place(account.id, body, now)
        answer = self.engine.idempotent_replay(cmd, now)
        if answer is not None:
            # The answer is the state as of now; it may rest on commands still
            # on their way to the disk, so it leaves only once they are durable
            # (reading the engine again after the wait could show later,
            # not yet durable, changes).
            await self._wait_group()
            return 200, answer
        self.engine.validate(cmd, now)
        out, group = self._enqueue(cmd, now)
        # shield: a caller cancelled while waiting (a client went away) must
        # not cancel the group's future, which other callers share.
        await asyncio.shield(group)
        assert out.response is not None
        return out.status, out.response

    async def place_orders(
        self, account: Account, bodies: Sequence[object]
    ) -> list[dict[str, Any]]:
        """Place several orders as one group commit; one result per body, in order."""
        self._check_open()
        results: list[dict[str, Any] | Outcome] = []
        replayed = False
        group: asyncio.Future[None] | None = None
        for body in bodies:
            now = self._now()
            try:
                cmd = parse_place(account.id, body, now)
                answer = self.engine.idempotent_replay(cmd, now)
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

    async def cancel_order(self, account: Account, order_id: int) -> dict[str, Any]:
        """Cancel an open order; returns its final state."""
        out = await self._submit(CancelOrder(account.id, order_id))
        assert out.response is not None
        return out.response

    async def amend_order(self, account: Account, order_id: int, body: object) -> dict[str, Any]:
        """Amend an open order (new total ``quantity`` and/or ``price_cents``)."""
        data = _check_fields(body, _AMEND_FIELDS)
        cmd = AmendOrder(
            account.id, order_id, _opt_int(data, "quantity"), _opt_int(data, "price_cents")
        )
        out = await self._submit(cmd)
        assert out.response is not None
        return out.response

    def get_order(self, account: Account, order_id: int) -> dict[str, Any]:
        """One of the account's orders (another's: ``not_found``)."""
        return self.engine.order(account.id, order_id)

    def list_orders(self, account: Account, status: str | None = None) -> list[dict[str, Any]]:
        """The account's orders, oldest first, optionally of one status."""
        if status is not None and status not in _STATUSES:
            raise _invalid(f"status must be one of {', '.join(sorted(_STATUSES))}.")
        return self.engine.orders(account.id, status)

    # ---------------------------------------------------------- trades

    def list_trades(self, account: Account) -> list[dict[str, Any]]:
        """The account's fills (an authenticator's or admin's: every trade)."""
        return self.engine.trades(account.id)

    def get_trade(self, account: Account, trade_id: int) -> dict[str, Any]:
        """One trade as the account sees it (``not_found`` for strangers)."""
        return self.engine.trade(account.id, trade_id)

    async def ship(self, account: Account, trade_id: int) -> dict[str, Any]:
        """The seller marks a trade shipped."""
        out = await self._submit(MarkShipped(account.id, trade_id))
        assert out.response is not None
        return out.response

    async def authenticate_trade(
        self, account: Account, trade_id: int, passed: object
    ) -> dict[str, Any]:
        """An authenticator passes or fails a shipped trade."""
        if type(passed) is not bool:
            raise _invalid("passed must be true or false.")
        out = await self._submit(AuthenticateTrade(account.id, trade_id, passed))
        assert out.response is not None
        return out.response

    def ledger(self, account: Account) -> list[dict[str, Any]]:
        """The account's ledger entries, oldest first."""
        return self.engine.ledger(account.id)

    # ------------------------------------------------------- portfolio

    async def add_holding(self, account: Account, body: object) -> dict[str, Any]:
        """Add a hand-entered item to the account's portfolio."""
        data = _check_fields(body, _HOLDING_FIELDS)
        for key in ("sku", "purchase_price_cents"):
            if data.get(key) is None:
                raise _invalid(f"{key} is required.")
        sku = _opt_str(data, "sku")
        condition = data.get("condition") or "new"
        acquired = data.get("acquired_at")
        self._check_open()
        now = self._now()
        acquired_at = now if acquired is None else _parse_time(acquired, "acquired_at")
        if acquired_at > now:
            raise _invalid("acquired_at is in the future; give the date the item was bought.")
        cmd = AddHolding(
            account.id,
            sku,  # type: ignore[arg-type]
            data["purchase_price_cents"],
            acquired_at,
            condition,
        )
        self.engine.validate(cmd, now)
        out, group = self._enqueue(cmd, now)
        # shield: a caller cancelled while waiting (a client went away) must
        # not cancel the group's future, which other callers share.
        await asyncio.shield(group)
        assert out.response is not None
        return out.response

    async def remove_holding(self, account: Account, holding_id: int) -> dict[str, Any]:
        """Remove a hand-added item (``not_found`` unless it is one of the account's)."""
        out = await self._submit(RemoveHolding(account.id, holding_id))
        assert out.response is not None
        return out.response

    def holdings(self, account: Account) -> list[dict[str, Any]]:
        """The account's current holdings, in id order."""
        return [holding_wire(h) for h in self.engine.portfolios.holdings(account.id)]

    # ------------------------------------------------------ market data

    def book(self, sku: str, depth: int | None = None) -> dict[str, Any]:
        """The released L2 book: ``{"sku","sequence","bids","asks"}`` best first."""
        if not self.engine.catalog.has_sku(sku):
            raise ExchangeError("unknown_sku", f"No SKU {sku!r} in the catalog.")
        snap = self.mirror.snapshot(sku, depth)
        return {
            "sku": sku,
            "sequence": snap.sequence,
            "bids": [list(level) for level in snap.bids],
            "asks": [list(level) for level in snap.asks],
        }

    def public_trades(
        self, sku: str, limit: int = 100, before: int | None = None
    ) -> list[dict[str, Any]]:
        """The SKU's released trades, newest first, ids below ``before``."""
        if not self.engine.catalog.has_sku(sku):
            raise ExchangeError("unknown_sku", f"No SKU {sku!r} in the catalog.")
        cap = self._released_trade + 1
        upper = cap if before is None else min(before, cap)
        return self.engine.public_trades(sku, limit, upper)

    def subscribe(self, callback: Subscriber) -> None:
        """Call ``callback(events)`` on the loop after each durable group with market data."""
        self._subscribers.append(callback)

    def unsubscribe(self, callback: Subscriber) -> None:
        """Stop calling ``callback``; a no-op if it was not subscribed."""
        with contextlib.suppress(ValueError):
            self._subscribers.remove(callback)

    @property
    def released_seq(self) -> int:
        """The last journal seq whose command is durable and released."""
        return self._released_seq

    @property
    def journal(self) -> Journal:
        """The open journal (tests and tools)."""
        assert self._journal is not None
        return self._journal


# ---------------------------------------------------------------- offline


class OfflineVenue:
    """The data dir opened without a server: for ``exchange accounts create``.

    Holds the data-dir lock from :func:`open_offline` until :meth:`close`.
    """

    def __init__(self, rec: _Recovered) -> None:
        self._rec = rec
        self.engine = rec.engine

    def _submit(self, cmd: Command) -> Outcome:
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
        name = validate_name(name)
        role = parse_role(role)
        api_key = generate_api_key()
        cmd = CreateAccount(self.engine.next_account_id(), name, str(role), hash_api_key(api_key))
        out = self._submit(cmd)
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
