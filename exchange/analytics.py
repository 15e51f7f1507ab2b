"""Price tracking with polars: market summaries, candles, exports, and the facade.

Two layers. *Frame functions* (:func:`summaries_frame`, :func:`candles_frame`)
are pure: polars frames in, a frame out, no database; the tests feed them
hand-made frames and ``bench/analytics.py`` feeds them millions of rows.
:class:`Analytics` reads the trade store (``pl.read_database`` over the
store's SQLAlchemy engine, only the rows a question needs, through the
indexes) and turns frames into the wire dicts of ../shared/DESIGN.md. Its
methods are synchronous database reads: call them from a thread.

A *sale* is a trade whose ``settlement_status`` is not ``canceled``; it counts
from its match. A *verified sale* is a sale whose settlement is ``delivered``
(shipped, authenticated, delivered): two accounts trading with each other can
match at any price, but only a delivered sale really changed hands. The
matched view (every figure below but the verified ones) counts sales; the
verified view counts verified sales only, by the status the store holds now.

A sales frame has ``sku``, ``style``, ``id``, ``time`` (int ns),
``price_cents``, ``quantity`` and optionally ``settlement_status``, in time
order (ties by id), which is how the store hands them out and what "last"
and "consecutive" mean below.

Definitions of the summary figures (``now`` is given; later sales are ignored):

- ``last_sale_cents`` / ``last_sale_time``: the latest sale at or before now.
- ``sales_count``: items sold (the sum of quantities) up to now.
- ``average_price_cents``: quantity-weighted mean price of all sales up to
  now, rounded half up to the cent: ``(2*sum(p*q) + n) // (2*n)``.
- ``volume_24h`` / ``volume_cents_24h``: items and ``sum(p*q)`` of sales in
  ``(now - 24h, now]``.
- ``price_premium_pct``: ``(last - retail) / retail * 100``; ``change_*_pct``:
  ``(last - ref) / ref * 100`` where ``ref`` is the last sale at or before
  ``now - 24h`` / ``7d`` / ``30d``. Both are computed in integers and rounded
  half away from zero to 2 decimals; null without a last sale (or a ref).
- ``volatility``: the *sample* standard deviation (ddof=1) of the log returns
  ``ln(p_i / p_(i-1))`` between consecutive sales (trades, not items) that
  both lie in ``(now - 30d, now]``, as a fraction (0.05 = 5%), not annualized;
  null with fewer than 2 returns.
- ``range_12m``: lowest and highest sale price in ``(now - 365d, now]``.
- ``last_verified_sale_cents`` / ``last_verified_sale_time``: the latest
  verified sale at or before now; ``range_12m_verified``: lowest and highest
  verified sale price in ``(now - 365d, now]``. Null without a
  ``settlement_status`` column (a frame built by hand).

Candles: OHLC of sale prices and volume (items) per interval ``1m``, ``1h``,
``1d`` or ``1w`` (weeks start Monday 00:00 UTC), windows closed on the left
and labelled by their start, over the sales with ``start <= time < end``.
Empty intervals are OMITTED (no candle, no fake flat bar): TradingView
Lightweight Charts draws a candlestick series from the bars it gets and
leaves time without data as a gap, which is the honest picture of a thin
market.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import polars as pl
from sqlalchemy import select
from sqlalchemy.sql import Select

from exchange.clock import DAY_NS, HOUR_NS, rfc3339, rfc3339_opt
from exchange.errors import ExchangeError
from exchange.exports import check_format, frame_bytes, frame_rows
from exchange.frames import as_int64, i64, int64_count
from exchange.store import HOLDINGS, REALIZED, TRADES, TradeStore
from exchange.valuation import (
    HISTORY_INTERVALS,
    MARKS,
    MAX_HISTORY_POINTS,
    history_frame,
    history_points,
    valuation_frame,
    valuation_totals,
)

__all__ = [
    "INTERVALS",
    "SALES_SCHEMA",
    "Analytics",
    "candles_frame",
    "pct_2dp",
    "summaries_frame",
    "summary_row_to_dict",
]

INTERVALS: dict[str, int] = {
    "1m": 60 * 1_000_000_000,
    "1h": HOUR_NS,
    "1d": DAY_NS,
    "1w": 7 * DAY_NS,
}

SALES_SCHEMA: dict[str, pl.DataType] = {
    "sku": pl.String(),
    "style": pl.String(),
    "id": pl.Int64(),
    "time": pl.Int64(),
    "price_cents": pl.Int64(),
    "quantity": pl.Int64(),
}
SALES_SCHEMA_INT = ("id", "time", "price_cents", "quantity")
# A sales frame with each trade's settlement status (for the verified view).
SALES_STATUS_SCHEMA: dict[str, pl.DataType] = {**SALES_SCHEMA, "settlement_status": pl.String()}
VERIFIED_STATUS = "delivered"
TRADE_EXPORT_COLUMNS = (
    "id",
    "sku",
    "price_cents",
    "quantity",
    "taker_side",
    "buy_order_id",
    "sell_order_id",
    "time",
    "settlement_status",
)
TRADE_EXPORT_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.Int64(),
    "sku": pl.String(),
    "price_cents": pl.Int64(),
    "quantity": pl.Int64(),
    "taker_side": pl.String(),
    "buy_order_id": pl.Int64(),
    "sell_order_id": pl.Int64(),
    "time": pl.Int64(),
    "settlement_status": pl.String(),
}

# Summary windows, in ns.
WINDOW_24H = DAY_NS
WINDOW_7D = 7 * DAY_NS
WINDOW_30D = 30 * DAY_NS
WINDOW_12M = 365 * DAY_NS


def pct_2dp(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    """``(num - den) / den * 100`` rounded half away from zero to 2 decimals.

    Integer arithmetic to the hundredth of a percent, so 1/3 gives 33.33 and
    1/8 gives 12.5 exactly as a person computes them; null when either is
    null or ``den`` is not positive. Both sides are taken as Int64 whatever
    their type, so prices up to the API's ceiling ($100M) cannot overflow.
    """
    num, den = num.cast(pl.Int64), den.cast(pl.Int64)
    scaled = (num - den) * i64(10_000)
    hundredths = scaled.sign() * ((scaled.abs() * i64(2) + den) // (den * i64(2)))
    return pl.when(den > i64(0)).then(hundredths / pl.lit(100.0, dtype=pl.Float64))


def pct_2dp_of(num: int | None, den: int | None) -> float | None:
    """:func:`pct_2dp` of two Python integers (None when either is None)."""
    if num is None or den is None:
        return None
    value: float | None = pl.select(pct_2dp(i64(num), i64(den))).item()
    return value


def _sales_lazy(frame: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """A sales frame, lazy, its integer columns Int64 whatever it was built with."""
    return as_int64(frame.lazy(), SALES_SCHEMA_INT)


def summaries_frame(
    sales: pl.DataFrame | pl.LazyFrame,
    now_ns: int,
    *,
    key: str = "sku",
    retail: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """All summary figures per ``key`` (``sku`` or ``style``) in one pass.

    Args:
        sales: a sales frame (see the module docstring) in time order.
        now_ns: the present; sales after it are ignored.
        key: the column to group by: ``sku`` per size, ``style`` per product.
        retail: optional frame ``(key, retail_price_cents)`` for the premium.

    Returns:
        One row per key that has sales, with ``last_sale_cents``,
        ``last_sale_time`` (ns), ``sales_count``, ``average_price_cents``,
        ``volume_24h``, ``volume_cents_24h``, ``volatility``,
        ``range_12m_low_cents``, ``range_12m_high_cents``,
        ``last_verified_sale_cents``, ``last_verified_sale_time``,
        ``range_12m_verified_low_cents``, ``range_12m_verified_high_cents``,
        ``change_24h_pct``, ``change_7d_pct``, ``change_30d_pct`` and
        ``retail_price_cents`` / ``price_premium_pct`` (null without retail).
    """
    lf = _sales_lazy(sales).filter(pl.col("time") <= i64(now_ns))
    if "settlement_status" in lf.collect_schema().names():
        lf = lf.filter(pl.col("settlement_status") != "canceled")
        verified = pl.col("settlement_status") == VERIFIED_STATUS
    else:
        verified = pl.lit(False, dtype=pl.Boolean)  # unknown: no verified figures
    time, price, qty = pl.col("time"), pl.col("price_cents"), pl.col("quantity")
    value = price * qty
    in_24h = time > i64(now_ns - WINDOW_24H)
    in_30d = time > i64(now_ns - WINDOW_30D)
    in_12m = time > i64(now_ns - WINDOW_12M)
    # log returns between consecutive sales of the group inside the 30-day window
    returns = price.filter(in_30d).cast(pl.Float64).log().diff()
    agg = (
        lf.group_by(key)
        .agg(
            last_sale_cents=price.last(),
            last_sale_time=time.last(),
            sales_count=qty.sum(),
            value_sum=value.sum(),
            volume_24h=qty.filter(in_24h).sum(),
            volume_cents_24h=value.filter(in_24h).sum(),
            n_returns=int64_count(price.filter(in_30d).len()) - i64(1),
            volatility=returns.std(ddof=1),
            range_12m_low_cents=price.filter(in_12m).min(),
            range_12m_high_cents=price.filter(in_12m).max(),
            last_verified_sale_cents=price.filter(verified).last(),
            last_verified_sale_time=time.filter(verified).last(),
            range_12m_verified_low_cents=price.filter(in_12m & verified).min(),
            range_12m_verified_high_cents=price.filter(in_12m & verified).max(),
            ref_24h=price.filter(time <= i64(now_ns - WINDOW_24H)).last(),
            ref_7d=price.filter(time <= i64(now_ns - WINDOW_7D)).last(),
            ref_30d=price.filter(time <= i64(now_ns - WINDOW_30D)).last(),
        )
        .with_columns(
            average_price_cents=(pl.col("value_sum") * i64(2) + pl.col("sales_count"))
            // (pl.col("sales_count") * i64(2)),
            volatility=pl.when(pl.col("n_returns") >= i64(2)).then(pl.col("volatility")),
            change_24h_pct=pct_2dp(pl.col("last_sale_cents"), pl.col("ref_24h")),
            change_7d_pct=pct_2dp(pl.col("last_sale_cents"), pl.col("ref_7d")),
            change_30d_pct=pct_2dp(pl.col("last_sale_cents"), pl.col("ref_30d")),
        )
    )
    if retail is not None:
        agg = agg.join(
            retail.lazy().select(key, pl.col("retail_price_cents").cast(pl.Int64)),
            on=key,
            how="left",
        )
    else:
        agg = agg.with_columns(retail_price_cents=i64(None))
    agg = agg.with_columns(
        price_premium_pct=pct_2dp(pl.col("last_sale_cents"), pl.col("retail_price_cents"))
    )
    return agg.select(
        key,
        "last_sale_cents",
        "last_sale_time",
        "sales_count",
        "average_price_cents",
        "volume_24h",
        "volume_cents_24h",
        "volatility",
        "range_12m_low_cents",
        "range_12m_high_cents",
        "last_verified_sale_cents",
        "last_verified_sale_time",
        "range_12m_verified_low_cents",
        "range_12m_verified_high_cents",
        "change_24h_pct",
        "change_7d_pct",
        "change_30d_pct",
        "retail_price_cents",
        "price_premium_pct",
    ).collect()


def summary_row_to_dict(
    key_name: str,
    key: str,
    row: Mapping[str, Any] | None,
    *,
    retail_price_cents: int | None,
    best_bid: int | None,
    best_ask: int | None,
) -> dict[str, Any]:
    """The wire shape of one summary (``row`` None: no sales yet)."""
    r: Mapping[str, Any] = row or {}
    last = r.get("last_sale_cents")
    premium = r.get("price_premium_pct")
    if premium is None:
        premium = pct_2dp_of(last, retail_price_cents)
    volatility = r.get("volatility")
    return {
        key_name: key,
        "lowest_ask_cents": best_ask,
        "highest_bid_cents": best_bid,
        "last_sale_cents": last,
        "last_sale_time": rfc3339_opt(r.get("last_sale_time")),
        "sales_count": r.get("sales_count") or 0,
        "average_price_cents": r.get("average_price_cents"),
        "volume_24h": r.get("volume_24h") or 0,
        "volume_cents_24h": r.get("volume_cents_24h") or 0,
        "retail_price_cents": retail_price_cents,
        "price_premium_pct": premium,
        "volatility": None if volatility is None else round(float(volatility), 6),
        "range_12m": {
            "low_cents": r.get("range_12m_low_cents"),
            "high_cents": r.get("range_12m_high_cents"),
        },
        "last_verified_sale_cents": r.get("last_verified_sale_cents"),
        "last_verified_sale_time": rfc3339_opt(r.get("last_verified_sale_time")),
        "range_12m_verified": {
            "low_cents": r.get("range_12m_verified_low_cents"),
            "high_cents": r.get("range_12m_verified_high_cents"),
        },
        "change_24h_pct": r.get("change_24h_pct"),
        "change_7d_pct": r.get("change_7d_pct"),
        "change_30d_pct": r.get("change_30d_pct"),
    }


def candles_frame(
    sales: pl.DataFrame | pl.LazyFrame,
    interval: str,
    start_ns: int | None = None,
    end_ns: int | None = None,
) -> pl.DataFrame:
    """OHLCV candles of a sales frame (all rows together, e.g. one SKU or product).

    Args:
        sales: a sales frame in time order.
        interval: ``1m``, ``1h``, ``1d`` or ``1w`` (Monday 00:00 UTC).
        start_ns: first time included (None: from the first sale).
        end_ns: first time excluded (None: to the last sale).

    Returns:
        ``start`` (int ns of the interval's start), ``open_cents``,
        ``high_cents``, ``low_cents``, ``close_cents``, ``volume``; one row per
        interval that has a sale (empty intervals are omitted).

    Raises:
        ExchangeError: ``validation_error`` for an unknown interval.
    """
    if interval not in INTERVALS:
        raise ExchangeError(
            "validation_error", f"interval must be one of {', '.join(INTERVALS)}, not {interval!r}."
        )
    lf = _sales_lazy(sales)
    if "settlement_status" in lf.collect_schema().names():
        lf = lf.filter(pl.col("settlement_status") != "canceled")
    if start_ns is not None:
        lf = lf.filter(pl.col("time") >= i64(start_ns))
    if end_ns is not None:
        lf = lf.filter(pl.col("time") < i64(end_ns))
    lf = lf.with_columns(ts=pl.from_epoch("time", time_unit="ns")).sort("ts", maintain_order=True)
    return (
        lf.group_by_dynamic(
            "ts",
            every=interval,
            closed="left",
            label="left",
            # windows are aligned to the epoch; weeks to Monday (1970-01-01 was a Thursday)
            start_by="monday" if interval == "1w" else "window",
        )
        .agg(
            open_cents=pl.col("price_cents").first(),
            high_cents=pl.col("price_cents").max(),
            low_cents=pl.col("price_cents").min(),
            close_cents=pl.col("price_cents").last(),
            volume=pl.col("quantity").sum(),
        )
        .select(
            start=pl.col("ts").dt.epoch("ns"),
            open_cents="open_cents",
            high_cents="high_cents",
            low_cents="low_cents",
            close_cents="close_cents",
            volume="volume",
        )
        .collect()
    )


class Analytics:
    """Market data and portfolio figures read from a :class:`TradeStore`.

    Args:
        store: the trade store.
        flush: called before every read (e.g. ``StoreWriter.flush``) so that a
            just-made trade is visible; None when the store is written in-line.
    """

    def __init__(self, store: TradeStore, *, flush: Callable[[], None] | None = None) -> None:
        self.store = store
        self._flush = flush

    # -- reading -----------------------------------------------------------

    def _read(self, query: Select[Any], schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
        if self._flush is not None:
            self._flush()
        with self.store.engine.connect() as conn:
            frame = pl.read_database(query, conn, schema_overrides=dict(schema))
        # An empty result has Null columns; give it the schema the frame functions expect.
        return frame.cast({c: t for c, t in schema.items() if c in frame.columns})

    def _sales_query(self, *, with_status: bool = False) -> Select[Any]:
        columns = [TRADES.c[c] for c in (SALES_STATUS_SCHEMA if with_status else SALES_SCHEMA)]
        return select(*columns).where(TRADES.c.settlement_status != "canceled")

    def sales(
        self,
        *,
        skus: Sequence[str] | None = None,
        style: str | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
        with_status: bool = False,
    ) -> pl.DataFrame:
        """Sales (non-canceled trades) in time order, optionally narrowed.

        Args:
            skus: only these SKUs.
            style: only this product's SKUs.
            start_ns: only sales at or after this time.
            end_ns: only sales at or before this time (inclusive: "as of").
            with_status: add ``settlement_status`` (the verified view needs it).
        """
        q = self._sales_query(with_status=with_status)
        if skus is not None:
            q = q.where(TRADES.c.sku.in_(list(skus)))
        if style is not None:
            q = q.where(TRADES.c.style == style)
        if start_ns is not None:
            q = q.where(TRADES.c.time >= start_ns)
        if end_ns is not None:
            q = q.where(TRADES.c.time <= end_ns)
        schema = SALES_STATUS_SCHEMA if with_status else SALES_SCHEMA
        return self._read(q.order_by(TRADES.c.time, TRADES.c.id), schema)

    # -- market summaries --------------------------------------------------

    def sku_summary(
        self,
        sku: str,
        *,
        now_ns: int,
        retail_price_cents: int | None = None,
        best_bid: int | None = None,
        best_ask: int | None = None,
    ) -> dict[str, Any]:
        """A SKU's market summary (figures as in the module docstring).

        ``best_bid`` / ``best_ask`` are the live book's, passed in by the
        caller (the venue's released L2 mirror).
        """
        sales = self.sales(skus=[sku], end_ns=now_ns, with_status=True)
        frame = summaries_frame(sales, now_ns)
        row = frame.row(0, named=True) if frame.height else None
        return summary_row_to_dict(
            "sku",
            sku,
            row,
            retail_price_cents=retail_price_cents,
            best_bid=best_bid,
            best_ask=best_ask,
        )

    def product_summary(
        self,
        style: str,
        *,
        now_ns: int,
        retail_price_cents: int | None = None,
        best_bid: int | None = None,
        best_ask: int | None = None,
        skus: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """A product's summary over all its sizes, the same figures as a SKU's.

        Sales are those whose trade row carries ``style``; pass ``skus`` to
        select by SKU instead. ``best_bid`` is the highest bid of any size and
        ``best_ask`` the lowest ask (the caller's to compute).
        """
        if skus is not None:
            sales = self.sales(skus=skus, end_ns=now_ns, with_status=True)
            sales = sales.with_columns(style=pl.lit(style, dtype=pl.String))
        else:
            sales = self.sales(style=style, end_ns=now_ns, with_status=True)
        frame = summaries_frame(sales, now_ns, key="style")
        row = frame.row(0, named=True) if frame.height else None
        return summary_row_to_dict(
            "style",
            style,
            row,
            retail_price_cents=retail_price_cents,
            best_bid=best_bid,
            best_ask=best_ask,
        )

    def all_sku_summaries(
        self, now_ns: int, *, retail: Mapping[str, int] | None = None
    ) -> pl.DataFrame:
        """Every traded SKU's summary figures in one frame (one pass over the sales).

        Args:
            now_ns: the present.
            retail: optional SKU -> retail price, for the premium.
        """
        retail_frame = (
            pl.DataFrame(
                {"sku": list(retail), "retail_price_cents": list(retail.values())},
                schema={"sku": pl.String, "retail_price_cents": pl.Int64},
            )
            if retail
            else None
        )
        sales = self.sales(end_ns=now_ns, with_status=True)
        return summaries_frame(sales, now_ns, retail=retail_frame)

    # -- price history -----------------------------------------------------

    def candles_table(
        self, skus: Sequence[str], interval: str, start_ns: int | None, end_ns: int | None
    ) -> pl.DataFrame:
        """:func:`candles_frame` of the sales of ``skus`` (one SKU, or a product's)."""
        if interval not in INTERVALS:
            raise ExchangeError(
                "validation_error",
                f"interval must be one of {', '.join(INTERVALS)}, not {interval!r}.",
            )
        sales = self.sales(
            skus=skus, start_ns=start_ns, end_ns=None if end_ns is None else end_ns - 1
        )
        return candles_frame(sales, interval, start_ns, end_ns)

    def candles(
        self,
        skus: Sequence[str],
        interval: str = "1h",
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> list[dict[str, Any]]:
        """Candles ``{start, open_cents, high_cents, low_cents, close_cents, volume}``.

        ``start`` is RFC 3339; empty intervals are omitted (module docstring).

        Raises:
            ExchangeError: ``validation_error`` for an unknown interval.
        """
        return frame_rows(self.candles_table(skus, interval, start_ns, end_ns), ("start",))

    def export_candles(
        self,
        skus: Sequence[str],
        interval: str,
        fmt: str,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> bytes:
        """Candles as ``json``, ``csv`` or ``parquet`` bytes (see :func:`frame_bytes`).

        The one encoding of candles for files: the API's CSV and Parquet
        answers are these bytes; its JSON answer wraps :meth:`candles`.
        """
        frame = self.candles_table(skus, interval, start_ns, end_ns)
        return frame_bytes(frame, fmt, ("start",))

    def export_trades(
        self,
        fmt: str,
        sku: str | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> bytes:
        """Public trade history (canceled trades included, with their status) as bytes.

        Columns: id, sku, price_cents, quantity, taker_side, buy_order_id,
        sell_order_id, time, settlement_status; oldest first.
        """
        check_format(fmt)
        q = select(*(TRADES.c[c] for c in TRADE_EXPORT_COLUMNS))
        if sku is not None:
            q = q.where(TRADES.c.sku == sku)
        if start_ns is not None:
            q = q.where(TRADES.c.time >= start_ns)
        if end_ns is not None:
            q = q.where(TRADES.c.time < end_ns)
        frame = self._read(q.order_by(TRADES.c.time, TRADES.c.id), TRADE_EXPORT_SCHEMA)
        return frame_bytes(frame, fmt, ("time",))

    # -- portfolios --------------------------------------------------------

    def _holdings(self, account_id: str, *, include_removed: bool) -> pl.DataFrame:
        q = select(
            HOLDINGS.c.id,
            HOLDINGS.c.sku,
            HOLDINGS.c.condition,
            HOLDINGS.c.source,
            HOLDINGS.c.purchase_price_cents,
            HOLDINGS.c.acquired_at,
            HOLDINGS.c.removed,
        ).where(HOLDINGS.c.account_id == account_id)
        if not include_removed:
            q = q.where(HOLDINGS.c.removed == False)  # noqa: E712 (SQL, not Python)
        return self._read(
            q.order_by(HOLDINGS.c.id),
            {
                "id": pl.Int64(),
                "sku": pl.String(),
                "condition": pl.String(),
                "source": pl.String(),
                "purchase_price_cents": pl.Int64(),
                "acquired_at": pl.Int64(),
                "removed": pl.Boolean(),
            },
        )

    def _realized(self, account_id: str) -> pl.DataFrame:
        q = select(REALIZED.c.holding_id, REALIZED.c.gain_cents, REALIZED.c.time).where(
            REALIZED.c.account_id == account_id
        )
        return self._read(
            q, {"holding_id": pl.Int64(), "gain_cents": pl.Int64(), "time": pl.Int64()}
        )

    def _last_sales(self, skus: Iterable[str], at_ns: int) -> pl.DataFrame:
        """Each SKU's last sale at or before ``at_ns`` (one indexed look-up per SKU).

        A sales frame (time order) with at most one row per SKU.
        """
        rows: list[dict[str, Any]] = []
        if self._flush is not None:
            self._flush()
        base = self._sales_query().where(TRADES.c.time <= at_ns)
        with self.store.engine.connect() as conn:
            for sku in sorted(set(skus)):
                q = (
                    base.where(TRADES.c.sku == sku)
                    .order_by(TRADES.c.time.desc(), TRADES.c.id.desc())
                    .limit(1)
                )
                row = conn.execute(q).first()
                if row is not None:
                    rows.append(dict(row._mapping))
        return pl.DataFrame(rows, schema=SALES_SCHEMA).sort("time", "id")

    def portfolio(
        self,
        account_id: str,
        mark: str = "last_sale",
        *,
        now_ns: int,
        bests: Mapping[str, tuple[int | None, int | None]] | None = None,
        net_fn: Callable[[int], int] | None = None,
    ) -> dict[str, Any]:
        """Value an account's live holdings at a mark (see :mod:`exchange.valuation`).

        Args:
            account_id: whose portfolio.
            mark: ``last_sale``, ``highest_bid``, ``lowest_ask`` or ``mid``.
            now_ns: the present (last sales after it are ignored).
            bests: SKU -> (best bid, best ask) of the live books.
            net_fn: price -> seller's net proceeds after fees (``highest_bid`` only).

        Raises:
            ExchangeError: ``validation_error`` for an unknown mark.
        """
        if mark not in MARKS:
            raise ExchangeError(
                "validation_error", f"mark must be one of {', '.join(MARKS)}, not {mark!r}."
            )
        holdings = self._holdings(account_id, include_removed=False)
        skus = holdings["sku"].unique().to_list()
        last_sales: dict[str, int] = {}
        if mark == "last_sale":
            last = self._last_sales(skus, now_ns)
            last_sales = dict(last.select("sku", "price_cents").iter_rows())
        items = valuation_frame(holdings, mark, last_sales=last_sales, bests=bests or {})
        realized = int(self._realized(account_id)["gain_cents"].sum())
        totals = valuation_totals(items)
        totals["realized_gain_cents"] = realized
        rows = items.to_dicts()
        out_items = []
        for row in rows:
            item = {
                "id": row["id"],
                "sku": row["sku"],
                "condition": row["condition"],
                "source": row["source"],
                "purchase_price_cents": row["purchase_price_cents"],
                "acquired_at": rfc3339(row["acquired_at"]),
                "mark_cents": row["mark_cents"],
                "market_value_cents": row["market_value_cents"],
                "unrealized_gain_cents": row["unrealized_gain_cents"],
            }
            if mark == "highest_bid":
                bid = row["mark_cents"]
                item["net_proceeds_cents"] = (
                    None if bid is None else (net_fn(bid) if net_fn is not None else bid)
                )
            out_items.append(item)
        if mark == "highest_bid":
            nets = (i["net_proceeds_cents"] for i in out_items)
            totals["net_proceeds_cents"] = sum(n for n in nets if n is not None)
        return {"mark": mark, "items": out_items, "totals": totals}

    def portfolio_history(
        self,
        account_id: str,
        interval: str = "1d",
        start_ns: int | None = None,
        end_ns: int | None = None,
        *,
        now_ns: int,
    ) -> dict[str, Any]:
        """The portfolio's value over time, each point marked as of its own end.

        A point covers ``[t, t + interval)``; it values what the account held
        at its end (``acquired_at <= as_of`` and not yet sold) at the last sale
        at or before ``as_of`` (an as-of join), where ``as_of`` is the end of
        the interval minus 1 ns, or now for the current one. Sold holdings count
        until their sale's time; hand-added items that were taken back count
        nowhere. The work grows with holdings + sales + points, never with
        their product (:func:`exchange.valuation.history_frame`).

        Without ``start_ns`` the history starts at the first acquisition (or 30
        days back), and pages: when that is more than
        :data:`~exchange.valuation.MAX_HISTORY_POINTS` points before the end,
        the answer holds the latest ones and ``earlier_end`` is the time to
        pass as ``end`` for the page before (null when nothing is left out).

        Raises:
            ExchangeError: ``validation_error`` for an unknown interval;
                ``range_too_large`` (400) for an explicit ``start_ns`` more than
                ``MAX_HISTORY_POINTS`` points before the end.
        """
        holdings = self._holdings(account_id, include_removed=True)
        realized = self._realized(account_id)
        end = now_ns if end_ns is None else min(end_ns, now_ns + 1)
        earlier_end: int | None = None
        if start_ns is None:
            start_ns = (
                int(holdings["acquired_at"].min())  # type: ignore[arg-type]
                if holdings.height
                else now_ns - 30 * DAY_NS
            )
            # A default range is never refused as too long (the collector did
            # not choose it) nor cut silently: it pages.
            step = HISTORY_INTERVALS.get(interval)
            if step is not None and start_ns < end - (MAX_HISTORY_POINTS - 1) * step:
                start_ns = end - (MAX_HISTORY_POINTS - 1) * step
                earlier_end = start_ns
        points = history_points(interval, start_ns, max(end, start_ns + 1), now_ns)
        skus = holdings["sku"].unique().to_list()
        if skus and points.height:
            first = int(points["start"].min())  # type: ignore[arg-type]
            last_as_of = int(points["as_of"].max())  # type: ignore[arg-type]
            # The sales inside the range, plus each SKU's last one before it (its
            # mark on the first points), not the whole history of the SKUs.
            sales = pl.concat(
                [
                    self._last_sales(skus, first - 1),
                    self.sales(skus=skus, start_ns=first, end_ns=last_as_of),
                ]
            )
        else:
            sales = pl.DataFrame(schema=SALES_SCHEMA)
        frame = history_frame(holdings, realized, sales, points)
        if earlier_end is not None and frame.height:
            earlier_end = int(frame["start"][0])  # the first point's start, on the boundary
        key = "time" if interval in ("1m", "1h") else "date"
        out = []
        for row in frame.to_dicts():
            point: dict[str, Any] = {"time": rfc3339(row["start"])}
            if key == "date":
                point["date"] = point["time"][:10]
            point.update(
                value_cents=row["value_cents"],
                cost_cents=row["cost_cents"],
                unpriced_count=row["unpriced_count"],
                count=row["count"],
            )
            out.append(point)
        return {"interval": interval, "points": out, "earlier_end": rfc3339_opt(earlier_end)}
