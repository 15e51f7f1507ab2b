"""The analytics benchmark: market summaries, candles and portfolios on synthetic history.

Usage::

    python -m bench analytics [--trades N] [--skus S] [--holdings H]
                              [--portfolios P] [--repeats R] [--seed SEED]

Synthetic, seeded, generated vectorized with polars (hashes of row numbers,
no Python loops): ``N`` sales (default 10M) over one year on ``S`` SKUs
(10,000) with popularity skewed toward a few hot SKUs (SKU index = S * u^2 for
uniform u), each SKU around its own base price (±10%, on 100-cent ticks), 5%
of sales of 2 items; ``H`` holdings (100,000) across ``P`` portfolios (10,000),
the same popularity, bought during the year at 80 to 110% of the base price.

Timed, each the best of ``R`` repeats after one warm-up (the machine is shared):

- ``all_summaries_s``: :func:`exchange.analytics.summaries_frame` of every SKU
  over all sales (one pass, one group-by).
- ``daily_candles_1y_ms``: one year of daily candles of the hottest SKU, from
  that SKU's sales (what the store's ``(sku, time)`` index hands out).
- ``one_portfolio_ms``: one portfolio of 10 holdings: valuation at the last
  sale plus one year of daily value history (as-of join), from the sales of
  the SKUs it holds (again what the index hands out). Goal: < 50 ms.
- ``all_portfolios_s``: last sale of every SKU, then all holdings valued
  and totalled per portfolio.

With ``--store-trades M`` (default 200,000; 0 skips it) the same kind of
history, M sales, is also written to a temporary SQLite store through
:meth:`TradeStore.write`, and the facade is timed end to end, SQL included:
``store_write_per_s`` (trades written per second, batches of 10,000),
``store_one_portfolio_ms`` (:meth:`Analytics.portfolio` plus one year of
:meth:`Analytics.portfolio_history` for a 10-holding account) and
``store_sku_summary_ms`` (:meth:`Analytics.sku_summary` of the hottest SKU).

Prints a JSON object (one line), then a table. The goals: one portfolio
under 50 ms, all summaries under 2 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

import polars as pl

from exchange.analytics import Analytics, candles_frame, summaries_frame
from exchange.store import TradeStore, sqlite_url
from exchange.valuation import (
    history_frame,
    history_points,
    marks_for,
    totals_by_account,
    value_at_marks,
)

__all__ = ["generate_holdings", "generate_sales", "main", "run", "run_store"]

DAY = 86_400 * 10**9
YEAR = 365 * DAY
START = 1_700_000_000 * 10**9 - (1_700_000_000 * 10**9) % DAY  # a midnight in Nov 2023
NOW = START + YEAR
U53 = float(2**53)


def _uniform(n: int, seed: int) -> pl.Expr:
    """n uniform floats in [0, 1) from hashes of the row number (deterministic per seed)."""
    return (pl.int_range(0, n, dtype=pl.UInt64).hash(seed) // 2048).cast(pl.Float64) / U53


def base_prices(skus: int, seed: int) -> pl.DataFrame:
    """Each SKU's base price: 50 to 5,000 dollars, log-uniform-ish, on 100-cent ticks."""
    u = _uniform(skus, seed + 7)
    return pl.select(
        sku_idx=pl.int_range(0, skus, dtype=pl.Int64),
        base=((5_000.0 * (100.0**u)) // 100 * 100).cast(pl.Int64),
    )


def _sku_names(idx: pl.Expr) -> pl.Expr:
    return pl.format("SKU-{}", idx.cast(pl.String).str.zfill(5))


def generate_sales(trades: int, skus: int, seed: int) -> pl.DataFrame:
    """A sales frame (time order) of ``trades`` rows over one year."""
    step = YEAR // trades
    frame = pl.select(
        id=pl.int_range(1, trades + 1, dtype=pl.Int64),
        u_sku=_uniform(trades, seed),
        u_price=_uniform(trades, seed + 1),
        u_qty=_uniform(trades, seed + 2),
        jitter=(pl.int_range(0, trades, dtype=pl.UInt64).hash(seed + 3) % max(step, 1)).cast(
            pl.Int64
        ),
    ).with_columns(
        sku_idx=(pl.col("u_sku") ** 2 * skus).cast(pl.Int64),
        # strictly increasing: each sale in its own slot of the year
        time=START + (pl.col("id") - 1) * step + pl.col("jitter"),
    )
    frame = frame.join(base_prices(skus, seed), on="sku_idx", how="left", maintain_order="left")
    return frame.select(
        sku=_sku_names(pl.col("sku_idx")),
        id="id",
        time=pl.col("time").set_sorted(),
        price_cents=((pl.col("base") * (0.9 + 0.2 * pl.col("u_price"))) // 100 * 100).cast(
            pl.Int64
        ),
        quantity=pl.when(pl.col("u_qty") < 0.95).then(1).otherwise(2).cast(pl.Int64),
    )


def generate_holdings(holdings: int, portfolios: int, skus: int, seed: int) -> pl.DataFrame:
    """A holdings frame: ``holdings`` items spread evenly over ``portfolios`` accounts."""
    frame = pl.select(
        id=pl.int_range(1, holdings + 1, dtype=pl.Int64),
        u_sku=_uniform(holdings, seed + 11),
        u_price=_uniform(holdings, seed + 12),
        u_time=_uniform(holdings, seed + 13),
    ).with_columns(sku_idx=(pl.col("u_sku") ** 2 * skus).cast(pl.Int64))
    frame = frame.join(base_prices(skus, seed), on="sku_idx", how="left", maintain_order="left")
    return frame.select(
        account_id=pl.format("acc_{}", (pl.col("id") - 1) % portfolios + 1),
        id="id",
        sku=_sku_names(pl.col("sku_idx")),
        purchase_price_cents=(pl.col("base") * (0.8 + 0.3 * pl.col("u_price"))).cast(pl.Int64),
        acquired_at=(START + pl.col("u_time") * (YEAR - DAY)).cast(pl.Int64),
        removed=pl.lit(False),
    )


def _best_of(fn: Callable[[], Any], repeats: int) -> tuple[float, float, Any]:
    """(best, median, last result) of ``repeats`` timed calls after one warm-up."""
    result = fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times), result


