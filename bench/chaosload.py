"""The chaos soak's clients and its proof (see :mod:`bench.chaos`).

:class:`Trader` places orders over real HTTP in a steady loop, as a careful
client would: each order has a ``client_order_id`` and is sent again, the
same body, after a connection error, a timeout or a 5xx, until the venue
answers it (201 placed, or 200: the venue had it already), so every order
the venue journaled ends up acknowledged to the client and recorded in the
:class:`Ledger`, with every fill in its answer. It also cancels its oldest
resting orders. :func:`verify` then proves, after a clean restart, that
every acknowledged order and trade reads back through the API (one by one
and in paged lists) and sits in the store exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime
from random import Random
from typing import Any

import aiohttp
from sqlalchemy import create_engine

from .chaosfaults import Venue

__all__ = ["Api", "Ledger", "Market", "Trader", "verify"]

MAX_RESTING = 60  # each trader cancels its oldest resting order past this many
PAGE = 1000


class Unanswered(Exception):
    """No HTTP answer: refused, reset or timed out."""


class Api:
    """Requests to whichever server process runs now."""

    def __init__(self, venue: Venue, timeout: float = 20.0) -> None:
        self.venue = venue
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))

    async def call(self, method: str, path: str, key: str | None = None,
                   body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        try:
            async with self.session.request(method, self.venue.http_url + path, json=body,
                                            headers=headers) as r:
                data = await r.json(content_type=None) if r.content_length != 0 else None
                return r.status, data
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise Unanswered(str(exc)) from exc

    async def answered(self, method: str, path: str, key: str | None = None,
                       body: Any = None, tries: int = 100) -> tuple[int, Any]:
        """An answer other than 5xx, retrying (for set-up and the proof)."""
        for attempt in range(tries):
            with contextlib.suppress(Unanswered):
                status, data = await self.call(method, path, key, body)
                if status < 500:
                    return status, data
            await asyncio.sleep(min(1.0, 0.05 * (attempt + 1)))
        raise RuntimeError(f"{method} {path}: no answer in {tries} tries")

    async def close(self) -> None:
        await self.session.close()


@dataclass
class Acked:
    """An order as the venue acknowledged it."""

    account: int
    client_order_id: str
    sku: str
    side: str
    quantity: int
    status: str


@dataclass
class Ledger:
    """What the clients were told: every acknowledged order, fill and cancel."""

    orders: dict[int, Acked] = field(default_factory=dict)
    by_key: dict[str, int] = field(default_factory=dict)
    trades: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    canceled: set[int] = field(default_factory=set)
    conflicts: list[str] = field(default_factory=list)
    stats: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    max_time_skew_s: float = 0.0

    def acknowledge(self, account: int, body: dict[str, Any], status: int,
                    answer: dict[str, Any]) -> dict[str, Any]:
        order = answer["order"]
        oid = order["id"]
        key = body["client_order_id"]
        if self.by_key.setdefault(key, oid) != oid:
            self.conflicts.append(f"{key}: answered order {oid}, before {self.by_key[key]}")
        self.orders[oid] = Acked(account, key, body["sku"], body["side"], body["quantity"],
                                 order["status"])
        self.stats["orders_acked_201" if status == 201 else "orders_acked_200_repeat"] += 1
        now = time.time()
        for fill in answer.get("fills") or []:
            trade = (fill["sku"], fill["price_cents"], fill["quantity"],
                     fill["buy_order_id"], fill["sell_order_id"])
            if self.trades.setdefault(fill["id"], trade) != trade:
                self.conflicts.append(f"trade {fill['id']}: {trade} != {self.trades[fill['id']]}")
            if status == 201:  # a fresh match: its time is the venue's now
                skew = abs(datetime.fromisoformat(fill["time"]).timestamp() - now)
                self.max_time_skew_s = max(self.max_time_skew_s, skew)
        return order  # type: ignore[no-any-return]


@dataclass
class Market:
    """The SKUs traded, each with a fair price and its tick and band."""

    skus: list[tuple[str, int, int, int, int]]  # sku, fair, tick, low, high

    @classmethod
    async def load(cls, api: Api, count: int) -> Market:
        _, body = await api.answered("GET", "/v1/products")
        skus = []
        for product in body["products"][:count]:
            sku = product["skus"][0]["sku"]
            _, rules = await api.answered("GET", f"/v1/skus/{sku}")
            tick = rules["tick_size_cents"]
            fair = max(product["retail_price_cents"] // tick, 20) * tick
            skus.append((sku, fair, tick, rules["min_price_cents"], rules["max_price_cents"]))
        return cls(skus)

    def order(self, rng: Random, key: str) -> dict[str, Any]:
        sku, fair, tick, low, high = rng.choice(self.skus)
        side = rng.choice(("bid", "ask"))
        sign = 1 if side == "bid" else -1
        body: dict[str, Any] = {"sku": sku, "side": side, "quantity": rng.randint(1, 3),
                                "client_order_id": key}
        if rng.random() < 0.1:  # Buy Now / Sell Now, with price protection
            body.update(type="market", price_cents=fair + sign * 10 * tick)
        else:
            cross = rng.random() < 0.35
            ticks = rng.randint(0, 4) if cross else -rng.randint(1, 12)
            body.update(type="limit", price_cents=fair + sign * ticks * tick,
                        time_in_force="ioc" if rng.random() < 0.1 else "gtc")
        body["price_cents"] = min(max(body["price_cents"], low), high)
        return body


class Trader:
    """One account's steady order flow; see the module docstring."""

    def __init__(self, n: int, key: str, api: Api, ledger: Ledger, market: Market,
                 rng: Random, pause: float) -> None:
        self.n = n
        self.key = key
        self.api = api
        self.ledger = ledger
        self.market = market
        self.rng = rng
        self.pause = pause
        self.resting: deque[int] = deque()
        self.sent = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.sent += 1
            await self.place(self.market.order(self.rng, f"chaos-{self.n}-{self.sent}"))
            if len(self.resting) > MAX_RESTING:
                await self.cancel(self.resting.popleft())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.rng.uniform(0, 2 * self.pause))

    async def place(self, body: dict[str, Any]) -> None:
        stats = self.ledger.stats
        attempt = 0
        while True:
            stats["requests"] += 1
            try:
                status, answer = await self.api.call("POST", "/v1/orders", self.key, body)
            except Unanswered:
                stats["unanswered"] += 1
            else:
                if status in (200, 201):
                    order = self.ledger.acknowledge(self.n, body, status, answer)
                    if order["status"] == "open":
                        self.resting.append(order["id"])
                    return
                if status < 500 and status != 429:
                    self.ledger.refused[str((answer or {}).get("code", status))] += 1
                    return
                stats[f"http_{status}"] += 1
            attempt += 1
            stats["retries"] += 1
            await asyncio.sleep(min(1.0, 0.02 * 2 ** min(attempt, 6)))

    async def cancel(self, oid: int) -> None:
        """Cancel a resting order once; only an answered 200 counts."""
        with contextlib.suppress(Unanswered):
            status, answer = await self.api.call("DELETE", f"/v1/orders/{oid}", self.key)
            if status == 200:
                if answer["order"]["status"] != "canceled":
                    self.ledger.conflicts.append(f"cancel of {oid} answered {answer['order']}")
                self.ledger.canceled.add(oid)
            elif status == 409:
                self.ledger.stats["cancel_not_open"] += 1


