"""Portfolio valuation with polars: pure frame functions, no database.

A *holdings frame* has ``id``, ``sku``, ``purchase_price_cents``,
``acquired_at`` (int ns) and optionally ``account_id``, ``condition``,
``source``, ``removed``. Each holding is one item.

Valuation now (:func:`value_at_marks`, :func:`valuation_frame`): each holding
is marked at its SKU's mark; ``market_value_cents = mark_cents`` and
``unrealized_gain_cents = mark - purchase price``. A holding without a mark
(its SKU never traded, or the book has no such bid/ask, or ``mid`` lacks a
side) keeps ``market_value_cents`` null and counts in ``unpriced_count``; it is
in the cost total but in neither the value nor the unrealized gain, so
``value - cost`` of the priced items equals the unrealized gain. Marks:

- ``last_sale``: the last sale at or before now (gross, before fees);
- ``highest_bid`` / ``lowest_ask``: the live book's best bid / ask;
- ``mid``: ``(bid + ask) // 2``, rounded down to the cent, null unless both
  sides exist.

Value history (:func:`history_frame`): for each point ``[start, start +
interval)`` the value is taken *as of* ``as_of`` (the point's last ns, or now
for the current one): the holdings acquired at or before ``as_of`` and not
sold by then (sold at a realized gain's ``time``), each marked at the last sale
of its SKU at or before ``as_of`` with ``join_asof`` (backward). A holding
bought before its SKU's first sale is unpriced until that sale. Past days use
their own prices, never today's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from exchange.clock import DAY_NS, HOUR_NS
from exchange.errors import ExchangeError
from exchange.frames import as_int64, i64, int64_count

__all__ = [
    "HISTORY_INTERVALS",
    "MARKS",
    "MAX_HISTORY_POINTS",
    "history_frame",
    "history_points",
    "totals_by_account",
    "valuation_frame",
    "valuation_totals",
    "value_at_marks",
]

MARKS = ("last_sale", "highest_bid", "lowest_ask", "mid")
HISTORY_INTERVALS: dict[str, int] = {
    "1m": 60 * 1_000_000_000,
    "1h": HOUR_NS,
    "1d": DAY_NS,
    "1w": 7 * DAY_NS,
}
MAX_HISTORY_POINTS = 10_000
# 1970-01-01 was a Thursday; the first Monday 00:00 UTC is 4 days later.
_FIRST_MONDAY_NS = 4 * DAY_NS

_MARKS_SCHEMA = {"sku": pl.String(), "mark_cents": pl.Int64()}
# The integer columns of the frames below, Int64 whatever a caller built them with.
_HOLDING_INTS = ("id", "purchase_price_cents", "acquired_at")
_INT_COLUMNS = (*_HOLDING_INTS, "mark_cents", "holding_id", "time", "price_cents", "start", "as_of")


def marks_for(
    mark: str,
    skus: list[str],
    *,
    last_sales: Mapping[str, int],
    bests: Mapping[str, tuple[int | None, int | None]],
) -> pl.DataFrame:
    """A ``(sku, mark_cents)`` frame for the SKUs that have a mark of that kind."""
    if mark not in MARKS:
        raise ExchangeError(
            "validation_error", f"mark must be one of {', '.join(MARKS)}, not {mark!r}."
        )
    marks: dict[str, int] = {}
    for sku in skus:
        if mark == "last_sale":
            price = last_sales.get(sku)
        else:
            bid, ask = bests.get(sku, (None, None))
            if mark == "highest_bid":
                price = bid
            elif mark == "lowest_ask":
                price = ask
            else:
                price = None if bid is None or ask is None else (bid + ask) // 2
        if price is not None:
            marks[sku] = price
    return pl.DataFrame(
        {"sku": list(marks), "mark_cents": list(marks.values())}, schema=_MARKS_SCHEMA
    )


def value_at_marks(
    holdings: pl.DataFrame | pl.LazyFrame, marks: pl.DataFrame | pl.LazyFrame
) -> pl.LazyFrame:
    """Holdings joined to ``(sku, mark_cents)`` with value and unrealized gain.

    Adds ``mark_cents``, ``market_value_cents`` and ``unrealized_gain_cents``
    (null when the SKU has no mark), keeping the holdings' order.
    """
    return (
        as_int64(holdings.lazy(), _INT_COLUMNS)
        .join(as_int64(marks.lazy(), _INT_COLUMNS), on="sku", how="left", maintain_order="left")
        .with_columns(
            market_value_cents=pl.col("mark_cents"),
            unrealized_gain_cents=pl.col("mark_cents") - pl.col("purchase_price_cents"),
        )
    )


def valuation_frame(
    holdings: pl.DataFrame,
    mark: str,
    *,
    last_sales: Mapping[str, int],
    bests: Mapping[str, tuple[int | None, int | None]],
) -> pl.DataFrame:
    """One account's holdings valued at ``mark`` (see the module docstring)."""
    skus = holdings["sku"].unique().to_list()
    marks = marks_for(mark, skus, last_sales=last_sales, bests=bests)
    return value_at_marks(holdings, marks).collect()


