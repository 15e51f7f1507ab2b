"""The engine benchmark: commands/s with the journal off and on, and recovery time.

Usage::

    python -m bench engine [--events N] [--group G] [--recovery-events M] [--seed S]
                           [--dir PATH]

The book benchmark's workload (:mod:`bench.workload`) becomes venue commands:
each SKU index a product ``BENCH<i>`` with one size, each owner an account,
limit and market orders :class:`exchange.commands.PlaceOrder`, cancels
:class:`exchange.commands.CancelOrder` by the owning account. The engine
numbers orders in placement order, like the workload, so a cancel names the
same order id. Commands are built before timing; each timed loop runs the
venue's path for a command: ``Engine.validate`` then ``Engine.apply`` (a
command refused by validation, e.g. a cancel of an order that self-trade
prevention already canceled, is counted and not journaled), and with the
journal on also ``encode_record`` and the group's ``Journal.append`` and
``Journal.sync``.

Modes (same commands, fresh engine each):

- ``journal off``: validate + apply only.
- ``journal, no fsync``: + encode + one ``append`` per group of G commands.
- ``journal, fsync, group G``: + ``sync()`` (fdatasync) per group, run in a
  worker thread while the next group is applied, as the venue's committer
  does (the next group waits for the previous sync before its append).
- ``journal, fsync, group 1``: one fsync per command, on a short prefix
  only (it is slow), to show what group commit buys.

Recovery: a journal of M commands (after the setup commands) is written
once, then timed: ``Journal.open()`` (validates every frame) + ``replay`` +
``decode_record`` + ``Engine.apply`` of every record into a fresh engine,
no snapshot. Throughput uses the wall clock (fsync waits must count); the
table also gives commands per second of this process's CPU time, which a
busy shared machine disturbs less. The garbage collector is paused in timed
loops, as in the book benchmark.

Prints one JSON object first (``engine_commands_per_s``,
``journal_fsync_commands_per_s``, ``recovery_seconds``, ...), then a table.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from exchange.commands import (
    CancelOrder,
    Command,
    CreateAccount,
    CreateProduct,
    PlaceOrder,
    decode_record,
    encode_record,
)
from exchange.engine import Engine
from exchange.errors import ExchangeError
from exchange.journal import Journal

from .workload import CANCEL, LIMIT, Workload, generate

__all__ = ["build_commands", "main", "recover", "run_engine"]

Step = tuple[int, Command]  # (ts, command)
SETUP_TS = 1_767_225_600 * 1_000_000_000 - 1_000_000_000


def _sku(index: int) -> str:
    return f"BENCH{index:03d}-10"


def build_commands(workload: Workload) -> tuple[list[Step], list[Step]]:
    """``(setup, steps)``: products and accounts first, then the workload.

    Every owner gets an account ``acc_<n>`` in order of first appearance (the
    ids :meth:`Engine.next_account_id` hands out on a fresh engine).
    """
    setup: list[Step] = []
    for i in range(workload.n_skus):
        setup.append(
            (
                SETUP_TS,
                CreateProduct(
                    style=f"BENCH{i:03d}",
                    name=f"Bench product {i}",
                    brand="Bench",
                    category="sneakers",
                    retail_price_cents=20_000,
                    release_date="2025-01-01",
                    sizes=("10",),
                    tick_size_cents=100,
                    min_price_cents=100,
                    max_price_cents=10_000_000,
                    max_quantity=100,
                ),
            )
        )
    accounts: dict[str, str] = {}
    owner_of: dict[int, str] = {}
    steps: list[Step] = []
    for kind, sku, order_id, owner, side, price, qty, expires_at, now in workload.events:
        if kind == CANCEL:
            steps.append((now, CancelOrder(owner_of.pop(order_id), order_id)))
            continue
        account = accounts.get(owner)
        if account is None:
            account = accounts[owner] = f"acc_{len(accounts) + 1}"
            key_hash = hashlib.sha256(owner.encode()).hexdigest()
            setup.append((SETUP_TS, CreateAccount(account, owner, "trader", key_hash)))
        owner_of[order_id] = account
        steps.append(
            (
                now,
                PlaceOrder(
                    account_id=account,
                    client_order_id=None,
                    sku=_sku(sku),
                    side=side,
                    order_type="limit" if kind == LIMIT else "market",
                    price_cents=price,
                    quantity=qty,
                    expires_at=expires_at if kind == LIMIT else None,
                ),
            )
        )
    return setup, steps


def _fresh_engine(setup: Sequence[Step]) -> Engine:
    engine = Engine()
    for seq, (ts, cmd) in enumerate(setup, start=1):
        engine.validate(cmd, ts)
        engine.apply(seq, ts, cmd)
    return engine


def run_engine(
    setup: Sequence[Step],
    steps: Sequence[Step],
    *,
    journal_dir: Path | None = None,
    fsync: bool = False,
    group: int = 100,
) -> dict[str, Any]:
    """Run ``steps`` through a fresh engine (and journal); return the figures."""
    engine = _fresh_engine(setup)
    journal: Journal | None = None
    if journal_dir is not None:
        shutil.rmtree(journal_dir, ignore_errors=True)
        journal = Journal(journal_dir, fsync=fsync)
        journal.open()
        journal.append([(s, encode_record(ts, c)) for s, (ts, c) in enumerate(setup, start=1)])
        journal.sync()
    validate = engine.validate
    apply = engine.apply
    seq = len(setup)
    refused = 0
    pending: list[tuple[int, bytes]] = []
    pool = ThreadPoolExecutor(max_workers=1)
    in_flight: Future[None] | None = None
    fsync_seconds: list[float] = []
    gc.collect()
    gc.disable()
    c0 = time.process_time()
    t0 = time.perf_counter()
    try:
        for ts, cmd in steps:
            try:
                validate(cmd, ts)
            except ExchangeError:
                refused += 1
                continue
            seq += 1
            apply(seq, ts, cmd)
            if journal is None:
                continue
            pending.append((seq, encode_record(ts, cmd)))
            if len(pending) >= group:
                if in_flight is not None:
                    in_flight.result()
                    fsync_seconds.append(journal.last_fsync_seconds)
                journal.append(pending)
                pending = []
                in_flight = pool.submit(journal.sync) if fsync else None
        if journal is not None:
            if in_flight is not None:
                in_flight.result()
                fsync_seconds.append(journal.last_fsync_seconds)
            journal.append(pending)
            journal.sync()
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - c0
    finally:
        gc.enable()
        pool.shutdown()
    if journal is not None:
        journal.close()
    done = len(steps) - refused
    fsync_seconds.sort()
    return {
        "commands": done,
        "refused": refused,
        "seconds": elapsed,
        "commands_per_s": done / elapsed,
        "cpu_commands_per_s": done / cpu if cpu else None,
        "trades": engine.trade_count(),
        "last_seq": seq,
        "fsync_p50_ms": fsync_seconds[len(fsync_seconds) // 2] * 1e3 if fsync_seconds else None,
        "fsync_p99_ms": (
            fsync_seconds[int(len(fsync_seconds) * 0.99)] * 1e3 if fsync_seconds else None
        ),
    }


def recover(journal_dir: Path) -> dict[str, Any]:
    """Time open + replay + decode + apply of a whole journal, no snapshot.

    The engine replays as the venue's recovery does: not live (no answers,
    no market-data events) and with the store already holding every record.
    """
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        journal = Journal(journal_dir, fsync=False)
        last_seq = journal.open()
        t_open = time.perf_counter() - t0
        engine = Engine()
        engine.live = False
        engine.store_ops_after = last_seq
        apply = engine.apply
        t1 = time.perf_counter()
        for seq, payload in journal.replay():
            ts, cmd = decode_record(payload)
            apply(seq, ts, cmd)
        t_apply = time.perf_counter() - t1
        elapsed = time.perf_counter() - t0
        journal.close()
    finally:
        gc.enable()
    size = sum(p.stat().st_size for p in journal_dir.glob("*.log"))
    return {
        "records": last_seq,
        "journal_bytes": size,
        "seconds": elapsed,
        "open_seconds": t_open,
        "replay_apply_seconds": t_apply,
        "records_per_s": last_seq / elapsed,
        "trades": engine.trade_count(),
    }


def _row(name: str, r: dict[str, Any]) -> str:
    fsync = ""
    if r.get("fsync_p50_ms") is not None:
        fsync = f"fsync p50 {r['fsync_p50_ms']:.2f} ms, p99 {r['fsync_p99_ms']:.2f} ms"
    return (
        f"{name:<28} {r['commands']:>10,} {r['commands_per_s']:>14,.0f} "
        f"{r['cpu_commands_per_s']:>14,.0f} {r['seconds']:>9.2f}  {fsync}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Run the engine benchmark and print JSON, then a table."""
    parser = argparse.ArgumentParser(
        prog="python -m bench engine", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--events", type=int, default=200_000, help="commands per throughput run")
    parser.add_argument("--group", type=int, default=100, help="commands per group commit")
    parser.add_argument("--single-events", type=int, default=2_000,
                        help="commands of the one-fsync-per-command run")
    parser.add_argument("--recovery-events", type=int, default=1_000_000,
                        help="journaled commands to recover (0 skips)")
    parser.add_argument("--seed", type=int, default=20260101)
    parser.add_argument("--switch-interval", type=float, default=None,
                        help="sys.setswitchinterval for the run (the GIL hand-off delay that "
                             "decides how soon the fsync thread starts; Python's default 0.005)")
    parser.add_argument("--dir", type=Path, default=None,
                        help="where to put journals (default: a temporary dir in the cwd's fs)")
    args = parser.parse_args(list(argv) if argv is not None else sys.argv[1:])
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)

    base = Path(tempfile.mkdtemp(prefix="bench-engine-", dir=args.dir or Path.cwd()))
    try:
        n_work = max(args.events, args.recovery_events)
        t0 = time.perf_counter()
        workload = generate(n_work, seed=args.seed)
        setup, steps = build_commands(workload)
        del workload
        build_s = time.perf_counter() - t0
        head = steps[: args.events]

        off = run_engine(setup, head)
        nofsync = run_engine(setup, head, journal_dir=base / "nofsync", group=args.group)
        fsynced = run_engine(setup, head, journal_dir=base / "fsync", fsync=True, group=args.group)
        single = run_engine(
            setup, steps[: args.single_events], journal_dir=base / "single", fsync=True, group=1
        )
        shutil.rmtree(base / "nofsync", ignore_errors=True)
        shutil.rmtree(base / "single", ignore_errors=True)

        rec: dict[str, Any] | None = None
        if args.recovery_events:
            rec_dir = base / "fsync"
            if args.recovery_events != args.events:
                # Written once, untimed for our purposes (no fsync per group).
                run_engine(setup, steps[: args.recovery_events], journal_dir=rec_dir,
                           group=10_000)
            rec = recover(rec_dir)

        result: dict[str, Any] = {
            "bench": "engine",
            "workload_events": len(head),
            "group": args.group,
            "switch_interval_s": sys.getswitchinterval(),
            "engine_commands_per_s": round(off["commands_per_s"]),
            "engine_cpu_commands_per_s": round(off["cpu_commands_per_s"]),
            "journal_fsync_cpu_commands_per_s": round(fsynced["cpu_commands_per_s"]),
            "journal_nofsync_commands_per_s": round(nofsync["commands_per_s"]),
            "journal_fsync_commands_per_s": round(fsynced["commands_per_s"]),
            "journal_fsync_group1_commands_per_s": round(single["commands_per_s"]),
            "fsync_p50_ms": fsynced["fsync_p50_ms"],
            "fsync_p99_ms": fsynced["fsync_p99_ms"],
            "refused": off["refused"],
            "trades": off["trades"],
            "build_seconds": round(build_s, 2),
        }
        if rec is not None:
            result.update(
                recovery_records=rec["records"],
                recovery_seconds=round(rec["seconds"], 2),
                recovery_open_seconds=round(rec["open_seconds"], 2),
                recovery_records_per_s=round(rec["records_per_s"]),
                recovery_journal_mb=round(rec["journal_bytes"] / 1e6, 1),
            )
        print(json.dumps(result), flush=True)
        print(f"{'mode':<28} {'commands':>10} {'commands/s':>14} {'per CPU s':>14} "
              f"{'seconds':>9}")
        print(_row("journal off", off))
        print(_row("journal, no fsync", nofsync))
        print(_row(f"journal, fsync, group {args.group}", fsynced))
        print(_row("journal, fsync, group 1", single))
        if rec is not None:
            print(
                f"recovery: {rec['records']:,} records ({rec['journal_bytes'] / 1e6:.0f} MB) in "
                f"{rec['seconds']:.2f} s (open/validate {rec['open_seconds']:.2f} s, replay+apply "
                f"{rec['replay_apply_seconds']:.2f} s) = {rec['records_per_s']:,.0f} records/s"
            )
        print(f"(workload built in {build_s:.1f} s; {off['refused']} commands refused by "
              f"validation; {off['trades']:,} trades; pid {os.getpid()})")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