async def _pages(api: Api, path: str, key: str, name: str) -> list[dict[str, Any]]:
    """Every row of a paged list, newest first, following ``next_before``."""
    rows: list[dict[str, Any]] = []
    before: int | None = None
    while True:
        query = f"?limit={PAGE}" + (f"&before={before}" if before else "")
        status, body = await api.answered("GET", path + query, key)
        if status != 200:
            raise RuntimeError(f"GET {path}{query}: {status} {body}")
        rows += body[name]
        before = body.get("next_before")
        if not before:
            return rows


def _compare(want: set[int], rows: list[int]) -> tuple[int, int, int]:
    """(missing, duplicates, extra) of the ids ``rows`` against ``want``."""
    seen = Counter(rows)
    return (len(want - seen.keys()), sum(n - 1 for n in seen.values() if n > 1),
            len(seen.keys() - want))


async def verify(api: Api, keys: list[str], admin_key: str, ledger: Ledger,
                 database_url: str) -> dict[str, Any]:
    """Read everything back; counts of what is missing, repeated or different."""
    checks: Counter[str] = Counter()
    filled: Counter[int] = Counter()
    for trade_id, (_, _, qty, buy, sell) in ledger.trades.items():
        filled[buy] += qty
        filled[sell] += qty
        checks["trades_with_unknown_order"] += buy not in ledger.orders or sell not in ledger.orders
        del trade_id
    # 1. Each order by id.
    gate = asyncio.Semaphore(16)
    status_now: dict[int, str] = {}

    async def one(oid: int, acked: Acked) -> None:
        async with gate:
            status, body = await api.answered("GET", f"/v1/orders/{oid}", keys[acked.account])
        if status != 200:
            checks["orders_missing_by_id"] += 1
            return
        order = body["order"]
        status_now[oid] = order["status"]
        same = (order["client_order_id"], order["sku"], order["side"], order["quantity"]) == (
            acked.client_order_id, acked.sku, acked.side, acked.quantity)
        checks["orders_different_by_id"] += not same
        checks["orders_filled_quantity_wrong"] += order["filled_quantity"] != filled[oid]
        checks["cancels_lost"] += oid in ledger.canceled and order["status"] != "canceled"

    await asyncio.gather(*(one(oid, acked) for oid, acked in ledger.orders.items()))
    # 2. Each account's orders and fills, paged.
    listed_trades: dict[int, list[int]] = {}
    for n, key in enumerate(keys):
        mine = {oid for oid, a in ledger.orders.items() if a.account == n}
        rows = [o["id"] for o in await _pages(api, "/v1/orders", key, "orders")]
        missing, dups, extra = _compare(mine, rows)
        checks["orders_missing_in_list"] += missing
        checks["orders_duplicated_in_list"] += dups
        checks["orders_unacknowledged_in_list"] += extra
        listed_trades[n] = [t["id"] for t in await _pages(api, "/v1/trades", key, "trades")]
    for n in listed_trades:
        mine = {tid for tid, t in ledger.trades.items()
                if n in (ledger.orders[t[3]].account if t[3] in ledger.orders else None,
                         ledger.orders[t[4]].account if t[4] in ledger.orders else None)}
        missing, dups, extra = _compare(mine, listed_trades[n])
        checks["fills_missing_in_account_list"] += missing
        checks["fills_duplicated_in_account_list"] += dups
        checks["fills_unacknowledged_in_account_list"] += extra
    # 3. Every trade, paged (the admin sees all).
    every = await _pages(api, "/v1/trades", admin_key, "trades")
    missing, dups, extra = _compare(set(ledger.trades), [t["id"] for t in every])
    checks["trades_missing_in_list"] += missing
    checks["trades_duplicated_in_list"] += dups
    checks["trades_unacknowledged_in_list"] += extra
    for t in every:
        want = ledger.trades.get(t["id"])
        got = (t["sku"], t["price_cents"], t["quantity"], t["buy_order_id"], t["sell_order_id"])
        checks["trades_different_in_list"] += want is not None and want != got
    # 4. The store itself.
    store = await asyncio.to_thread(_store_rows, database_url)
    missing, dups, extra = _compare(set(ledger.trades), [r[0] for r in store["trades"]])
    checks["trades_missing_in_store"] += missing
    checks["trades_duplicated_in_store"] += dups
    checks["trades_unacknowledged_in_store"] += extra
    for row in store["trades"]:
        want = ledger.trades.get(row[0])
        checks["trades_different_in_store"] += want is not None and want != tuple(row[1:])
    # The store holds orders once they end; an open order is the engine's (and
    # the journal's): its row arrives when it is filled, canceled or expired.
    ended = {oid for oid in ledger.orders if status_now.get(oid) != "open"}
    missing, dups, extra = _compare(ended, [r[0] for r in store["orders"]])
    checks["orders_missing_in_store"] += missing
    checks["orders_duplicated_in_store"] += dups
    checks["orders_unacknowledged_in_store"] += extra
    for oid, filled_qty, status in store["orders"]:
        if oid in ledger.orders:
            checks["orders_filled_quantity_wrong_in_store"] += filled_qty != filled[oid]
            checks["orders_status_different_in_store"] += status != status_now.get(oid)
    checks["conflicting_answers"] += len(ledger.conflicts)
    return {"checks": dict(sorted(checks.items())),
            "store_trades": len(store["trades"]), "store_orders_ended": len(store["orders"]),
            "orders_open_at_end": len(ledger.orders) - len(ended),
            "missing": sum(v for k, v in checks.items() if "missing" in k or "lost" in k),
            "duplicates": sum(v for k, v in checks.items() if "duplicated" in k),
            "unacknowledged": sum(v for k, v in checks.items() if "unacknowledged" in k),
            "different": sum(v for k, v in checks.items()
                             if "different" in k or "wrong" in k or "conflicting" in k
                             or "unknown" in k)}


def _store_rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            trades = conn.exec_driver_sql(
                "SELECT id, sku, price_cents, quantity, buy_order_id, sell_order_id FROM trades"
            ).all()
            orders = conn.exec_driver_sql("SELECT id, filled_quantity, status FROM orders").all()
        return {"trades": [tuple(r) for r in trades], "orders": [tuple(r) for r in orders]}
    finally:
        engine.dispose()
