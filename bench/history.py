"""Long-run benchmark (issue 13): memory, snapshot and restart at any age.

Usage::

    python -m bench history [--orders 1000000,5000000] [--resting 200000]
                            [--fsync] [--dir PATH] [--keep]

Part of ``make bench`` (the last of ``python -m bench``; minutes to hours at
the default sizes), not of ``make test``. A real :class:`exchange.venue.Venue` (journal
on, SQLite trade store written by its child process, the demo catalog) takes
orders in batches of 100 (``place_orders``, one group commit each) from 40
traders on every demo SKU: about 80% limit orders resting away from the
spread (bids below retail, asks above it) and 20% market orders ("Buy Now" /
"Sell Now") that trade against them. Once more than ``--resting`` orders
rest (the engine's count), the oldest are canceled (some of them filled
already: the next batch cancels more), so the live book stays near that size
while history grows without bound. Trades get a ship deadline of a few
milliseconds, so the venue's Tick cancels them shortly after the match: their
settlement ends, as it would after days of shipping and authenticating.

At each count in ``--orders`` the venue is closed (a final snapshot), and
then measured: the RSS this process had just before closing (after a full
collection), the newest snapshot's size, and restart-to-ready (a fresh
process that opens the venue on the data dir, timed from before the open to
``ready``; the interpreter's start and its imports, which cost the same at
any age, are not counted there, but are in ``restart_process_seconds``). The venue is then
opened again and the run goes on.

Goal (issue 13): RSS and snapshot size grow less than 10% between 1M and 5M
orders; restart to ready under 3 s at 5M.

Prints one JSON object per measurement (key ``history``) and a table.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

from exchange.errors import ExchangeError
from exchange.venue import Venue, VenueConfig

__all__ = ["main"]

BATCH = 100
TRADERS = 40
"""Enough for ~200k resting orders under the per-account limit of 10,000 open."""
SHIP_DEADLINE_HOURS = 0.005 / 3600  # 5 ms: settlement ends at the next Tick


def _config(data_dir: Path, fsync: bool) -> VenueConfig:
    return VenueConfig(
        data_dir=data_dir,
        fsync=fsync,
        ship_deadline_hours=SHIP_DEADLINE_HOURS,
        tick_interval=0.05,
        demo_catalog=True,
    )


class _Market:
    """The order flow: bodies for ``place_orders`` and which orders rest."""

    def __init__(self, venue: Venue, seed: int) -> None:
        self.rng = random.Random(seed)
        self.skus = [(s, venue.sku_rules(s)) for s in venue.skus()]
        self.resting: collections.deque[tuple[int, int]] = collections.deque()

    def bodies(self) -> list[dict[str, Any]]:
        rng = self.rng
        out = []
        for _ in range(BATCH):
            sku, rules = rng.choice(self.skus)
            tick = rules["tick_size_cents"]
            retail = max(rules["retail_price_cents"], 20 * tick)
            side = "bid" if rng.random() < 0.5 else "ask"
            if rng.random() < 0.8:
                ticks = rng.randint(1, retail // (2 * tick))
                price = retail - ticks * tick if side == "bid" else retail + ticks * tick
                price = min(max(price, rules["min_price_cents"]), rules["max_price_cents"])
                out.append(
                    {"sku": sku, "side": side, "type": "limit", "price_cents": price, "quantity": 1}
                )
            else:
                protect = rules["max_price_cents"] if side == "bid" else rules["min_price_cents"]
                out.append(
                    {
                        "sku": sku,
                        "side": side,
                        "type": "market",
                        "price_cents": protect,
                        "quantity": 1,
                    }
                )
        return out


async def _drive(
    venue: Venue, market: _Market, accounts: list[Any], orders: int, resting_target: int
) -> int:
    """Place ``orders`` orders; returns how many were placed."""
    placed = 0
    turn = 0
    while placed < orders:
        who = turn % len(accounts)
        turn += 1
        results = await venue.place_orders(accounts[who], market.bodies())
        # Only orders the venue took count (a refusal is never journaled).
        placed += sum(1 for item in results if item.get("order") is not None)
        for item in results:
            order = item.get("order")
            if order is not None and order["status"] == "open":
                market.resting.append((who, order["id"]))
        # The engine's count: orders the deque holds may have filled since.
        excess = min(venue.engine.resting_orders() - resting_target, len(market.resting))
        if excess > 0:
            victims = [market.resting.popleft() for _ in range(excess)]
            calls = [venue.cancel_order(accounts[a], oid) for a, oid in victims]
            for result in await asyncio.gather(*calls, return_exceptions=True):
                if isinstance(result, BaseException) and not isinstance(result, ExchangeError):
                    raise result
    return placed


_RESTART = """
import asyncio, sys, time
from pathlib import Path
from bench.history import _config
from exchange.venue import Venue
import exchange.analytics, exchange.store  # imports cost the same at any age: not timed
async def main():
    t0 = time.perf_counter()
    venue = await Venue.open(_config(Path(sys.argv[1]), sys.argv[2] == "1"))
    ready = time.perf_counter() - t0
    await venue.close()
    print(ready)