def run(
    trades: int = 10_000_000,
    skus: int = 10_000,
    holdings: int = 100_000,
    portfolios: int = 10_000,
    repeats: int = 3,
    seed: int = 42,
) -> dict[str, Any]:
    """Generate the data, time the four figures, return the result record."""
    t0 = time.perf_counter()
    sales = generate_sales(trades, skus, seed)
    hold = generate_holdings(holdings, portfolios, skus, seed)
    gen_s = time.perf_counter() - t0
    # What the store's indexes hand out: one SKU's sales, in time order.
    t0 = time.perf_counter()
    by_sku = {
        k[0]: v for k, v in sales.partition_by("sku", as_dict=True, maintain_order=True).items()
    }
    part_s = time.perf_counter() - t0
    hot = max(by_sku, key=lambda k: by_sku[k].height)
    empty = sales.clear()

    summaries_best, summaries_median, summary = _best_of(
        lambda: summaries_frame(sales, NOW), repeats
    )
    candles_best, _candles_median, candles = _best_of(
        lambda: candles_frame(by_sku[hot], "1d", NOW - YEAR, NOW), repeats
    )

    account = "acc_1"
    mine = hold.filter(pl.col("account_id") == account)
    realized = pl.DataFrame(schema={"holding_id": pl.Int64, "time": pl.Int64})

    def one_portfolio() -> tuple[pl.DataFrame, pl.DataFrame]:
        held = mine["sku"].unique().to_list()
        frames = [by_sku[s] for s in held if s in by_sku]
        held_sales = pl.concat(frames).sort("time") if frames else empty
        last = held_sales.group_by("sku").agg(pl.col("price_cents").last())
        marks = marks_for("last_sale", held, last_sales=dict(last.iter_rows()), bests={})
        valued = value_at_marks(mine, marks).collect()
        points = history_points("1d", NOW - YEAR, NOW, NOW)
        return valued, history_frame(mine, realized, held_sales, points)

    one_best, one_median, (valued, history) = _best_of(one_portfolio, max(repeats, 5))

    def all_portfolios() -> pl.DataFrame:
        last = sales.lazy().group_by("sku").agg(mark_cents=pl.col("price_cents").last())
        return totals_by_account(value_at_marks(hold, last))

    all_best, all_median, totals = _best_of(all_portfolios, repeats)

    return {
        "benchmark": "analytics",
        "trades": trades,
        "skus": skus,
        "skus_traded": summary.height,
        "holdings": holdings,
        "portfolios": portfolios,
        "hot_sku_trades": by_sku[hot].height,
        "generate_s": round(gen_s, 3),
        "partition_s": round(part_s, 3),
        "all_summaries_s": round(summaries_best, 4),
        "all_summaries_median_s": round(summaries_median, 4),
        "daily_candles_1y_ms": round(candles_best * 1000, 3),
        "daily_candles": candles.height,
        "one_portfolio_ms": round(one_best * 1000, 3),
        "one_portfolio_median_ms": round(one_median * 1000, 3),
        "one_portfolio_holdings": mine.height,
        "one_portfolio_history_points": history.height,
        "all_portfolios_s": round(all_best, 4),
        "all_portfolios_median_s": round(all_median, 4),
        "portfolios_valued": totals.height,
        "goal_one_portfolio_ms": 50,
        "goal_all_summaries_s": 2,
        "goals_met": one_best < 0.05 and summaries_best < 2.0,
        "valued_rows": valued.height,
    }


