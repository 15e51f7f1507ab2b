"""``exchange cluster engine --shard K``: one shard's engine, active or standby.

The process is a standby until it holds the shard's lease (a key of the
``LEASES`` JetStream KV bucket, three replicas, living :data:`LEASE_TTL`
seconds unless refreshed). Taking it, it opens an ordinary
:class:`exchange.venue.Venue` whose journal is the shard's JetStream stream
(:class:`cluster.journal.JetStreamJournal`): recovery replays the stream, so
the engine comes back with the same books, orders, trades and sequences, and
from then on every command is validated, applied, journaled (acknowledged by
JetStream, R3, fsynced) and released exactly as in one process. The active
engine then:

- answers requests on ``rpc.<K>`` (:mod:`cluster.wire`): the venue's own
  methods, so answers and refusals are the same as ``serve``'s;
- publishes released market data on ``md.<sku>``;
- refreshes its lease; a refresh that fails (it lapsed: the process was
  paused, or cut off) ends the process at once, and so does a journal write
  JetStream refused (another engine wrote first): a former leader never
  publishes a conflicting record (see :mod:`cluster.journal`);
- on shards other than 0, applies shard 0's accounts and products in shard
  0's order (it tails shard 0's journal), so every shard knows every account
  with the same id and key, and every product.

History goes to the trade store at ``--database-url`` through the venue's own
store writer, each shard in a PostgreSQL schema of its own
(``exchange_shard_<K>``), and the venue reads it for evicted history as in
one process. The process's data directory is scratch (store outbox, lock):
it is emptied at each takeover, everything durable being in JetStream and
the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg

from exchange.accounts import Account
from exchange.appraisal import value_portfolio
from exchange.commands import CreateAccount, CreateProduct, decode_record
from exchange.errors import ExchangeError
from exchange.marketdata import BookUpdate, MarketDataEvent
from exchange.venue import Venue, VenueConfig

from .journal import JetStreamJournal, LoopThread, journal_failure_exit
from .nats import (
    LEASE_TTL,
    connect,
    ensure_journal,
    ensure_leases,
    follow_journal,
    md_subject,
    rpc_subject,
)
from .ops import ACTIVE, start_ops
from .sharding import ACCOUNTS_SHARD, id_base, shard_of_style
from .store import shard_database_url
from .wire import decode_page, encode_answer, encode_error, encode_events

__all__ = ["EngineRole"]

log = logging.getLogger("exchange.cluster")

#: How often the active engine refreshes its lease, and a standby tries to take it.
LEASE_REFRESH = LEASE_TTL / 5
#: How long a request waits for this shard to catch up with shard 0's accounts.
DIRECTORY_WAIT = 5.0


class EngineRole:
    """One engine process of shard ``shard`` (of ``shards``)."""

    def __init__(
        self,
        servers: str,
        shard: int,
        shards: int,
        data_dir: Path,
        database_url: str | None,
        *,
        name: str | None = None,
        demo_catalog: bool = True,
    ) -> None:
        self.servers = servers
        self.shard = shard
        self.shards = shards
        self.data_dir = Path(data_dir)
        self.database_url = database_url
        self.name = name or f"engine-{shard}-{os.getpid()}"
        self.demo_catalog = demo_catalog
        self.venue: Venue | None = None
        self.ops_port: int | None = None
        self.active = asyncio.Event()
        self._nc: Client | None = None
        self._dir_seq = 0
        self._database_url: str | None = None
        self._dir_changed = asyncio.Condition()
        self._tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------ lifecycle

    async def run(self, stop: asyncio.Event) -> None:
        """Stand by, take the lease, serve until ``stop`` is set."""
        ops = None
        if self.ops_port is not None:
            ops = await start_ops("127.0.0.1", self.ops_port, self._readiness,
                                  f"{self.name} (shard {self.shard})")
        try:
            await self._run(stop)
        finally:
            if ops is not None:
                await ops.cleanup()

    def _readiness(self) -> str | None:
        venue = self.venue
        if venue is None:
            return "standby"
        return None if venue.ready else venue.health().state.value

    async def _run(self, stop: asyncio.Event) -> None:
        self._nc = nc = await connect(self.servers, name=self.name)
        js = nc.jetstream()
        await ensure_journal(js, self.shard)
        kv = await ensure_leases(js)
        key = f"shard-{self.shard}"
        await self._warm_up()
        log.info("cluster: shard %d: %s stands by for the lease", self.shard, self.name)
        revision = await self._take_lease(kv, key, stop)
        if revision is None:
            await nc.close()
            return
        log.warning("cluster: shard %d: lease taken by %s", self.shard, self.name)
        # The lease is kept from a thread of its own (own loop, own
        # connection): a busy event loop here (recovery, imports, a large
        # group) must not let it lapse.
        keeper = LoopThread(f"lease-{self.shard}")
        keeping = keeper.submit(self._keep_lease(key, revision))
        try:
            await self._activate()
            self.active.set()
            ACTIVE.labels(str(self.shard)).set(1)
            log.warning("cluster: shard %d: %s is active", self.shard, self.name)
            await stop.wait()
        finally:
            keeping.cancel()
            await self._deactivate()
            with contextlib.suppress(Exception):
                await kv.delete(key)  # a clean stop hands over at once
            await nc.close()

    async def _warm_up(self) -> None:
        """Pay now what a takeover would pay: the store's schema and driver, the
        store writer's fork server with its modules, and the lazy imports."""
        self._database_url = await asyncio.to_thread(
            shard_database_url, self.database_url, self.shard, self.data_dir.parent
        )

        def warm() -> None:
            import multiprocessing
            from multiprocessing import forkserver

            import exchange.analytics
            import exchange.store
            import exchange.storewriter  # noqa: F401

            if "forkserver" in multiprocessing.get_all_start_methods():
                ctx = multiprocessing.get_context("forkserver")
                ctx.set_forkserver_preload(["__main__", "exchange.storewriter", "exchange.store"])
                forkserver.ensure_running()

        await asyncio.to_thread(warm)

    async def _take_lease(self, kv: Any, key: str, stop: asyncio.Event) -> int | None:
        while not stop.is_set():
            try:
                return int(await kv.create(key, self.name.encode()))
            except Exception:
                pass  # held by another engine (or NATS is not there yet)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), LEASE_REFRESH)
        return None

    async def _keep_lease(self, key: str, revision: int) -> None:
        """Refresh the lease until cancelled; end the process once it is lost."""
        nc = await connect(self.servers, name=f"{self.name}-lease")
        kv = await ensure_leases(nc.jetstream())
        lapse = time.monotonic() + LEASE_TTL
        while True:
            await asyncio.sleep(LEASE_REFRESH)
            try:
                revision = int(await kv.update(key, self.name.encode(), last=revision))
                lapse = time.monotonic() + LEASE_TTL
            except Exception as exc:
                # Lost (another took it) or lapsing: a former leader must stop now.
                if "wrong last sequence" in str(exc).lower() or time.monotonic() >= lapse:
                    log.critical(
                        "cluster: shard %d: %s lost its lease (%r); stopping",
                        self.shard, self.name, exc,
                    )
                    os._exit(75)
                log.warning("cluster: shard %d: lease refresh failed: %r", self.shard, exc)

    async def _activate(self) -> None:
        scratch = self.data_dir
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True, exist_ok=True)
        database_url = self._database_url
        servers, shard = self.servers, self.shard
        cfg = VenueConfig(
            data_dir=scratch,
            database_url=database_url,
            journal_factory=lambda: JetStreamJournal(
                servers, shard, on_failure=journal_failure_exit(shard)
            ).open(),
            id_base=id_base(shard),
            demo_catalog=self.demo_catalog,
            snapshot_every=10**15,  # snapshots in the object store: not done
            fork_snapshots=False,
            journal_retention_days=None,
            accept_clock_jump=True,
        )
        self.venue = venue = await Venue.open(cfg)
        venue.subscribe(self._publish_md)
        assert self._nc is not None
        await self._nc.subscribe(rpc_subject(self.shard), cb=self._on_request)
        if self.shard != ACCOUNTS_SHARD:
            await self._follow_directory()

    async def _deactivate(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self.venue is not None:
            await self.venue.close()
            self.venue = None

    # ------------------------------------------------------ market data out

    def _publish_md(self, events: list[MarketDataEvent]) -> None:
        venue, nc = self.venue, self._nc
        if venue is None or nc is None:
            return
        by_sku: dict[str, list[MarketDataEvent]] = {}
        for ev in events:
            by_sku.setdefault(ev.sku, []).append(ev)
        for sku, evs in by_sku.items():
            counts = [self._counts(venue, ev) for ev in evs]
            self._spawn(nc.publish(md_subject(sku), encode_events(evs, counts)))

    @staticmethod
    def _counts(venue: Venue, ev: MarketDataEvent) -> dict[tuple[str, int], int] | None:
        if type(ev) is not BookUpdate:
            return None
        snap = venue.mirror.snapshot(ev.sku)
        orders = {("bid", p): n for p, _, n in snap.bids}
        orders.update({("ask", p): n for p, _, n in snap.asks})
        return {(s, p): orders.get((s, p), 0) for s, p, q in ev.changes if q}

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --------------------------------------------------- shard 0's accounts

    async def _follow_directory(self) -> None:
        """Apply shard 0's accounts and products here, in shard 0's order."""
        assert self._nc is not None
        await follow_journal(self._nc, ACCOUNTS_SHARD, self._on_directory_record)

    async def _on_directory_record(self, msg: Msg) -> None:
        venue = self.venue
        if venue is None:
            return
        seq = msg.metadata.sequence.stream
        _, cmd = decode_record(msg.data)
        missing = (
            isinstance(cmd, CreateAccount) and venue.account(cmd.account_id) is None
        ) or (isinstance(cmd, CreateProduct) and not venue.engine.catalog.has_product(cmd.style))
        try:
            if missing:
                await venue.submit(cmd)
        except ExchangeError as exc:
            log.error("cluster: shard %d could not apply shard 0's %s: %s",
                      self.shard, cmd.TYPE, exc)
        async with self._dir_changed:
            self._dir_seq = max(self._dir_seq, seq)
            self._dir_changed.notify_all()

    async def _caught_up(self, dir_seq: int) -> None:
        if self.shard == ACCOUNTS_SHARD or dir_seq <= self._dir_seq:
            return
        async with self._dir_changed:
            await asyncio.wait_for(
                self._dir_changed.wait_for(lambda: self._dir_seq >= dir_seq), DIRECTORY_WAIT
            )

    # ------------------------------------------------------------- requests

    async def _on_request(self, msg: Msg) -> None:
        # Each request on its own task: commands of many requests share a group commit.
        self._spawn(self._answer(msg))

    async def _answer(self, msg: Msg) -> None:
        venue = self.venue
        try:
            req = orjson.loads(msg.data)
            if venue is None or not venue.ready:
                raise ExchangeError("not_ready", "The shard's engine is not ready.")
            await self._caught_up(int(req.get("dir") or 0))
            account = None
            if req.get("account") is not None:
                account = venue.account(req["account"])
                if account is None:
                    raise ExchangeError("unauthorized", "Unknown account on this shard.")
            if req["op"] in ("place_order", "place_orders") and account is not None:
                req["args"] = [await self._owned(venue, account, req["op"], req["args"][0])]
            handler = _OPS.get(req["op"])
            if handler is None:
                raise ExchangeError("not_found", f"No cluster operation {req['op']!r}.")
            value = await handler(venue, account, *req.get("args", []))
            reply = encode_answer(value, venue.released_seq)
        except ExchangeError as exc:
            reply = encode_error(exc)
        except TimeoutError:
            reply = encode_error(ExchangeError("not_ready", "The shard is catching up."))
        except Exception as exc:
            log.exception("cluster: shard %d: request failed", self.shard)
            reply = encode_error(ExchangeError("internal_error", f"{type(exc).__name__}"))
        with contextlib.suppress(Exception):
            await msg.respond(reply)


    async def _owned(self, venue: Venue, account: Account, op: str, bodies: Any) -> Any:
        """Keep a shard to its own SKUs: an order for another shard's SKU is
        answered here only as a repeat of a key this shard holds (200, or 409
        for another body); else it is refused ``wrong_shard`` (the gateway had
        routed it by a stale ``client_order_id`` claim and places it where it
        belongs). Never two books of one SKU."""
        many = op == "place_orders"
        out: list[Any] = []
        for body in bodies if many else [bodies]:
            sku = body.get("sku") if isinstance(body, dict) else None
            info = venue.engine.catalog.find_sku(sku)
            if info is None or shard_of_style(info.style, self.shards) == self.shard:
                out.append(body)
                continue
            _, _, answer = await venue._placement(account, body)  # the venue's own key check
            if answer is None:
                refusal = ExchangeError("wrong_shard", f"{info.sku} is not on shard {self.shard}.")
                if not many:
                    raise refusal
                out.append({"__refused__": [refusal.code, refusal.message, refusal.status]})
            else:
                out.append(body)  # a repeat: the venue answers it as it would
        return out if many else out[0]


# ------------------------------------------------------------------ operations

Op = Callable[..., Awaitable[Any]]


def _sync(fn: Callable[..., Any]) -> Op:
    async def call(*args: Any) -> Any:
        return fn(*args)

    return call


def _thread(fn: Callable[..., Any]) -> Op:
    async def call(*args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    return call


async def _place_order(venue: Venue, account: Account, body: Any) -> list[Any]:
    status, answer = await venue.place_order(account, body)
    return [status, answer]


async def _place_orders(venue: Venue, account: Account, bodies: list[Any]) -> list[Any]:
    refused = {i: b["__refused__"] for i, b in enumerate(bodies)
               if isinstance(b, dict) and "__refused__" in b}
    placed = iter(await venue.place_orders(
        account, [b for i, b in enumerate(bodies) if i not in refused]
    ))
    out: list[Any] = []
    for i in range(len(bodies)):
        if i in refused:
            out.append({"error": refused[i]})
            continue
        answer = next(placed)
        err = answer.get("error")
        if isinstance(err, ExchangeError):
            answer = {"error": [err.code, err.message, err.status]}
        out.append(answer)
    return out


async def _recent_trades(venue: Venue, _account: None, limit: int) -> dict[str, Any]:
    out = {}
    for sku in venue.mirror.skus():
        rows = venue.public_trades(sku, limit)
        if rows:
            out[sku] = rows
    return out


async def _portfolio(venue: Venue, account: Account, mark: str, now_ns: int) -> Any:
    return await value_portfolio(venue, account, mark, now_ns)


async def _portfolio_history(venue: Venue, account: Account, *args: Any) -> Any:
    interval, start_ns, end_ns, now_ns = args
    return await asyncio.to_thread(
        venue.analytics.portfolio_history,
        account.id,
        interval,
        start_ns,
        end_ns,
        now_ns=now_ns,
    )


async def _analytics(venue: Venue, _account: None, name: str, args: list[Any],
                     kwargs: dict[str, Any]) -> Any:
    if name not in ("sku_summary", "product_summary", "candles", "export_candles"):
        raise ExchangeError("not_found", f"No analytics query {name!r}.")
    value = await asyncio.to_thread(getattr(venue.analytics, name), *args, **kwargs)
    return value.decode("latin-1") if isinstance(value, bytes) else value


async def _mirror(venue: Venue, _account: None) -> list[Any]:
    out = []
    for sku in venue.mirror.skus():
        snap = venue.mirror.snapshot(sku)
        book_seq, trade_seq = venue.mirror.channel_sequences(sku)
        out.append([sku, snap.sequence, snap.bids, snap.asks, book_seq, trade_seq])
    return out


_OPS: dict[str, Op] = {
    "create_account": lambda v, _a, *args: v.create_account(*args),
    "create_product": lambda v, a, body: v.create_product(a, body),
    "place_order": _place_order,
    "place_orders": _place_orders,
    "recent_trades": _recent_trades,
    "amend_order": lambda v, a, oid, body: v.amend_order(a, oid, body),
    "cancel_order": lambda v, a, oid: v.cancel_order(a, oid),
    "find_order": lambda v, a, oid: v.find_order(a, oid),
    "orders_page": lambda v, a, page, status, sku: v.orders_page(
        a, decode_page(page), status=status, sku=sku
    ),
    "trades_page": lambda v, a, page, sku, settlement: v.trades_page(
        a, decode_page(page), sku=sku, settlement_status=settlement
    ),
    "ledger_page": lambda v, a, page: v.ledger_page(a, decode_page(page)),
    "list_orders": _sync(lambda v, a, status: v.list_orders(a, status)),
    "list_trades": _sync(lambda v, a: v.list_trades(a)),
    "ledger": _sync(lambda v, a: v.ledger(a)),
    "ship": lambda v, a, tid: v.ship(a, tid),
    "authenticate_trade": lambda v, a, tid, passed: v.authenticate_trade(a, tid, passed),
    "add_holding": lambda v, a, body: v.add_holding(a, body),
    "remove_holding": lambda v, a, hid: v.remove_holding(a, hid),
    "sku_trades_page": lambda v, _a, sku, page: v.sku_trades_page(sku, decode_page(page)),
    "public_trades": _sync(lambda v, _a, sku, limit, before: v.public_trades(sku, limit, before)),
    "book": _sync(lambda v, _a, sku, depth: v.book(sku, depth)),
    "mirror": _mirror,
    "portfolio": _portfolio,
    "portfolio_history": _portfolio_history,
    "analytics": _analytics,
    "health": _sync(lambda v, _a: [v.health().state.value, v.released_seq]),
}
