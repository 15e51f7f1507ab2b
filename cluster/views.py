"""What a gateway or feed process keeps locally: the directory and the market mirror.

:class:`Directory` applies shard 0's accounts and products (tailing shard 0's
journal stream, in its order) to a local engine that holds nothing else, so a
gateway authenticates keys and answers catalog reads without asking anyone;
:attr:`Directory.seq` is how far it got, which requests carry so that a
shard answers only once it knows at least as much (see ``cluster.engine``).

:class:`MarketMirror` keeps the released L2 books of every SKU from
``md.<sku>`` (the engines publish after durability), loaded at start from
each shard's engine. An event whose sequence skips ahead (a failover can
lose market data that was released but not yet published; core NATS may
drop under load) makes it load that shard's books again; subscribers see the
jump and their clients resync, as the feed contract says. It also keeps the
recent public trades per SKU that the feed seeds tickers and candles from.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg

from exchange.clock import rfc3339
from exchange.commands import CreateAccount, CreateProduct, decode_record
from exchange.engine import Engine
from exchange.errors import ExchangeError
from exchange.marketdata import L2Mirror, MarketDataEvent, TradeCanceled, TradePrint
from exchange.service.queries import VenueQueries

from .nats import follow_journal
from .sharding import ACCOUNTS_SHARD, shard_of_style
from .wire import decode_events

__all__ = ["Directory", "MarketMirror"]

log = logging.getLogger("exchange.cluster")

Call = Callable[..., Awaitable[Any]]
Subscriber = Callable[[list[MarketDataEvent]], None]

RECENT_TRADES = 500


class Directory(VenueQueries):
    """Accounts and catalog as of :attr:`seq` of shard 0's journal; catalog reads."""

    def __init__(self, mirror: L2Mirror) -> None:
        self.engine = Engine()
        self.mirror = mirror
        self._released_trade = 0
        self.seq = 0
        self._applied = 0
        self._changed = asyncio.Condition()

    def _now(self) -> int:
        return self.engine.last_ts

    def shard_of_sku(self, sku: object, shards: int) -> int | None:
        """The shard of a SKU the catalog has, else None."""
        info = self.engine.catalog.find_sku(sku)
        return None if info is None else shard_of_style(info.style, shards)

    async def follow(self, nc: Client) -> None:
        """Tail shard 0's journal from its start; returns once caught up."""
        last = await follow_journal(nc, ACCOUNTS_SHARD, self._on_record)
        await self.wait(last, timeout=None)

    async def _on_record(self, msg: Msg) -> None:
        ts, cmd = decode_record(msg.data)
        if isinstance(cmd, (CreateAccount, CreateProduct)):
            try:
                self.engine.validate(cmd, ts)
                self._applied += 1
                self.engine.apply(self._applied, ts, cmd)
            except ExchangeError:
                pass  # a product shard 0 already had: shard 0 refused it too
        async with self._changed:
            self.seq = max(self.seq, msg.metadata.sequence.stream)
            self._changed.notify_all()

    async def wait(self, seq: int, timeout: float | None = 5.0) -> None:
        """Wait until the directory applied shard 0's journal up to ``seq``."""
        if self.seq >= seq:
            return
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: self.seq >= seq), timeout)


class MarketMirror:
    """Released books and recent trades of every SKU, from ``md.<sku>``."""

    def __init__(self, directory: Directory, shards: int, call: Call) -> None:
        self.mirror = directory.mirror
        self.directory = directory
        self.shards = shards
        self._call = call
        self._subscribers: list[Subscriber] = []
        self._loaded: set[int] = set()
        self._pending: dict[int, list[tuple[MarketDataEvent, Any]]] = {}
        self._resyncing: set[int] = set()
        self._trades: dict[str, deque[dict[str, Any]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self, nc: Client, *, trades: bool = False) -> None:
        """Subscribe to market data, then load every shard's books (and recent trades)."""
        await nc.subscribe("md.>", cb=self._on_md)
        for shard in range(self.shards):
            await self._load(shard)
            if trades:
                rows = await self._call(shard, "recent_trades", None, RECENT_TRADES)
                for sku, trade_rows in rows.items():
                    self._trades[sku] = deque(reversed(trade_rows), maxlen=RECENT_TRADES)

    async def _load(self, shard: int) -> None:
        self._pending.setdefault(shard, [])
        books = await self._call(shard, "mirror", None)
        for sku, seq, bids, asks, book_seq, trade_seq in books:
            if seq >= self.mirror.sequence(sku):
                self.mirror.load(
                    sku, seq, [tuple(b) for b in bids], [tuple(a) for a in asks],
                    book_sequence=book_seq, trade_sequence=trade_seq,
                )
        self._loaded.add(shard)
        self._resyncing.discard(shard)
        pending = self._pending.pop(shard, [])
        self._apply(shard, pending)

    async def _on_md(self, msg: Msg) -> None:
        events = decode_events(msg.data)
        if not events:
            return
        shard = self.directory.shard_of_sku(events[0][0].sku, self.shards)
        if shard is None:
            return
        if shard not in self._loaded:
            self._pending.setdefault(shard, []).extend(events)
            return
        self._apply(shard, events)

    def _apply(self, shard: int, events: list[tuple[MarketDataEvent, Any]]) -> None:
        out: list[MarketDataEvent] = []
        for ev, counts in events:
            have = self.mirror.sequence(ev.sku)
            if ev.sequence <= have:
                continue  # a repeat (a former leader's), or older than a loaded book
            if ev.sequence != have + 1 and have:
                log.warning("cluster: md gap on %s (%d after %d); reloading shard %d",
                            ev.sku, ev.sequence, have, shard)
                self._resync(shard, events)
                break
            self.mirror.apply(ev, counts)
            self._remember(ev)
            out.append(ev)
        if out:
            for callback in list(self._subscribers):
                try:
                    callback(out)
                except Exception:
                    log.exception("cluster: market-data subscriber failed")

    def _resync(self, shard: int, _events: Any) -> None:
        if shard in self._resyncing:
            return
        self._resyncing.add(shard)
        self._loaded.discard(shard)

        async def reload() -> None:
            while True:
                try:
                    await self._load(shard)
                    return
                except Exception as exc:
                    log.warning("cluster: reloading shard %d's books failed: %r", shard, exc)
                    await asyncio.sleep(0.5)

        task = asyncio.ensure_future(reload())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _remember(self, ev: MarketDataEvent) -> None:
        if type(ev) is TradePrint:
            trades = self._trades.setdefault(ev.sku, deque(maxlen=RECENT_TRADES))
            trades.append({
                "id": ev.trade_id, "sku": ev.sku, "price_cents": ev.price_cents,
                "quantity": ev.quantity, "taker_side": ev.taker_side,
                "time": rfc3339(ev.time), "settlement_status": "pending",
            })
        elif type(ev) is TradeCanceled:
            for row in self._trades.get(ev.sku, ()):
                if row["id"] == ev.trade_id:
                    row["settlement_status"] = "canceled"

    def public_trades(
        self, sku: str, limit: int, before: int | None = None
    ) -> list[dict[str, Any]]:
        """Recent released trades of a SKU, newest first (the last few hundred)."""
        recent = reversed(self._trades.get(sku, ()))
        return [t for t in recent if before is None or t["id"] < before][:limit]

    def subscribe(self, callback: Subscriber) -> None:
        """Call ``callback(events)`` for every in-order released event."""
        self._subscribers.append(callback)

    def unsubscribe(self, callback: Subscriber) -> None:
        """Stop calling ``callback``."""
        with contextlib.suppress(ValueError):
            self._subscribers.remove(callback)