def run_store(trades: int, skus: int, repeats: int = 5, seed: int = 42) -> dict[str, Any]:
    """Time the store-backed facade on a temporary SQLite store of ``trades`` sales."""
    sales = generate_sales(trades, skus, seed).with_columns(
        style=pl.col("sku").str.slice(0, 7),
        taker_side=pl.lit("bid"),
        buyer_id=pl.lit("acc_2"),
        seller_id=pl.lit("acc_3"),
        settlement_status=pl.lit("delivered"),
    )
    hold = generate_holdings(10, 1, skus, seed).drop("removed")
    with tempfile.TemporaryDirectory() as tmp:
        store = TradeStore(sqlite_url(tmp))
        store.create_all()
        rows = sales.to_dicts()
        t0 = time.perf_counter()
        for i in range(0, len(rows), 10_000):
            store.write([("trade", r) for r in rows[i : i + 10_000]])
        write_s = time.perf_counter() - t0
        store.write(
            ("holding", {**h, "condition": "new", "source": "manual", "trade_id": None})
            for h in hold.to_dicts()
        )
        analytics = Analytics(store)
        hot = sales.group_by("sku").len().sort("len").row(-1)[0]

        def portfolio() -> Any:
            value = analytics.portfolio("acc_1", "last_sale", now_ns=NOW)
            history = analytics.portfolio_history("acc_1", "1d", NOW - YEAR, NOW, now_ns=NOW)
            return value, history

        one_best, _, (value, history) = _best_of(portfolio, repeats)
        sku_best, _, _ = _best_of(lambda: analytics.sku_summary(hot, now_ns=NOW), repeats)
        store.close()
    return {
        "store_trades": trades,
        "store_write_per_s": round(trades / write_s),
        "store_one_portfolio_ms": round(one_best * 1000, 3),
        "store_portfolio_points": len(history["points"]),
        "store_portfolio_unpriced": value["totals"]["unpriced_count"],
        "store_sku_summary_ms": round(sku_best * 1000, 3),
    }


def _table(r: dict[str, Any]) -> str:
    rows = [
        (
            "data",
            f"{r['trades']:,} sales, {r['skus']:,} SKUs, {r['holdings']:,} holdings "
            f"/ {r['portfolios']:,} portfolios",
        ),
        (
            "all SKU summaries",
            f"{r['all_summaries_s']:.3f} s (goal < 2 s; {r['skus_traded']:,} SKUs)",
        ),
        (
            "1y daily candles, hot SKU",
            f"{r['daily_candles_1y_ms']:.2f} ms ({r['hot_sku_trades']:,} sales)",
        ),
        (
            "one portfolio + history",
            f"{r['one_portfolio_ms']:.2f} ms (goal < 50 ms; "
            f"{r['one_portfolio_holdings']} holdings, "
            f"{r['one_portfolio_history_points']} days)",
        ),
        ("all portfolios valued", f"{r['all_portfolios_s']:.3f} s"),
    ]
    if "store_trades" in r:
        rows += [
            (
                "SQLite store: write",
                f"{r['store_write_per_s']:,} trades/s ({r['store_trades']:,} trades)",
            ),
            ("SQLite: portfolio + history", f"{r['store_one_portfolio_ms']:.2f} ms"),
            ("SQLite: hot SKU summary", f"{r['store_sku_summary_ms']:.2f} ms"),
        ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command-line entry: run, print the JSON line then the table; return the record."""
    parser = argparse.ArgumentParser(prog="python -m bench analytics", description=__doc__)
    parser.add_argument("--trades", type=int, default=10_000_000)
    parser.add_argument("--skus", type=int, default=10_000)
    parser.add_argument("--holdings", type=int, default=100_000)
    parser.add_argument("--portfolios", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--store-trades", type=int, default=200_000)
    # `python -m bench` hands every benchmark the same options: ignore others'.
    args, _unknown = parser.parse_known_args(argv)
    result = run(args.trades, args.skus, args.holdings, args.portfolios, args.repeats, args.seed)
    if args.store_trades > 0:
        result.update(run_store(args.store_trades, args.skus, seed=args.seed))
    print(json.dumps(result), flush=True)
    print(_table(result), flush=True)
    return result


if __name__ == "__main__":
    main()
