"""The order book benchmark: our book against the bare reference, same events.

Usage::

    python -m bench book [--events N] [--repeats R] [--seed S]

One workload (:mod:`bench.workload`) goes through our
:class:`orderbook.OrderBook` and through the bare reference of
:mod:`bench.bare` (../shared/DESIGN.md: two ``SortedDict``s of ``deque``s and
an id dict per SKU, lazy cancel, no events, no checks), in the same process:

- ``book_vs_bare_ratio`` (the headline, measured the way other books are
  measured side by side): our book, with each command (``PlaceOrder`` /
  ``CancelOrder``) built from the raw workload tuple *inside* the timed
  loop, against the bare loop written inline over the same raw tuples
  (:func:`bench.bare.run_bare`), garbage collection on for both (as in a
  running venue). ``events_per_s_built_gc_on`` and
  ``bare_loop_events_per_s_gc_on`` are its two sides.
- ``prebuilt_gc_off_vs_bare_book_ratio`` (the former headline, named for
  what it measures): commands built before timing, GC paused, against the
  bare *book* (:class:`bench.bare.BareCommandBook`), one object per SKU,
  called exactly as ours is: the same prebuilt command tuples, one
  bound-method call per command. ``book_vs_inline_loop_ratio`` is ours in
  that same shape against the inline loop (GC paused too). The gap between
  the baselines is what a method call and a command tuple cost per event,
  which any book with an API pays; the gap between the shapes is what
  building a command and the collector cost.

Each repeat uses fresh books, and runs the three side by side: the workload
goes through in slices of 10,000 events, each slice through all three (in
an order that rotates), each timed apart, so that a noisy spell on this
shared machine slows all three alike instead of one; the headline pair is
timed the same way, in its own pass. The best of ``R`` repeats of each
counts. "Events" are input commands. In the prebuilt shape the garbage
collector is paused during every timed loop, for all sides alike; in the
headline it runs, for both sides alike.

Throughput is timed with ``time.process_time`` (this process's CPU time),
so time spent descheduled on a busy machine does not count for any side.
Per-event latency (our book only) is measured in a separate pass over fresh
books, with ``time.perf_counter_ns`` around each call, so the clock's own
cost does not skew the throughput figures.

Our book runs as built: compiled by mypyc when ``orderbook.COMPILED``
(what ``make`` builds, see ``setup.py``), else its Python sources. When it
runs compiled, the same benchmark also runs once more in a child process
with ``ORDERBOOK_PURE=1``, and its ratios are reported as
``pure_book_vs_bare_ratio`` and ``pure_book_vs_inline_loop_ratio`` (skip with
``--no-pure``): what the book does as plain Python, against the same bare
book in the same child process.

Prints a JSON object first (``book_vs_bare_ratio`` is its first key, then
``prebuilt_gc_off_vs_bare_book_ratio``, ``book_vs_inline_loop_ratio``,
``compiled``, the pure ratios, the headline's two events/s, ``events_per_s``,
``bare_events_per_s``, ``inline_loop_events_per_s``, ``p50_us``, ``p99_us``,
``p999_us`` and the workload's facts), then a table.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from orderbook import (
    COMPILED,
    CancelOrder,
    Event,
    Fill,
    OrderBook,
    OrderType,
    PlaceOrder,
    Side,
    SkuRules,
    TimeInForce,
)

from .bare import BareCommandBook, new_inline_books, run_bare
from .workload import CANCEL, LIMIT, Workload, generate
from .workload import Event as WorkloadEvent

__all__ = ["build_commands", "main", "run", "run_pure"]

RULES = SkuRules(tick_size_cents=100, min_price_cents=100, max_price_cents=10_000_000)

Step = tuple[int, Any]

# Throughput is timed in process CPU time: on a shared machine the wall clock
# also counts the time other processes hold the core, which is noise here.
_cpu = time.process_time


def build_commands(events: Sequence[WorkloadEvent]) -> list[Step]:
    """Turn workload tuples into ``(sku_index, command)`` pairs for the book."""
    sides = {"bid": Side.BID, "ask": Side.ASK}
    steps: list[Step] = []
    for kind, sku, order_id, owner, side, price, qty, expires_at, now in events:
        if kind == CANCEL:
            steps.append((sku, CancelOrder(order_id, now)))
        else:
            steps.append(
                (
                    sku,
                    PlaceOrder(
                        order_id,
                        owner,
                        sides[side],
                        qty,
                        price,
                        OrderType.LIMIT if kind == LIMIT else OrderType.MARKET,
                        TimeInForce.GTC,
                        False,
                        expires_at,
                        now,
                    ),
                )
            )
    return steps


def _calls(books: Sequence[Any], steps: Sequence[Step]) -> list[tuple[Any, Any]]:
    """Each step as (bound method, command), for our books and the bare ones alike.

    The method is picked by command type up front (``place`` / ``cancel``),
    as the engine does once it has parsed a command; :meth:`OrderBook.handle`
    would add one dispatch call per event.
    """
    places = [book.place for book in books]
    cancels = [book.cancel for book in books]
    return [((cancels if type(cmd) is CancelOrder else places)[sku], cmd) for sku, cmd in steps]


def _bound(steps: Sequence[Step], n_skus: int) -> tuple[list[OrderBook], list[tuple[Any, Any]]]:
    """Fresh books of ours, and each step as (bound method, command)."""
    books = [OrderBook(f"SKU-{i:03d}", RULES) for i in range(n_skus)]
    return books, _calls(books, steps)


def _bound_bare(
    steps: Sequence[Step], n_skus: int
) -> tuple[list[BareCommandBook], list[tuple[Any, Any]]]:
    """Fresh bare books, and each step as (bound method, command)."""
    books = [BareCommandBook() for _ in range(n_skus)]
    return books, _calls(books, steps)


def _bare_book_traded(steps: Sequence[Step], n_skus: int) -> int:
    """Quantity traded by the bare books (an untimed pass)."""
    _, calls = _bound_bare(steps, n_skus)
    return sum(handle(cmd) for handle, cmd in calls)


def _traded(steps: Sequence[Step], n_skus: int) -> int:
    """Quantity traded by the book (an untimed pass), to compare with the bare loop."""
    _, calls = _bound(steps, n_skus)
    total = 0
    for handle, cmd in calls:
        events: list[Event] = handle(cmd)
        for event in events:
            if type(event) is Fill:
                total += event.quantity
    return total


def _latencies(steps: Sequence[Step], n_skus: int) -> list[int]:
    _, calls = _bound(steps, n_skus)
    clock: Callable[[], int] = time.perf_counter_ns
    out = [0] * len(calls)
    gc.collect()
    gc.disable()
    try:
        for i, (handle, cmd) in enumerate(calls):
            t0 = clock()
            handle(cmd)
            out[i] = clock() - t0
    finally:
        gc.enable()
    out.sort()
    return out


def _pct(sorted_ns: Sequence[int], q: float) -> float:
    i = min(len(sorted_ns) - 1, int(q * len(sorted_ns)))
    return round(sorted_ns[i] / 1000, 2)


SLICE = 10_000


def _time_side_by_side(
    steps: Sequence[Step], events: Sequence[WorkloadEvent], n_skus: int
) -> tuple[float, float, float, int]:
    """One repeat: seconds for (our book, bare book, inline loop), and the inline traded qty.

    Fresh books for all three; the workload goes through in slices, each
    slice through all three in a rotating order, each timed on its own.
    """
    _, ours = _bound(steps, n_skus)
    _, bare = _bound_bare(steps, n_skus)
    inline_books = new_inline_books(n_skus)
    totals = [0.0, 0.0, 0.0]
    traded = 0
    gc.collect()
    gc.disable()
    try:
        for k, start in enumerate(range(0, len(steps), SLICE)):
            end = start + SLICE
            for side in ((0, 1, 2), (1, 2, 0), (2, 0, 1))[k % 3]:
                if side == 2:
                    chunk = events[start:end]  # copied outside the timed region
                    t0 = _cpu()
                    traded += run_bare(chunk, n_skus, inline_books)
                    totals[2] += _cpu() - t0
                else:
                    calls = (ours if side == 0 else bare)[start:end]
                    t0 = _cpu()
                    for handle, cmd in calls:
                        handle(cmd)
                    totals[side] += _cpu() - t0
    finally:
        gc.enable()
    return totals[0], totals[1], totals[2], traded


def _time_built_gc_on(
    events: Sequence[WorkloadEvent], n_skus: int
) -> tuple[float, float, int]:
    """One repeat of the headline: seconds for (our book building each command in
    the loop, the inline bare loop), GC on, and the quantity the bare loop traded
    (ours is counted in an untimed pass, :func:`_traded`)."""
    books = [OrderBook(f"SKU-{i:03d}", RULES) for i in range(n_skus)]
    places = [book.place for book in books]
    cancels = [book.cancel for book in books]
    inline_books = new_inline_books(n_skus)
    bid, ask, limit, market, gtc = Side.BID, Side.ASK, OrderType.LIMIT, OrderType.MARKET, (
        TimeInForce.GTC)
    totals = [0.0, 0.0]
    traded = [0, 0]
    gc.collect()  # a clean start; then the collector runs as it will
    for k, start in enumerate(range(0, len(events), SLICE)):
        chunk = events[start:start + SLICE]  # copied outside the timed region
        for side in ((0, 1), (1, 0))[k % 2]:
            if side == 1:
                t0 = _cpu()
                traded[1] += run_bare(chunk, n_skus, inline_books)
                totals[1] += _cpu() - t0
                continue
            t0 = _cpu()
            for kind, sku, order_id, owner, which, price, qty, expires_at, now in chunk:
                if kind == CANCEL:
                    cancels[sku](CancelOrder(order_id, now))
                else:
                    places[sku](PlaceOrder(
                        order_id, owner, bid if which == "bid" else ask, qty, price,
                        limit if kind == LIMIT else market, gtc, False, expires_at, now,
                    ))
            totals[0] += _cpu() - t0
    return totals[0], totals[1], traded[1]


def run_pure(n_events: int, repeats: int, seed: int) -> dict[str, Any]:
    """The same benchmark in a child process running the book's Python sources."""
    env = {**os.environ, "ORDERBOOK_PURE": "1"}
    argv = [sys.executable, "-m", "bench", "book", "--events", str(n_events)]
    argv += ["--repeats", str(repeats), "--seed", str(seed), "--no-pure"]
    out = subprocess.run(argv, env=env, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out.splitlines()[0])
    if result["compiled"]:
        raise RuntimeError("ORDERBOOK_PURE=1 still ran the compiled book")
    return result


