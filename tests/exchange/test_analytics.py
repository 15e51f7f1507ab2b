"""Market summaries, candles and exports on hand-computed cases, pure and through the store."""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime
from typing import Any

import orjson
import polars as pl
import pytest

from exchange.analytics import (
    SALES_SCHEMA,
    Analytics,
    candles_frame,
    pct_2dp,
    pct_2dp_of,
    summaries_frame,
)
from exchange.catalog import PRICE_CEILING_CENTS
from exchange.errors import ExchangeError
from exchange.store import StoreWriter, TradeStore

DAY = 86_400 * 10**9
HOUR = 3600 * 10**9
SKU = "DZ5485-612-10"
STYLE = "DZ5485-612"


def ns(*args: int) -> int:
    """UTC datetime fields -> int ns."""
    return int(datetime(*args, tzinfo=UTC).timestamp()) * 10**9  # type: ignore[misc]


NOW = ns(2024, 6, 1)


def sales(rows: list[tuple[int, int, int]], sku: str = SKU, status: list[str] | None = None,
          ) -> pl.DataFrame:  # fmt: skip
    """A sales frame from (time, price, quantity) rows, ids in row order."""
    frame = pl.DataFrame(
        {
            "sku": [sku] * len(rows),
            "style": [sku.rsplit("-", 1)[0]] * len(rows),
            "id": list(range(1, len(rows) + 1)),
            "time": [r[0] for r in rows],
            "price_cents": [r[1] for r in rows],
            "quantity": [r[2] for r in rows],
        },
        schema=SALES_SCHEMA,
    )
    if status is not None:
        frame = frame.with_columns(settlement_status=pl.Series(status))
    return frame


