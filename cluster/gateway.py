"""The venue as a gateway or feed process sees it: :class:`RemoteVenue`.

It provides the same protocols as the single-process venue
(:class:`exchange.venueapi.VenueApi` for the REST app,
:class:`exchange.venueapi.FeedSource` for the feed), so ``api/app.py`` and
``feeds/server.py`` run unchanged. Each command or read goes to the engine of
the shard that owns it, as a request on ``rpc.<K>`` (:mod:`cluster.wire`),
and the engine answers with the venue's own code:

- by SKU (orders, holdings, a SKU's trades, summaries, candles): the shard
  of its product style (:mod:`cluster.sharding`);
- by id (cancel, amend, an order, ship, authenticate, remove a holding): the
  shard that numbered the id;
- per account, across shards (paged orders, trades, ledger; the
  portfolio): every shard, merged newest id first (a page is the newest
  ``limit`` rows of the union, ``next_before`` its last id when more may follow);
- accounts and products: shard 0, whose journal every shard and every
  gateway applies (:class:`cluster.views.Directory`); keys are checked
  locally.

``client_order_id`` is unique per account across shards: a key is claimed
in the ``ORDER_KEYS`` KV bucket (R3) for the shard it is first used on, with
JetStream's create-if-absent; a later use of it goes to that shard, which
answers the replay (200) or ``client_order_id_reused`` (409) as in one process.

A request nobody answers (no active engine: a failover) is sent again until
:data:`REQUEST_DEADLINE`. A request that got no answer in
:data:`REQUEST_TIMEOUT` (an engine killed just after it was routed there) is
sent again when that is safe: a read, or a placement whose orders all carry a
``client_order_id`` (the engine answers a repeat as such; it is sent again
after :data:`IDEMPOTENT_TIMEOUT` already); another command
answers 503 ``not_ready``, its outcome unknown.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from exchange.accounts import Account
from exchange.errors import ExchangeError
from exchange.fees import FeeSchedule
from exchange.health import Health, State
from exchange.history import Page
from exchange.marketdata import L2Mirror

from .nats import REPLICAS, connect, rpc_subject
from .sharding import ACCOUNTS_SHARD, shard_of_id, shard_of_style
from .views import Directory, MarketMirror
from .wire import decode_answer, encode_page, encode_request

__all__ = ["RemoteVenue"]

log = logging.getLogger("exchange.cluster")

#: How long a request keeps being sent while no engine of its shard answers.
REQUEST_DEADLINE = 10.0
REQUEST_TIMEOUT = 5.0
IDEMPOTENT_TIMEOUT = 2.0
ORDER_KEYS = "ORDER_KEYS"
_READS = frozenset({
    "find_order", "orders_page", "trades_page", "ledger_page", "sku_trades_page", "mirror",
    "recent_trades", "portfolio", "portfolio_history", "analytics", "health",
})


class RemoteVenue:
    """A venue whose engines are shards elsewhere, reached over NATS."""

    def __init__(self, servers: str, shards: int, *, name: str = "gateway") -> None:
        self.servers = servers
        self.shards = shards
        self.name = name
        self._mirror = L2Mirror()
        self.directory = Directory(self._mirror)
        self.market = MarketMirror(self.directory, shards, self._call)
        self._nc: Client | None = None
        self._keys: Any = None
        self._ready = False
        self.analytics = RemoteAnalytics(self)
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    async def open(cls, servers: str, shards: int, *, name: str = "gateway",
                   trades: bool = False) -> RemoteVenue:
        """Connect, follow shard 0's directory and load the books (and recent trades)."""
        venue = cls(servers, shards, name=name)
        venue._loop = asyncio.get_running_loop()
        venue._nc = nc = await connect(servers, name=name)
        await venue.directory.follow(nc)
        # Every shard's engine active first; shard 0's catalog (the demo
        # products journaled at its first start) known before serving.
        for shard in range(shards):
            while True:
                try:
                    _, seq = await venue._request(shard, "health", None)
                    break
                except ExchangeError as exc:
                    log.warning("cluster: %s waits for shard %d: %s", name, shard, exc)
            if shard == ACCOUNTS_SHARD:
                await venue.directory.wait(seq, timeout=None)
        await venue.market.start(nc, trades=trades)
        venue._keys = await _order_keys(nc)
        venue._ready = True
        return venue

    async def close(self) -> None:
        """Close the connection."""
        self._ready = False
        if self._nc is not None:
            await self._nc.close()

    # ----------------------------------------------------------- requests

    async def _call(self, shard: int, op: str, account: Account | str | None, *args: Any,
                    idempotent: bool = False) -> Any:
        value, _ = await self._request(shard, op, account, *args, idempotent=idempotent)
        return value

    async def _request(
        self, shard: int, op: str, account: Account | str | None, *args: Any,
        idempotent: bool = False,
    ) -> tuple[Any, int]:
        """Ask shard ``shard``'s engine; ``idempotent``: a command that may be sent
        again after a timeout (placements whose every body has a client_order_id)."""
        assert self._nc is not None
        account_id = account.id if isinstance(account, Account) else account
        data = encode_request(op, account_id, args, self.directory.seq)
        deadline = time.monotonic() + REQUEST_DEADLINE
        # A repeatable placement waits less before it is sent again: a kill -9
        # just after routing costs this, not the full timeout.
        timeout = IDEMPOTENT_TIMEOUT if idempotent else REQUEST_TIMEOUT
        while True:
            try:
                msg = await self._nc.request(rpc_subject(shard), data, timeout=timeout)
                return decode_answer(msg.data)
            except NoRespondersError:
                pass  # no active engine (failover): nothing was received
            except NatsTimeout:
                if op not in _READS and not idempotent:
                    raise ExchangeError(
                        "not_ready",
                        "The shard did not answer in time; the command's outcome is unknown "
                        "(repeat it with its client_order_id).",
                    ) from None
            except ExchangeError as exc:
                if exc.code != "not_ready":
                    raise
            if time.monotonic() >= deadline:
                raise ExchangeError("not_ready", f"Shard {shard} has no active engine.")
            await asyncio.sleep(0.1)

    def _shard_of_sku(self, sku: object) -> int:
        shard = self.directory.shard_of_sku(sku, self.shards)
        return ACCOUNTS_SHARD if shard is None else shard

    def _shard_of_id(self, entity_id: int) -> int:
        shard = shard_of_id(entity_id, self.shards)
        return ACCOUNTS_SHARD if shard is None else shard

    async def _all(self, op: str, account: Account, *args: Any) -> list[Any]:
        return list(await asyncio.gather(
            *(self._call(s, op, account, *args) for s in range(self.shards))
        ))

    def _key(self, account: Account, body: object) -> str | None:
        coid = body.get("client_order_id") if isinstance(body, dict) else None
        if not isinstance(coid, str) or self.shards == 1:
            return None
        digest = hashlib.sha256(f"{account.id}\0{coid}".encode()).hexdigest()[:40]
        return f"{account.id}.{digest}"

    async def _order_shard(self, account: Account, body: object) -> int:
        """The shard an order goes to: its SKU's, or where its client_order_id was used."""
        shard = self._shard_of_sku(body.get("sku") if isinstance(body, dict) else None)
        key = self._key(account, body)
        if key is None:
            return shard
        try:
            await self._keys.create(key, str(shard).encode())
            return shard
        except Exception:
            entry = await self._keys.get(key)
            return int(entry.value.decode())

    async def _place_where_it_belongs(self, account: Account, body: object) -> Any:
        """After ``wrong_shard``: the key's claim was never used; move it to the SKU's shard."""
        await self.directory.wait(self.directory.seq)
        shard = self._shard_of_sku(body.get("sku") if isinstance(body, dict) else None)
        key = self._key(account, body)
        if key is not None:
            await self._keys.put(key, str(shard).encode())
        return await self._call(shard, "place_order", account, body)

    # --------------------------------------------------------- VenueApi

    @property
    def ready(self) -> bool:
        """Connected, directory and books loaded."""
        return self._ready and self._nc is not None and self._nc.is_connected

    def health(self) -> Health:
        """Ready, or starting (not yet connected or loaded)."""
        return Health.of(State.READY if self.ready else State.STARTING)

    @property
    def mirror(self) -> L2Mirror:
        """Released L2 books of every shard."""
        return self._mirror

    @property
    def fee_schedule(self) -> FeeSchedule:
        """The fee schedule (every engine runs the default one)."""
        return self.directory.engine.schedule

    def seller_level(self, account: Account, now: int | None = None) -> int:
        """Not known here: each shard applies its own (see the README); 1."""
        return 1

    def authenticate(self, api_key: str) -> Account | None:
        """The account of an API key (shard 0's accounts, applied locally)."""
        return self.directory.authenticate(api_key)

    async def create_account(self, name: object, role: object = "trader") -> dict[str, Any]:
        """Create the account on shard 0; answer once this gateway knows it."""
        value, seq = await self._request(ACCOUNTS_SHARD, "create_account", None, name, role)
        await self.directory.wait(seq)
        return dict(value)

    def products(self) -> list[dict[str, Any]]:
        """Every product."""
        return self.directory.products()

    def product(self, style: str) -> dict[str, Any]:
        """One product."""
        return self.directory.product(style)

    async def create_product(self, account: Account, body: object) -> dict[str, Any]:
        """Add a product on shard 0 (every shard applies it from there)."""
        value, seq = await self._request(ACCOUNTS_SHARD, "create_product", account, body)
        await self.directory.wait(seq)
        return dict(value)

    def sku_exists(self, sku: str) -> bool:
        """Whether the SKU is in the catalog."""
        return self.directory.sku_exists(sku)

    def sku_rules(self, sku: str) -> dict[str, Any]:
        """A SKU's rules."""
        return self.directory.sku_rules(sku)

    async def place_order(self, account: Account, body: object) -> tuple[int, dict[str, Any]]:
        """Place on the SKU's shard (or where the client_order_id was first used)."""
        shard = await self._order_shard(account, body)
        try:
            status, answer = await self._call(shard, "place_order", account, body,
                                              idempotent=_keyed(body))
        except ExchangeError as exc:
            if exc.code != "wrong_shard":
                raise
            status, answer = await self._place_where_it_belongs(account, body)
        return int(status), answer

    async def place_orders(
        self, account: Account, bodies: Sequence[object]
    ) -> list[dict[str, Any]]:
        """Each shard's orders as one group there; answers in the bodies' order."""
        groups: dict[int, list[int]] = {}
        for i, body in enumerate(bodies):
            groups.setdefault(await self._order_shard(account, body), []).append(i)
        results: list[dict[str, Any]] = [{} for _ in bodies]

        async def run(shard: int, idx: list[int]) -> None:
            answers = await self._call(
                shard, "place_orders", account, [bodies[i] for i in idx],
                idempotent=all(_keyed(bodies[i]) for i in idx),
            )
            for i, answer in zip(idx, answers, strict=True):
                err = answer.get("error") if isinstance(answer, dict) else None
                if isinstance(err, list) and err[0] == "wrong_shard":
                    try:
                        _, answer = await self._place_where_it_belongs(account, bodies[i])
                    except ExchangeError as exc:
                        answer = {"error": exc}
                elif isinstance(err, list):
                    answer = {"error": ExchangeError(err[0], err[1], status=err[2])}
                results[i] = answer

        await asyncio.gather(*(run(s, idx) for s, idx in groups.items()))
        return results

    async def amend_order(self, account: Account, order_id: int, body: object) -> dict[str, Any]:
        """Amend on the order's shard."""
        answer: dict[str, Any] = await self._call(
            self._shard_of_id(order_id), "amend_order", account, order_id, body
        )
        return answer

    async def cancel_order(self, account: Account, order_id: int) -> dict[str, Any]:
        """Cancel on the order's shard."""
        answer: dict[str, Any] = await self._call(
            self._shard_of_id(order_id), "cancel_order", account, order_id
        )
        return answer

    async def find_order(self, account: Account, order_id: int) -> dict[str, Any]:
        """One order, from its shard (live or stored)."""
        answer: dict[str, Any] = await self._call(
            self._shard_of_id(order_id), "find_order", account, order_id
        )
        return answer

    def get_order(self, account: Account, order_id: int) -> dict[str, Any]:
        """Not served by a gateway: use :meth:`find_order`."""
        raise ExchangeError("not_ready", "A cluster gateway reads orders with find_order.")

    def list_orders(self, account: Account, status: str | None = None) -> list[dict[str, Any]]:
        """Not served by a gateway: use the paged :meth:`orders_page`."""
        raise ExchangeError("not_ready", "A cluster gateway reads orders by page.")

    def list_trades(self, account: Account) -> list[dict[str, Any]]:
        """Not served by a gateway: use the paged :meth:`trades_page`."""
        raise ExchangeError("not_ready", "A cluster gateway reads trades by page.")

    def ledger(self, account: Account) -> list[dict[str, Any]]:
        """Not served by a gateway: use the paged :meth:`ledger_page`."""
        raise ExchangeError("not_ready", "A cluster gateway reads the ledger by page.")

    async def _merged_page(self, key: str, page: Page, answers: list[dict[str, Any]]
                           ) -> dict[str, Any]:
        rows = [row for answer in answers for row in answer[key]]
        rows.sort(key=lambda row: int(row["id"]), reverse=True)
        more = len(rows) > page.limit or any(a.get("next_before") is not None for a in answers)
        rows = rows[: page.limit]
        return {key: rows, "next_before": rows[-1]["id"] if more and rows else None}

    async def orders_page(
        self, account: Account, page: Page, *, status: str | None = None, sku: str | None = None
    ) -> dict[str, Any]:
        """The account's orders on every shard (or the SKU's), newest id first."""
        args = (encode_page(page), status, sku)
        if sku is not None:
            answer: dict[str, Any] = await self._call(
                self._shard_of_sku(sku), "orders_page", account, *args
            )
            return answer
        return await self._merged_page(
            "orders", page, await self._all("orders_page", account, *args)
        )

    async def trades_page(
        self,
        account: Account,
        page: Page,
        *,
        sku: str | None = None,
        settlement_status: str | None = None,
    ) -> dict[str, Any]:
        """The account's fills on every shard (or the SKU's), newest id first."""
        args = (encode_page(page), sku, settlement_status)
        if sku is not None:
            answer: dict[str, Any] = await self._call(
                self._shard_of_sku(sku), "trades_page", account, *args
            )
            return answer
        return await self._merged_page(
            "trades", page, await self._all("trades_page", account, *args)
        )

    async def ledger_page(self, account: Account, page: Page) -> dict[str, Any]:
        """The account's ledger on every shard, newest id first."""
        answers = await self._all("ledger_page", account, encode_page(page))
        return await self._merged_page("entries", page, answers)

    async def ship(self, account: Account, trade_id: int) -> dict[str, Any]:
        """Ship on the trade's shard."""
        answer: dict[str, Any] = await self._call(
            self._shard_of_id(trade_id), "ship", account, trade_id
        )
        return answer

    async def authenticate_trade(
        self, account: Account, trade_id: int, passed: object
    ) -> dict[str, Any]:
        """Authenticate on the trade's shard."""
        answer: dict[str, Any] = await self._call(
            self._shard_of_id(trade_id), "authenticate_trade", account, trade_id, passed
        )
        return answer

    async def add_holding(self, account: Account, body: object) -> dict[str, Any]:
        """Add a holding on its SKU's shard."""
        sku = body.get("sku") if isinstance(body, dict) else None
        answer: dict[str, Any] = await self._call(
            self._shard_of_sku(sku), "add_holding", account, body
        )
        return answer

    async def remove_holding(self, account: Account, holding_id: int) -> dict[str, Any]:
        """Remove a holding on the shard that numbered it."""
        answer: dict[str, Any] = await self._call(
            self._shard_of_id(holding_id), "remove_holding", account, holding_id
        )
        return answer

    async def sku_trades_page(self, sku: str, page: Page) -> dict[str, Any]:
        """A SKU's public trades, from its shard."""
        answer: dict[str, Any] = await self._call(
            self._shard_of_sku(sku), "sku_trades_page", None, sku, encode_page(page)
        )
        return answer

    def book(self, sku: str, depth: int | None = None) -> dict[str, Any]:
        """The released L2 book (this process's mirror of the shard's)."""
        return self.directory.book(sku, depth)

    def public_trades(
        self, sku: str, limit: int, before: int | None = None
    ) -> list[dict[str, Any]]:
        """Recent released trades of a SKU (the feed's seed)."""
        return self.market.public_trades(sku, limit, before)

    # ----------------------------------------------------------- FeedSource

    def subscribe(self, callback: Any) -> None:
        """Released market data, in order per SKU."""
        self.market.subscribe(callback)

    def unsubscribe(self, callback: Any) -> None:
        """Stop calling ``callback``."""
        self.market.unsubscribe(callback)

    # ---------------------------------------------------------- from threads

    def call_blocking(self, shard: int, op: str, account: str | None, *args: Any) -> Any:
        """:meth:`_call` from a worker thread (analytics run off the loop)."""
        assert self._loop is not None
        fut = asyncio.run_coroutine_threadsafe(self._call(shard, op, account, *args), self._loop)
        return fut.result(REQUEST_DEADLINE + REQUEST_TIMEOUT)