def run(
    n_events: int = 1_000_000, repeats: int = 3, seed: int = 20260101, pure: bool = True
) -> dict[str, Any]:
    """Run the whole benchmark and return the result record.

    With ``pure`` and a compiled book, also run it as Python (:func:`run_pure`).
    """
    t0 = time.perf_counter()
    workload: Workload = generate(n_events, seed=seed)
    gen_s = time.perf_counter() - t0
    events = workload.events
    steps = build_commands(events)
    n = len(events)
    ours: list[float] = []
    bare: list[float] = []
    inline: list[float] = []
    traded_inline = 0
    built: list[float] = []
    loop_gc: list[float] = []
    traded_loop = 0
    for _ in range(repeats):
        t_built, t_loop, traded_loop = _time_built_gc_on(events, workload.n_skus)
        built.append(t_built)
        loop_gc.append(t_loop)
    for _ in range(repeats):
        t_ours, t_bare, t_inline, traded_inline = _time_side_by_side(
            steps, events, workload.n_skus
        )
        ours.append(t_ours)
        bare.append(t_bare)
        inline.append(t_inline)
    traded_ours = _traded(steps, workload.n_skus)
    traded_bare = _bare_book_traded(steps, workload.n_skus)
    lat = _latencies(steps, workload.n_skus)
    best_ours = n / min(ours)
    best_bare = n / min(bare)
    best_inline = n / min(inline)
    best_built = n / min(built)
    best_loop_gc = n / min(loop_gc)
    child = run_pure(n_events, repeats, seed) if pure and COMPILED else None
    return {
        "book_vs_bare_ratio": round(best_built / best_loop_gc, 3),
        "prebuilt_gc_off_vs_bare_book_ratio": round(best_ours / best_bare, 3),
        "book_vs_inline_loop_ratio": round(best_ours / best_inline, 3),
        "compiled": COMPILED,
        "pure_book_vs_bare_ratio": child["book_vs_bare_ratio"] if child else None,
        "pure_prebuilt_gc_off_vs_bare_book_ratio": (
            child["prebuilt_gc_off_vs_bare_book_ratio"] if child else None),
        "pure_book_vs_inline_loop_ratio": child["book_vs_inline_loop_ratio"] if child else None,
        "events_per_s_built_gc_on": round(best_built),
        "bare_loop_events_per_s_gc_on": round(best_loop_gc),
        "events_per_s": round(best_ours),
        "bare_events_per_s": round(best_bare),
        "inline_loop_events_per_s": round(best_inline),
        "p50_us": _pct(lat, 0.50),
        "p99_us": _pct(lat, 0.99),
        "p999_us": _pct(lat, 0.999),
        "max_us": round(lat[-1] / 1000, 2),
        "events": n,
        "skus": workload.n_skus,
        "repeats": repeats,
        "seed": seed,
        "mix": workload.mix(),
        "traded_quantity": traded_ours,
        "bare_traded_quantity": traded_bare,
        "inline_loop_traded_quantity": traded_inline,
        "bare_loop_gc_on_traded_quantity": traded_loop,
        "runs_s": {
            "book_built_gc_on": [round(x, 3) for x in built],
            "bare_loop_gc_on": [round(x, 3) for x in loop_gc],
            "book": [round(x, 3) for x in ours],
            "bare": [round(x, 3) for x in bare],
            "inline_loop": [round(x, 3) for x in inline],
        },
        "generate_s": round(gen_s, 2),
    }


