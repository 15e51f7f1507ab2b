"""Chaos soak (issue 17): random faults under load, then proof that nothing acknowledged is lost.

Usage::

    python -m bench chaos [--minutes 5] [--seed 1] [--store postgresql|sqlite]
                          [--clients 4] [--rate 60] [--keep]

Not part of the default ``python -m bench`` run: ``make chaos`` runs it for
several minutes, and ``tests/bench/test_chaos.py`` runs a short one in
``make test``.

A real ``exchange serve`` process (:mod:`bench.chaosserve`: the same command
with a wall clock the soak can step) on free ports, fsync on, its data
directory on a 512 MiB tmpfs when one can be mounted (as root), its trade
store on a private PostgreSQL cluster made with ``initdb``/``pg_ctl`` in a
temporary directory (default) or SQLite in the data directory
(``--store sqlite``). ``--clients`` traders (real HTTP, about ``--rate``
orders/s in all) place limit, IOC and market orders on a few SKUs, each with
a ``client_order_id``, sending it again after any failure until it is
answered, and cancel their oldest resting orders
(:mod:`bench.chaosload`). Meanwhile, one at a time, every kind of fault in a
random order (:data:`bench.chaosfaults.KINDS`): kill -9 of the server then a
start, SIGTERM then a start, kill -9 / SIGSTOP+SIGCONT of the store writer (a
short stop, and one past the supervisor's 30 s stall limit), PostgreSQL
stopped and started (SQLite: ``BEGIN EXCLUSIVE`` held by another process),
PostgreSQL down across a server restart, the data directory's disk filled to
the last byte then freed, the wall clock stepped hours forward and back;
each held for a few seconds under load, then a pause of a few seconds.

Then the proof: the traders finish what they sent, the server is stopped
with SIGTERM (exit 0) and started again, the store catches up (its lag
metric 0), and every acknowledged order is read back by id
(``GET /v1/orders/{id}``: same key, SKU, side, quantity; a filled quantity
equal to its trades; an acknowledged cancel still canceled) and in its
account's paged ``GET /v1/orders``; every trade in the paged ``GET
/v1/trades`` of an admin, of its buyer and of its seller; and the store
queried directly: each acknowledged trade and order exactly once, the same
values, nothing else. Prints one JSON line (key ``chaos``) with the counts
and exits 1 on any loss, repeat or difference.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from random import Random
from typing import IO, Any

from .chaosfaults import KINDS, Faults, Venue, VenueDown, tmp_root
from .chaosload import Api, Ledger, Market, Trader, verify

__all__ = ["main", "soak"]

WARMUP = 3.0
SKUS = 6


async def soak(minutes: float, seed: int, store: str, root: Path, log: IO[str], *,
               clients: int = 4, rate: float = 60.0, calm: float = 3.0,
               kinds: Sequence[str] = KINDS, once: bool = False, hold: float = 1.0,
               keep: bool = False) -> dict[str, Any]:
    """Run one soak in ``root``; the summary (see the module docstring)."""
    rng = Random(seed)
    venue = Venue(root, store, log)
    ledger = Ledger()
    faults = Faults(venue, rng, kinds, once=once, hold=hold)
    result: dict[str, Any] = {"minutes": minutes, "seed": seed, "store": store,
                              "clients": clients}
    started = time.monotonic()
    api: Api | None = None
    try:
        await venue.setup()
        api = Api(venue)
        keys = []
        for n in range(clients):
            _, created = await api.answered("POST", "/v1/accounts", body={"name": f"chaos{n}"})
            keys.append(created["api_key"])
        market = await Market.load(api, SKUS)
        traders = [Trader(n, key, api, ledger, market, Random(rng.random()), clients / rate)
                   for n, key in enumerate(keys)]
        stop = asyncio.Event()
        tasks = [asyncio.create_task(t.run(stop)) for t in traders]
        deadline = time.monotonic() + minutes * 60
        try:
            await asyncio.sleep(WARMUP)
            while (kind := faults.next_kind(deadline - time.monotonic())) is not None:
                print(f"--- fault {kind} ({time.strftime('%H:%M:%S')})", file=log, flush=True)
                await faults.inject(kind)
                await asyncio.sleep(rng.uniform(0.5 * calm, 1.5 * calm))
            await asyncio.sleep(max(0.0, deadline - time.monotonic()))
        finally:
            stop.set()
            await asyncio.gather(*tasks)
        result["load_seconds"] = round(time.monotonic() - started, 1)
        # A clean restart, the store caught up, then the proof.
        await venue.stop_clean()
        await venue.start()
        metrics = await venue.caught_up()
        result.update(await verify(api, keys, venue.admin_key, ledger, venue.store_url()))
        result["store_last_seq"] = int(metrics.get("exchange_store_last_seq", 0))
    except VenueDown as exc:
        result["venue_down"] = str(exc)
    finally:
        if api is not None:
            await api.close()
        proven = "checks" in result and not any(result["checks"].values())
        await venue.close(keep=keep or not proven)
    stats = ledger.stats
    result.update(
        orders_acked=len(ledger.orders),
        orders_acked_on_repeat=stats["orders_acked_200_repeat"],
        trades=len(ledger.trades),
        cancels_acked=len(ledger.canceled),
        refused=dict(ledger.refused),
        requests=stats["requests"],
        retries=stats["retries"],
        unanswered=stats["unanswered"],
        answered_5xx={k: v for k, v in stats.items() if k.startswith("http_")},
        max_trade_time_skew_s=round(ledger.max_time_skew_s, 3),
        clock_steps_injected=2 * (faults.done["clock_forward"] + faults.done["clock_backward"]),
        clock_steps_seen=faults.clock_steps_seen,
        server_starts=venue.starts,
        server_exits=dict(venue.exit_codes),
        orphans_after_exit=venue.orphans,
        conflicts=ledger.conflicts[:10],
        seconds=round(time.monotonic() - started, 1),
        **faults.summary(),
    )
    result["ok"] = ok(result)
    return result


def ok(result: dict[str, Any]) -> bool:
    """No loss, repeat or difference; the venue always came back; time never jumped."""
    checks = result.get("checks", {})
    return (
        "venue_down" not in result
        and "checks" in result
        and result["orders_acked"] > 0
        and result["trades"] > 0
        and all(v == 0 for v in checks.values())
        and result["max_trade_time_skew_s"] < 60
        and result["clock_steps_seen"] >= result["clock_steps_injected"]
        and "http_500" not in result["answered_5xx"]
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the soak; see the module docstring. Exit status 1 on any loss."""
    parser = argparse.ArgumentParser(prog="python -m bench chaos")
    parser.add_argument("--minutes", type=float, default=5.0, help="how long the load runs")
    parser.add_argument("--seed", type=int, default=1, help="the faults' and orders' seed")
    parser.add_argument("--store", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--clients", type=int, default=4, help="traders (one account each)")
    parser.add_argument("--rate", type=float, default=60.0, help="orders/s in all, about")
    parser.add_argument("--calm", type=float, default=3.0,
                        help="mean seconds without a fault between two faults")
    parser.add_argument("--kinds", default=",".join(KINDS),
                        help="comma-separated fault kinds to inject (default: all)")
    parser.add_argument("--once", action="store_true",
                        help="each kind once (however long that takes; --minutes at least)")
    parser.add_argument("--hold", type=float, default=1.0,
                        help="scale of how long each fault is held (seconds: 2 to 10)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the soak's directory (server log, data) even when all is well")
    args = parser.parse_args(list(argv) if argv is not None else None)
    kinds = [k for k in args.kinds.split(",") if k]
    if unknown := sorted(set(kinds) - set(KINDS)):
        parser.error(f"unknown fault kinds {unknown}; known: {', '.join(KINDS)}")
    root = tmp_root()
    log_path = root / "soak.log"
    with open(log_path, "a", buffering=1) as log:
        result = asyncio.run(soak(args.minutes, args.seed, args.store, root, log,
                                  clients=args.clients, rate=args.rate, calm=args.calm,
                                  kinds=kinds, once=args.once, hold=args.hold,
                                  keep=args.keep))
    if result["ok"] and not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    else:
        result["log"] = str(log_path)
    print(json.dumps({"chaos": result}), flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