asyncio.run(main())
"""


def _restart_seconds(data_dir: Path, fsync: bool) -> tuple[float, float]:
    """(open to ready, whole process) of a fresh process on ``data_dir``."""
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", _RESTART, str(data_dir), "1" if fsync else "0"],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    return float(out.stdout.strip().splitlines()[-1]), time.perf_counter() - t0


def _snapshot_bytes(data_dir: Path) -> int:
    snaps = sorted((data_dir / "snapshots").glob("*"))
    return snaps[-1].stat().st_size if snaps else 0


async def _run(marks: list[int], resting: int, fsync: bool, data_dir: Path) -> list[dict[str, Any]]:
    cfg = _config(data_dir, fsync)
    venue = await Venue.open(cfg)
    accounts = []
    for i in range(TRADERS):
        created = await venue.create_account(f"bench trader {i}")
        accounts.append(venue.authenticate(created["api_key"]))
    market = _Market(venue, seed=13)
    done = 0
    results = []
    t0 = time.perf_counter()
    for mark in marks:
        done += await _drive(venue, market, accounts, mark - done, resting)
        await venue.flush_store()
        gc.collect()
        rss = psutil.Process().memory_info().rss
        live = venue.engine.resting_orders()
        elapsed = time.perf_counter() - t0
        await venue.close()
        ready, process = _restart_seconds(data_dir, fsync)
        row = {
            "orders": done,
            "resting": live,
            "trades": venue.engine.trade_count(),
            "rss_bytes": rss,
            "snapshot_bytes": _snapshot_bytes(data_dir),
            "restart_seconds": round(ready, 3),
            "restart_process_seconds": round(process, 3),
            "orders_per_s": round(done / elapsed),
        }
        print(json.dumps({"history": row}), flush=True)
        results.append(row)
        venue = await Venue.open(cfg)
        accounts = [venue.account(a.id) for a in accounts]
        t0 = time.perf_counter() - elapsed
    await venue.close()
    return results


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark; see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m bench history")
    parser.add_argument(
        "--orders", default="1000000,5000000", help="comma-separated order counts to measure at"
    )
    parser.add_argument("--resting", type=int, default=200_000)
    parser.add_argument("--fsync", action="store_true", help="fsync the journal (slower)")
    parser.add_argument("--dir", type=Path, default=None, help="data dir (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the data dir")
    args = parser.parse_args(list(argv) if argv is not None else None)
    marks = sorted(int(x.replace("_", "")) for x in args.orders.split(","))
    data_dir = args.dir or Path(tempfile.mkdtemp(prefix="bench-history-"))
    try:
        rows = asyncio.run(_run(marks, args.resting, args.fsync, data_dir))
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(data_dir, ignore_errors=True)
    print(
        f"{'orders':>10} {'resting':>8} {'trades':>9} {'RSS MB':>8} {'snap MB':>8} "
        f"{'restart s':>9} {'orders/s':>9}"
    )
    for r in rows:
        print(
            f"{r['orders']:>10} {r['resting']:>8} {r['trades']:>9} "
            f"{r['rss_bytes'] / 2**20:>8.1f} {r['snapshot_bytes'] / 2**20:>8.1f} "
            f"{r['restart_seconds']:>9.3f} {r['orders_per_s']:>9}"
        )
    if len(rows) >= 2:
        first, last = rows[0], rows[-1]
        growth = {
            "rss_growth_pct": round(100 * (last["rss_bytes"] / first["rss_bytes"] - 1), 1),
            "snapshot_growth_pct": round(
                100 * (last["snapshot_bytes"] / max(first["snapshot_bytes"], 1) - 1), 1
            ),
            "restart_seconds_last": last["restart_seconds"],
        }
        print(json.dumps({"history_growth": growth}))