def _table(result: dict[str, Any]) -> str:
    rows = [
        ("events", f"{result['events']:,}"),
        ("mix", ", ".join(f"{k} {v:,}" for k, v in result["mix"].items())),
        ("HEADLINE book / bare loop", f"{result['book_vs_bare_ratio']:.3f}  "
         "(commands built in the loop, GC on; goal 1.0, bar 0.85)"),
        ("  book events/s", f"{result['events_per_s_built_gc_on']:,}"),
        ("  bare loop events/s", f"{result['bare_loop_events_per_s_gc_on']:,}"),
        ("prebuilt, GC off:", ""),
        ("  book events/s", f"{result['events_per_s']:,}"),
        ("  bare book events/s", f"{result['bare_events_per_s']:,}  (same calls as ours)"),
        ("  inline loop events/s",
         f"{result['inline_loop_events_per_s']:,}  (one loop, no calls)"),
        ("  book / bare book", f"{result['prebuilt_gc_off_vs_bare_book_ratio']:.3f}"),
        ("  book / inline loop", f"{result['book_vs_inline_loop_ratio']:.3f}"),
        ("book compiled (mypyc)", str(result["compiled"])),
    ]
    if result["pure_book_vs_bare_ratio"] is not None:
        rows += [
            ("as Python: headline", f"{result['pure_book_vs_bare_ratio']:.3f}"),
            ("as Python: prebuilt / bare book",
             f"{result['pure_prebuilt_gc_off_vs_bare_book_ratio']:.3f}"),
            ("as Python: / inline loop", f"{result['pure_book_vs_inline_loop_ratio']:.3f}"),
        ]
    rows += [
        ("latency p50", f"{result['p50_us']} us"),
        ("latency p99", f"{result['p99_us']} us"),
        ("latency p99.9", f"{result['p999_us']} us"),
        (
            "traded qty book/bare/inline",
            f"{result['traded_quantity']:,} / {result['bare_traded_quantity']:,}"
            f" / {result['inline_loop_traded_quantity']:,}",
        ),
        ("traded qty bare loop, GC on", f"{result['bare_loop_gc_on_traded_quantity']:,}"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command-line entry: run, print the JSON line then the table; return the record."""
    parser = argparse.ArgumentParser(prog="python -m bench book", description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20260101)
    parser.add_argument(
        "--no-pure", action="store_true", help="skip the run of the book as Python"
    )
    args = parser.parse_args(argv)
    result = run(args.events, args.repeats, args.seed, pure=not args.no_pure)
    print(json.dumps(result), flush=True)
    print(_table(result), flush=True)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