# The worked example. Sales of one SKU, now = 2024-06-01T00:00Z:
#   now-400d 10000, now-40d 12000, now-10d 11000, now-2d 12100, now-1h 10890 x2,
#   a canceled trade (99999) and one after now (1), both ignored.
EXAMPLE = [
    (NOW - 400 * DAY, 10_000, 1, "delivered"),
    (NOW - 40 * DAY, 12_000, 1, "delivered"),
    (NOW - 10 * DAY, 11_000, 1, "delivered"),
    (NOW - 2 * DAY, 12_100, 1, "shipped"),
    (NOW - HOUR, 10_890, 2, "awaiting_shipment"),
    (NOW - HOUR // 2, 99_999, 1, "canceled"),
    (NOW + HOUR, 1, 1, "delivered"),
]
EXPECTED: dict[str, Any] = {
    "last_sale_cents": 10_890,
    "sales_count": 6,  # items: 1+1+1+1+2
    "average_price_cents": 11_147,  # 66880 / 6 = 11146.67, half up
    "volume_24h": 2,
    "volume_cents_24h": 21_780,
    "range_12m": {"low_cents": 10_890, "high_cents": 12_100},
    "change_24h_pct": -10.0,  # vs 12100 (at now-2d)
    "change_7d_pct": -1.0,  # vs 11000 (at now-10d)
    "change_30d_pct": -9.25,  # vs 12000 (at now-40d)
    "price_premium_pct": 12.27,  # (10890-9700)/9700 = 12.268%
}
# 30-day window: 11000 -> 12100 -> 10890: returns ln(1.1), ln(0.9); sample std
EXPECTED_VOL = abs(math.log(1.1) - math.log(0.9)) / math.sqrt(2)


def example_frame() -> pl.DataFrame:
    return sales([r[:3] for r in EXAMPLE], status=[r[3] for r in EXAMPLE])


def test_pct_rounds_half_away_from_zero() -> None:
    got = pl.select(
        a=pct_2dp(pl.lit(33), pl.lit(32)),  # +3.125%
        b=pl.lit(31).pipe(pct_2dp, pl.lit(32)),  # -3.125%
        c=pct_2dp(pl.lit(4), pl.lit(3)),  # 33.333%
        d=pct_2dp(pl.lit(9), pl.lit(8)),  # 12.5%
        e=pct_2dp(pl.lit(5), pl.lit(None, dtype=pl.Int64)),
    ).row(0)
    assert got == (3.13, -3.13, 33.33, 12.5, None)


# -- 64-bit money: prices up to the band's top and the API's ceiling --------

# A Rolex Submariner (retail $10,100) sold at $12,500, at its band's top
# (100x retail) and at the largest price the API accepts, with the retail
# that allows it. Premiums by hand: 2,400,000 / 1,010,000 = 23.7624%; 99x = 9900%.
ROLEX_RETAIL = 1_010_000
BIG = [
    (ROLEX_RETAIL, 1_250_000, 23.76),
    (ROLEX_RETAIL, 100 * ROLEX_RETAIL, 9_900.0),
    (ROLEX_RETAIL, ROLEX_RETAIL + 107_375, 10.63),  # past 2**31 / 20000 cents above retail
    (PRICE_CEILING_CENTS // 100, PRICE_CEILING_CENTS, 9_900.0),
    (PRICE_CEILING_CENTS, 100, -100.0),
]


@pytest.mark.parametrize(("retail", "price", "premium"), BIG)
def test_premium_is_exact_at_any_price_and_literal_type(
    retail: int, price: int, premium: float
) -> None:
    assert pct_2dp_of(price, retail) == premium
    # polars 2 types small Python literals as Int32: pct_2dp must not care
    got = pl.select(pct_2dp(pl.lit(price), pl.lit(retail))).item()
    assert got == premium
    if price < 2**31 and retail < 2**31:
        int32 = pct_2dp(pl.lit(price, dtype=pl.Int32), pl.lit(retail, dtype=pl.Int32))
        assert pl.select(int32).item() == premium


@pytest.mark.parametrize(("retail", "price", "premium"), BIG)
def test_summary_and_candles_at_the_band_top(retail: int, price: int, premium: float) -> None:
    rows = [(NOW - 2 * DAY, retail, 1), (NOW - HOUR, price, 100), (NOW - 1, price, 100)]
    # built with 32-bit integer columns where the values fit, as a caller might
    narrow = {"price_cents": pl.Int32, "quantity": pl.Int32} if max(retail, price) < 2**31 else {}
    frame = sales(rows).cast(narrow)  # type: ignore[arg-type]
    retail_frame = pl.DataFrame({"sku": [SKU], "retail_price_cents": [retail]})
    row = summaries_frame(frame, NOW, retail=retail_frame).row(0, named=True)
    assert row["price_premium_pct"] == premium
    assert row["change_24h_pct"] == premium
    assert row["volume_cents_24h"] == 200 * price
    assert row["average_price_cents"] == (retail + 200 * price) // 201 + (
        (retail + 200 * price) % 201 * 2 >= 201
    )
    candle = candles_frame(frame, "1d").row(-1, named=True)
    assert (candle["high_cents"], candle["volume"]) == (price, 200)


def test_summary_figures_by_hand() -> None:
    retail = pl.DataFrame({"sku": [SKU], "retail_price_cents": [9_700]})
    row = summaries_frame(example_frame(), NOW, retail=retail).row(0, named=True)
    assert row["last_sale_cents"] == EXPECTED["last_sale_cents"]
    assert row["last_sale_time"] == NOW - HOUR
    for key in (
        "sales_count",
        "average_price_cents",
        "volume_24h",
        "volume_cents_24h",
        "change_24h_pct",
        "change_7d_pct",
        "change_30d_pct",
        "price_premium_pct",
    ):
        assert row[key] == EXPECTED[key], key  # fmt: skip
    assert (row["range_12m_low_cents"], row["range_12m_high_cents"]) == (10_890, 12_100)
    assert row["volatility"] == pytest.approx(EXPECTED_VOL, rel=1e-12)
    assert round(EXPECTED_VOL, 6) == 0.141896  # 0.2006707 / sqrt(2)


def test_volatility_needs_two_returns_and_changes_need_a_reference() -> None:
    two_sales = sales([(NOW - 2 * HOUR, 10_000, 1), (NOW - HOUR, 11_000, 1)])
    row = summaries_frame(two_sales, NOW).row(0, named=True)
    assert row["volatility"] is None  # one return only
    assert row["change_24h_pct"] is None  # no sale at or before now-24h
    assert row["price_premium_pct"] is None  # no retail given
    # a sale exactly at now-24h is the reference ("at or before")
    edge = sales([(NOW - DAY, 10_000, 1), (NOW, 12_000, 1)])
    row = summaries_frame(edge, NOW).row(0, named=True)
    assert row["change_24h_pct"] == 20.0
    assert row["volume_24h"] == 1  # the window is (now-24h, now]


def test_canceled_trades_are_not_sales() -> None:
    rows = [(NOW - 3 * HOUR, 10_000, 1), (NOW - 2 * HOUR, 50_000, 1), (NOW - HOUR, 10_100, 1)]
    frame = sales(rows, status=["delivered", "canceled", "delivered"])
    row = summaries_frame(frame, NOW).row(0, named=True)
    assert row["sales_count"] == 2
    assert row["range_12m_high_cents"] == 10_100
    candles = candles_frame(frame, "1d")
    assert candles["high_cents"].to_list() == [10_100]


def test_all_skus_in_one_pass_and_per_product() -> None:
    a = sales([(NOW - 3 * HOUR, 10_000, 1), (NOW - HOUR, 12_000, 1)], sku="P1-9")
    b = sales([(NOW - 2 * HOUR, 20_000, 3)], sku="P1-10")
    both = pl.concat([a, b]).sort("time")
    per_sku = summaries_frame(both, NOW).sort("sku")
    assert per_sku["sku"].to_list() == ["P1-10", "P1-9"]
    assert per_sku["last_sale_cents"].to_list() == [20_000, 12_000]
    per_product = summaries_frame(both, NOW, key="style").row(0, named=True)
    assert per_product["style"] == "P1"
    assert per_product["last_sale_cents"] == 12_000
    assert per_product["sales_count"] == 5
    assert per_product["average_price_cents"] == 16_400  # (10000 + 60000 + 12000) / 5


def test_candles_at_interval_edges_omit_empty_intervals() -> None:
    frame = sales(
        [
            (ns(2024, 1, 3, 10), 100, 1),  # first ns of the 10:00 candle
            (ns(2024, 1, 3, 10, 30), 300, 2),
            (ns(2024, 1, 3, 11) - 1, 200, 1),  # last ns of the 10:00 candle
            (ns(2024, 1, 3, 11), 400, 1),  # first ns of 11:00
            (ns(2024, 1, 3, 13, 15), 500, 4),  # 12:00 is empty: no candle
        ]
    )
    got = candles_frame(frame, "1h").to_dicts()
    assert got == [
        {"start": ns(2024, 1, 3, 10), "open_cents": 100, "high_cents": 300, "low_cents": 100,
         "close_cents": 200, "volume": 4},
        {"start": ns(2024, 1, 3, 11), "open_cents": 400, "high_cents": 400, "low_cents": 400,
         "close_cents": 400, "volume": 1},
        {"start": ns(2024, 1, 3, 13), "open_cents": 500, "high_cents": 500, "low_cents": 500,
         "close_cents": 500, "volume": 4},
    ]  # fmt: skip
    # start inclusive, end exclusive
    window = candles_frame(frame, "1h", ns(2024, 1, 3, 10, 30), ns(2024, 1, 3, 11))
    assert window.rows() == [(ns(2024, 1, 3, 10), 300, 300, 200, 200, 3)]
    minutes = candles_frame(frame, "1m", ns(2024, 1, 3, 10, 59), ns(2024, 1, 3, 11, 1))
    assert minutes["start"].to_list() == [ns(2024, 1, 3, 10, 59), ns(2024, 1, 3, 11)]


def test_daily_and_weekly_candles_start_at_midnight_and_monday() -> None:
    frame = sales(
        [
            (ns(2024, 1, 3, 5), 100, 1),  # Wednesday
            (ns(2024, 1, 8) - 1, 200, 1),  # Sunday 23:59:59.999999999
            (ns(2024, 1, 8), 300, 1),  # Monday 00:00
            (ns(2024, 1, 20), 400, 1),  # Saturday; week of Jan 15
        ]
    )
    weeks = candles_frame(frame, "1w")
    assert weeks["start"].to_list() == [ns(2024, 1, 1), ns(2024, 1, 8), ns(2024, 1, 15)]
    assert weeks["close_cents"].to_list() == [200, 300, 400]
    days = candles_frame(frame, "1d")
    assert days["start"].to_list() == [
        ns(2024, 1, 3), ns(2024, 1, 7), ns(2024, 1, 8), ns(2024, 1, 20)
    ]  # fmt: skip
    with pytest.raises(ExchangeError) as err:
        candles_frame(frame, "1mo")
    assert err.value.code == "validation_error"


# -- through the store (SQLite and PostgreSQL) ------------------------------


def trade_op(i: int, time: int, price: int, qty: int = 1, status: str = "delivered",
             sku: str = SKU) -> tuple[str, dict[str, Any]]:  # fmt: skip
    return (
        "trade",
        {"id": i, "sku": sku, "style": sku.rsplit("-", 1)[0], "price_cents": price,
         "quantity": qty, "taker_side": "bid", "buy_order_id": 1, "sell_order_id": 2,
         "buyer_id": "acc_1", "seller_id": "acc_2", "time": time, "settlement_status": status},
    )  # fmt: skip


def test_sku_summary_from_the_store(store: TradeStore) -> None:
    store.write(trade_op(i, t, p, q, s) for i, (t, p, q, s) in enumerate(EXAMPLE, 1))
    got = Analytics(store).sku_summary(
        SKU, now_ns=NOW, retail_price_cents=9_700, best_bid=10_500, best_ask=11_000
    )
    for key, value in EXPECTED.items():
        assert got[key] == value, key
    assert got["volatility"] == pytest.approx(EXPECTED_VOL, abs=1e-6)
    assert got["last_sale_time"] == "2024-05-31T23:00:00.000Z"
    assert (got["sku"], got["highest_bid_cents"], got["lowest_ask_cents"]) == (SKU, 10_500, 11_000)


def test_a_rolex_far_above_retail_has_its_summary(store: TradeStore) -> None:
    """Regression: a $12,500 sale of a $10,100 watch made polars panic (Int32 literals)."""
    sku, style = "126610LN-OS", "126610LN"
    store.write([trade_op(1, NOW - HOUR, 1_250_000, sku=sku),
                 trade_op(2, NOW - 1, 100 * ROLEX_RETAIL, sku=sku)])  # fmt: skip
    analytics = Analytics(store)
    got = analytics.sku_summary(sku, now_ns=NOW, retail_price_cents=ROLEX_RETAIL)
    assert (got["last_sale_cents"], got["price_premium_pct"]) == (101_000_000, 9_900.0)
    assert got["range_12m"] == {"low_cents": 1_250_000, "high_cents": 101_000_000}
    before = analytics.sku_summary(sku, now_ns=NOW - 2, retail_price_cents=ROLEX_RETAIL)
    assert before["price_premium_pct"] == 23.76
    product = analytics.product_summary(style, now_ns=NOW, retail_price_cents=ROLEX_RETAIL)
    assert product["price_premium_pct"] == 9_900.0
    assert product["volume_cents_24h"] == 102_250_000


def test_the_verified_view_counts_only_delivered_sales(store: TradeStore) -> None:
    """A wash trade at 100x retail moves the matched view, not the verified one."""
    store.write([
        trade_op(1, NOW - 400 * DAY, 8_000),  # delivered, but older than 12 months
        trade_op(2, NOW - 30 * DAY, 10_000),
        trade_op(3, NOW - 20 * DAY, 12_500),
        trade_op(4, NOW - 2 * DAY, 11_000, status="canceled"),
        trade_op(5, NOW - DAY, 970_000, status="awaiting_shipment"),  # the wash trade
        trade_op(6, NOW - HOUR, 13_000, status="shipped"),
    ])  # fmt: skip
    analytics = Analytics(store)
    got = analytics.sku_summary(SKU, now_ns=NOW, retail_price_cents=9_700)
    # matched: every sale not canceled
    assert (got["last_sale_cents"], got["sales_count"]) == (13_000, 5)
    assert got["range_12m"] == {"low_cents": 10_000, "high_cents": 970_000}
    # verified: delivered only
    assert got["last_verified_sale_cents"] == 12_500
    assert got["last_verified_sale_time"] == "2024-05-12T00:00:00.000Z"
    assert got["range_12m_verified"] == {"low_cents": 10_000, "high_cents": 12_500}
    product = analytics.product_summary(STYLE, now_ns=NOW)
    assert product["last_verified_sale_cents"] == 12_500
    assert product["range_12m_verified"] == {"low_cents": 10_000, "high_cents": 12_500}
    by_skus = analytics.product_summary(STYLE, now_ns=NOW, skus=[SKU])
    assert by_skus["range_12m_verified"] == got["range_12m_verified"]
    frame = analytics.all_sku_summaries(NOW)
    assert frame["last_verified_sale_cents"].to_list() == [12_500]
    # no delivered sale yet: the verified view is empty, the matched one is not
    store.write([trade_op(7, NOW - HOUR, 50_000, status="shipped", sku=f"{STYLE}-11")])
    fresh = analytics.sku_summary(f"{STYLE}-11", now_ns=NOW)
    assert fresh["last_sale_cents"] == 50_000
    assert fresh["last_verified_sale_cents"] is None and fresh["last_verified_sale_time"] is None
    assert fresh["range_12m_verified"] == {"low_cents": None, "high_cents": None}


def test_a_frame_without_statuses_has_no_verified_view() -> None:
    row = summaries_frame(sales([(NOW - HOUR, 10_000, 1)]), NOW).row(0, named=True)
    assert row["last_sale_cents"] == 10_000
    assert row["last_verified_sale_cents"] is None
    assert row["range_12m_verified_low_cents"] is None


def test_summary_of_a_sku_without_sales(store: TradeStore) -> None:
    store.write([trade_op(1, NOW - HOUR, 10_000, status="canceled")])
    got = Analytics(store).sku_summary(SKU, now_ns=NOW, retail_price_cents=9_700, best_bid=None,
                                       best_ask=12_000)  # fmt: skip
    assert got["last_sale_cents"] is None
    assert got["sales_count"] == 0
    assert got["price_premium_pct"] is None
    assert got["volatility"] is None
    assert got["range_12m"] == {"low_cents": None, "high_cents": None}
    assert got["range_12m_verified"] == {"low_cents": None, "high_cents": None}
    assert got["last_verified_sale_cents"] is None
    assert got["lowest_ask_cents"] == 12_000


def test_product_summary_and_all_skus(store: TradeStore) -> None:
    store.write(
        [
            trade_op(1, NOW - 3 * HOUR, 10_000, sku=f"{STYLE}-9"),
            trade_op(2, NOW - 2 * HOUR, 20_000, qty=3, sku=f"{STYLE}-10"),
            trade_op(3, NOW - HOUR, 12_000, sku=f"{STYLE}-9"),
            trade_op(4, NOW - HOUR, 5_000, sku="OTHER-1"),
        ]
    )
    analytics = Analytics(store)
    got = analytics.product_summary(STYLE, now_ns=NOW, retail_price_cents=10_000)
    assert got["style"] == STYLE
    assert (got["last_sale_cents"], got["sales_count"]) == (12_000, 5)
    assert got["average_price_cents"] == 16_400  # (10000 + 60000 + 12000) / 5
    assert got["price_premium_pct"] == 20.0
    by_skus = analytics.product_summary(STYLE, now_ns=NOW, skus=[f"{STYLE}-9"])
    assert by_skus["sales_count"] == 2
    frame = analytics.all_sku_summaries(NOW, retail={"OTHER-1": 4_000}).sort("sku")
    assert frame["sku"].to_list() == [f"{STYLE}-10", f"{STYLE}-9", "OTHER-1"]
    assert frame["price_premium_pct"].to_list() == [None, None, 25.0]


def test_candles_and_exports_from_the_store(store: TradeStore) -> None:
    store.write(
        [
            trade_op(1, ns(2024, 1, 3, 10), 100),
            trade_op(2, ns(2024, 1, 3, 10, 30), 300, qty=2),
            trade_op(3, ns(2024, 1, 3, 10, 40), 900, status="canceled"),
            trade_op(4, ns(2024, 1, 3, 13), 500),
        ]
    )
    analytics = Analytics(store)
    got = analytics.candles([SKU], "1h", ns(2024, 1, 3), ns(2024, 1, 4))
    assert got == [
        {"start": "2024-01-03T10:00:00.000Z", "open_cents": 100, "high_cents": 300,
         "low_cents": 100, "close_cents": 300, "volume": 3},
        {"start": "2024-01-03T13:00:00.000Z", "open_cents": 500, "high_cents": 500,
         "low_cents": 500, "close_cents": 500, "volume": 1},
    ]  # fmt: skip
    assert analytics.candles([SKU], "1h", ns(2024, 1, 3, 11), ns(2024, 1, 3, 13)) == []
    as_json = orjson.loads(analytics.export_candles([SKU], "1d", "json"))
    assert as_json == [
        {"start": "2024-01-03T00:00:00.000Z", "open_cents": 100, "high_cents": 500,
         "low_cents": 100, "close_cents": 500, "volume": 4}
    ]  # fmt: skip

    trades_csv = analytics.export_trades("csv", sku=SKU).decode().splitlines()
    assert trades_csv[0].split(",")[:4] == ["id", "sku", "price_cents", "quantity"]
    assert len(trades_csv) == 5  # canceled trades are history too, with their status
    assert trades_csv[3].endswith(",2024-01-03T10:40:00.000Z,canceled")
    parquet = pl.read_parquet(io.BytesIO(analytics.export_trades("parquet")))
    assert parquet["id"].to_list() == [1, 2, 3, 4]
    assert parquet.schema["time"] == pl.Datetime("ms", "UTC")
    assert parquet["time"][0] == datetime(2024, 1, 3, 10, tzinfo=UTC)
    csv_read = pl.read_csv(io.BytesIO(analytics.export_trades("csv")), try_parse_dates=True)
    assert csv_read.schema["time"] == pl.Datetime("us", "UTC")
    assert csv_read["time"].to_list() == parquet["time"].to_list()
    assert orjson.loads(analytics.export_trades("json", sku="NONE")) == []
    with pytest.raises(ExchangeError):
        analytics.export_trades("xml")


def test_candle_files_carry_utc_timestamps_read_back_as_they_were(store: TradeStore) -> None:
    """One candle encoder: JSON rows, CSV and Parquet say the same instants.

    Regression: the API encoded candle files itself, from the JSON rows, so
    Parquet's ``start`` was a string column.
    """
    store.write([trade_op(1, ns(2024, 1, 3, 10, 15) + 123_456_789, 100),
                 trade_op(2, ns(2024, 1, 5, 9), 300, qty=2)])  # fmt: skip
    analytics = Analytics(store)
    rows = analytics.candles([SKU], "1d", ns(2024, 1, 1), ns(2024, 1, 8))
    assert [r["start"] for r in rows] == ["2024-01-03T00:00:00.000Z", "2024-01-05T00:00:00.000Z"]
    starts = [datetime(2024, 1, 3, tzinfo=UTC), datetime(2024, 1, 5, tzinfo=UTC)]

    parquet = pl.read_parquet(
        io.BytesIO(analytics.export_candles([SKU], "1d", "parquet", ns(2024, 1, 1), ns(2024, 1, 8)))
    )
    assert parquet.schema == pl.Schema({
        "start": pl.Datetime("ms", "UTC"), "open_cents": pl.Int64, "high_cents": pl.Int64,
        "low_cents": pl.Int64, "close_cents": pl.Int64, "volume": pl.Int64})  # fmt: skip
    assert parquet["start"].to_list() == starts
    assert parquet.drop("start").rows() == [(100, 100, 100, 100, 1), (300, 300, 300, 300, 2)]

    csv = analytics.export_candles([SKU], "1d", "csv", ns(2024, 1, 1), ns(2024, 1, 8))
    assert csv.decode().splitlines()[1].startswith("2024-01-03T00:00:00.000Z,100,")
    from_csv = pl.read_csv(io.BytesIO(csv), try_parse_dates=True)
    assert from_csv.schema["start"] == pl.Datetime("us", "UTC")
    assert from_csv["start"].to_list() == starts
    as_json = analytics.export_candles([SKU], "1d", "json", ns(2024, 1, 1), ns(2024, 1, 8))
    assert orjson.loads(as_json) == rows

    empty = analytics.export_candles([SKU], "1d", "parquet", ns(2023, 1, 1), ns(2023, 1, 8))
    assert pl.read_parquet(io.BytesIO(empty)).schema["start"] == pl.Datetime("ms", "UTC")


def test_reads_see_what_the_writer_was_given(store: TradeStore) -> None:
    writer = StoreWriter(store)
    try:
        analytics = Analytics(store, flush=writer.flush)
        writer.submit([trade_op(1, NOW - HOUR, 10_000)])
        # flush() runs before the read, so a just-made trade is always visible
        assert analytics.sku_summary(SKU, now_ns=NOW)["last_sale_cents"] == 10_000
    finally:
        writer.close()