class RemoteAnalytics:
    """History queries answered by the shards' stores (blocking; run in a thread)."""

    def __init__(self, venue: RemoteVenue) -> None:
        self._venue = venue

    def _query(self, shard: int, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._venue.call_blocking(shard, "analytics", None, name, list(args), kwargs)

    def sku_summary(self, sku: str, **kwargs: Any) -> dict[str, Any]:
        """From the SKU's shard."""
        answer: dict[str, Any] = self._query(
            self._venue._shard_of_sku(sku), "sku_summary", sku, **kwargs
        )
        return answer

    def product_summary(self, style: str, **kwargs: Any) -> dict[str, Any]:
        """From the product's shard."""
        answer: dict[str, Any] = self._query(
            shard_of_style(style, self._venue.shards), "product_summary", style, **kwargs
        )
        return answer

    def candles(self, skus: Sequence[str], *args: Any) -> list[dict[str, Any]]:
        """From the shard of the SKUs (one product's sizes share a shard)."""
        shard = self._venue._shard_of_sku(skus[0]) if skus else ACCOUNTS_SHARD
        answer: list[dict[str, Any]] = self._query(shard, "candles", list(skus), *args)
        return answer

    def export_candles(self, skus: Sequence[str], *args: Any) -> bytes:
        """From the shard of the SKUs, as bytes."""
        shard = self._venue._shard_of_sku(skus[0]) if skus else ACCOUNTS_SHARD
        text: str = self._query(shard, "export_candles", list(skus), *args)
        return text.encode("latin-1")

    def portfolio(self, account_id: str, mark: str = "last_sale", *, now_ns: int,
                  bests: Any = None, net_fn: Any = None) -> dict[str, Any]:
        """Each shard values its part (its SKUs, its seller level); summed here."""
        parts = [
            self._venue.call_blocking(s, "portfolio", account_id, mark, now_ns)
            for s in range(self._venue.shards)
        ]
        merged: dict[str, Any] = merge_sums(parts)
        return merged

    def portfolio_history(self, account_id: str, interval: str = "1d",
                          start_ns: int | None = None, end_ns: int | None = None, *,
                          now_ns: int) -> dict[str, Any]:
        """Each shard's history of its part; points summed by time."""
        parts = [
            self._venue.call_blocking(
                s, "portfolio_history", account_id, interval, start_ns, end_ns, now_ns
            )
            for s in range(self._venue.shards)
        ]
        merged: dict[str, Any] = merge_sums(parts)
        return merged


def merge_sums(parts: list[Any]) -> Any:
    """Merge shards' answers: numbers add up, lists of items join (points by time)."""
    first = parts[0]
    if isinstance(first, dict):
        return {key: merge_sums([p.get(key) for p in parts]) for key in first}
    if isinstance(first, list):
        if first and isinstance(first[0], dict) and "time" in first[0] and "id" not in first[0]:
            by_time: dict[Any, list[Any]] = {}
            for part in parts:
                for point in part or []:
                    by_time.setdefault(point["time"], []).append(point)
            return [merge_sums(points) for _, points in sorted(by_time.items())]
        return [row for part in parts for row in (part or [])]
    if (isinstance(first, int) and not isinstance(first, bool)) or first is None:
        numbers = [p for p in parts if isinstance(p, int) and not isinstance(p, bool)]
        return sum(numbers) if numbers else None
    return first


def _keyed(body: object) -> bool:
    """Whether a placement carries a client_order_id (so repeating it is safe)."""
    return isinstance(body, dict) and isinstance(body.get("client_order_id"), str)


async def _order_keys(nc: Client) -> Any:
    js = nc.jetstream()
    try:
        return await js.key_value(ORDER_KEYS)
    except Exception:
        from nats.js.api import KeyValueConfig, StorageType

        try:
            return await js.create_key_value(
                KeyValueConfig(bucket=ORDER_KEYS, history=1, replicas=REPLICAS,
                               storage=StorageType.FILE)
            )
        except Exception:
            return await js.key_value(ORDER_KEYS)