def _totals_exprs() -> list[pl.Expr]:
    priced = pl.col("market_value_cents").is_not_null()
    return [
        pl.col("purchase_price_cents").sum().alias("cost_cents"),
        pl.col("market_value_cents").sum().alias("market_value_cents"),
        pl.col("unrealized_gain_cents").sum().alias("unrealized_gain_cents"),
        int64_count((~priced).sum()).alias("unpriced_count"),
        int64_count(pl.len()).alias("count"),
    ]


def valuation_totals(items: pl.DataFrame) -> dict[str, Any]:
    """Totals of a valued frame: cost (all items), value and gain (priced ones), counts."""
    row = items.select(_totals_exprs()).row(0, named=True)
    return {k: int(v or 0) for k, v in row.items()}


def totals_by_account(valued: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """:func:`valuation_totals` for every ``account_id`` of a valued frame at once."""
    return valued.lazy().group_by("account_id").agg(_totals_exprs()).collect()


def history_points(interval: str, start_ns: int, end_ns: int, now_ns: int) -> pl.DataFrame:
    """The points ``(start, as_of)`` of a history from ``start_ns`` to ``end_ns``.

    Points start at interval boundaries (epoch-aligned; weeks on Monday
    00:00 UTC) from the one containing ``start_ns`` up to, not including,
    ``end_ns``. ``as_of`` is the point's last ns, or ``now_ns`` if earlier.

    Raises:
        ExchangeError: ``validation_error`` for an unknown interval;
            ``range_too_large`` (400) for more than :data:`MAX_HISTORY_POINTS`
            points, naming the limit (never cut silently).
    """
    step = HISTORY_INTERVALS.get(interval)
    if step is None:
        raise ExchangeError(
            "validation_error",
            f"interval must be one of {', '.join(HISTORY_INTERVALS)}, not {interval!r}.",
        )
    origin = _FIRST_MONDAY_NS if interval == "1w" else 0
    first = start_ns - (start_ns - origin) % step
    count = max(0, -(-(end_ns - first) // step))
    if count > MAX_HISTORY_POINTS:
        raise ExchangeError(
            "range_too_large",
            f"The range has {count} points of {interval}; a history holds at most "
            f"{MAX_HISTORY_POINTS} points: narrow 'start' and 'end' or choose a longer interval.",
        )
    starts = pl.int_range(0, count, dtype=pl.Int64, eager=True) * step + first
    return pl.DataFrame({"start": starts}).with_columns(
        as_of=pl.min_horizontal(pl.col("start") + i64(step - 1), i64(now_ns))
    )


def history_frame(
    holdings: pl.DataFrame,
    realized: pl.DataFrame,
    sales: pl.DataFrame,
    points: pl.DataFrame,
) -> pl.DataFrame:
    """Value history of one portfolio: one row per point, as of its ``as_of``.

    Computed as a sweep over events, never as points x holdings: each
    holding enters at ``acquired_at`` and leaves at its sale; each sale sets
    its SKU's mark. Per SKU, items held times the mark changes only at its
    events; those changes, summed over SKUs and accumulated in time, are the
    portfolio's totals after every event, and each point takes the totals of
    the last event at or before its ``as_of`` (an as-of join). Time and
    memory grow with holdings + sales + points, so thousands of holdings at
    :data:`MAX_HISTORY_POINTS` points cost no more than either alone.

    Args:
        holdings: the account's holdings, soft-deleted ones included (``removed``).
        realized: ``(holding_id, time)`` of the account's sales of holdings.
        sales: sales frame of the held SKUs, in time order (ties by id).
        points: from :func:`history_points`.

    Returns:
        ``start``, ``as_of``, ``value_cents`` (priced items), ``cost_cents`` (all
        held items), ``unpriced_count``, ``count``.
    """
    realized, sales, points = (as_int64(f, _INT_COLUMNS) for f in (realized, sales, points))
    holdings = as_int64(holdings, _INT_COLUMNS)
    sold = (
        realized.lazy()
        .group_by("holding_id")
        .agg(sold_at=pl.col("time").min())
        .rename({"holding_id": "id"})
    )
    held = holdings.lazy().join(sold, on="id", how="left")
    if "removed" in holdings.columns:
        # taken back by hand (no sale): it never was a real holding
        held = held.filter(~pl.col("removed") | pl.col("sold_at").is_not_null())
    # A holding counts over [acquired_at, sold_at); one sold before it was
    # acquired counts nowhere.
    held = held.filter(pl.col("sold_at").is_null() | (pl.col("sold_at") > pl.col("acquired_at")))
    no_price = i64(None)
    events = pl.concat(
        [
            # sales first: their (time, id) order decides the mark of an instant
            sales.lazy().select(
                "sku", "time", d_items=i64(0), d_cost=i64(0), price=pl.col("price_cents")
            ),
            held.select(
                "sku",
                time=pl.col("acquired_at"),
                d_items=i64(1),
                d_cost=pl.col("purchase_price_cents"),
                price=no_price,
            ),
            held.filter(pl.col("sold_at").is_not_null()).select(
                "sku",
                time=pl.col("sold_at"),
                d_items=i64(-1),
                d_cost=-pl.col("purchase_price_cents"),
                price=no_price,
            ),
        ]
    ).with_row_index("seq")
    items = pl.col("d_items").cum_sum().over("sku", order_by=["time", "seq"])
    mark = pl.col("price").forward_fill().over("sku", order_by=["time", "seq"])
    per_sku = (
        events.with_columns(items=items, mark=mark)
        .with_columns(
            value=(pl.col("items") * pl.col("mark")).fill_null(i64(0)),
            unpriced=pl.when(pl.col("mark").is_null()).then(pl.col("items")).otherwise(i64(0)),
        )
        .with_columns(
            # the change this event made to its SKU's part of the totals
            d_value=pl.col("value")
            - pl.col("value").shift(1, fill_value=i64(0)).over("sku", order_by=["time", "seq"]),
            d_unpriced=pl.col("unpriced")
            - pl.col("unpriced").shift(1, fill_value=i64(0)).over("sku", order_by=["time", "seq"]),
        )
    )
    timeline = (
        per_sku.group_by("time")
        .agg(pl.col("d_value", "d_cost", "d_unpriced", "d_items").sum())
        .sort("time")
        .select(
            "time",
            value_cents=pl.col("d_value").cum_sum(),
            cost_cents=pl.col("d_cost").cum_sum(),
            unpriced_count=pl.col("d_unpriced").cum_sum(),
            count=pl.col("d_items").cum_sum(),
        )
    )
    return (
        points.lazy()
        .sort("as_of")
        .join_asof(timeline, left_on="as_of", right_on="time", strategy="backward")
        .select(
            "start",
            "as_of",
            pl.col("value_cents", "cost_cents", "unpriced_count", "count").fill_null(i64(0)),
        )
        .sort("start")
        .collect()
    )
