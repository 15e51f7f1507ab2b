"""Portfolio valuation and value history on a hand-computed case, pure and through the store."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import psutil
import pytest

from exchange.analytics import Analytics
from exchange.errors import ExchangeError
from exchange.store import TradeStore, sqlite_url
from exchange.valuation import (
    MAX_HISTORY_POINTS,
    history_frame,
    history_points,
    totals_by_account,
    value_at_marks,
)

from .conftest import STORE_BACKENDS, open_test_store

DAY = 86_400 * 10**9
HOUR = 3_600 * 10**9


def ns(*args: int) -> int:
    """UTC datetime fields -> int ns."""
    return int(datetime(*args, tzinfo=UTC).timestamp()) * 10**9  # type: ignore[misc]


NOW = ns(2024, 3, 5, 12)


def test_value_at_marks_and_totals_per_account() -> None:
    holdings = pl.DataFrame(
        {
            "account_id": ["a", "a", "b", "b"],
            "id": [1, 2, 3, 4],
            "sku": ["X", "Y", "X", "Z"],
            "purchase_price_cents": [100, 200, 150, 50],
        }
    )
    marks = pl.DataFrame({"sku": ["X", "Y"], "mark_cents": [120, 180]})
    valued = value_at_marks(holdings, marks).collect()
    assert valued["id"].to_list() == [1, 2, 3, 4]  # holdings' order kept
    assert valued["unrealized_gain_cents"].to_list() == [20, -20, -30, None]
    totals = totals_by_account(valued).sort("account_id").to_dicts()
    assert totals == [
        {"account_id": "a", "cost_cents": 300, "market_value_cents": 300,
         "unrealized_gain_cents": 0, "unpriced_count": 0, "count": 2},
        {"account_id": "b", "cost_cents": 200, "market_value_cents": 120,
         "unrealized_gain_cents": -30, "unpriced_count": 1, "count": 2},
    ]  # fmt: skip


def test_history_points_align_to_the_interval() -> None:
    wed = ns(2024, 1, 3, 5)
    weeks = history_points("1w", wed, ns(2024, 1, 16), now_ns=ns(2024, 1, 10))
    assert weeks["start"].to_list() == [ns(2024, 1, 1), ns(2024, 1, 8), ns(2024, 1, 15)]
    # as_of: the point's last ns, or now when that is earlier
    assert weeks["as_of"].to_list() == [ns(2024, 1, 8) - 1, ns(2024, 1, 10), ns(2024, 1, 10)]
    days = history_points("1d", wed, ns(2024, 1, 5), now_ns=NOW)
    assert days["start"].to_list() == [ns(2024, 1, 3), ns(2024, 1, 4)]
    assert history_points("1h", 0, MAX_HISTORY_POINTS * HOUR, now_ns=NOW).height == 10_000
    with pytest.raises(ExchangeError) as err:
        history_points("1h", 0, (MAX_HISTORY_POINTS + 1) * HOUR, now_ns=NOW)
    assert (err.value.code, err.value.status) == ("range_too_large", 400)
    assert "10001 points of 1h" in err.value.message and "at most 10000" in err.value.message
    with pytest.raises(ExchangeError) as err:
        history_points("2d", 0, DAY, now_ns=NOW)
    assert err.value.code == "validation_error"


def _naive_history(
    holdings: list[tuple[int, str, int, int]],
    sold: dict[int, int],
    sales: list[tuple[str, int, int]],
    as_ofs: list[int],
) -> list[tuple[int, int, int, int]]:
    """(value, cost, unpriced, count) per as_of, item by item: the definition, slowly."""
    out = []
    for as_of in as_ofs:
        value = cost = unpriced = count = 0
        for hid, sku, price, acquired in holdings:
            if acquired > as_of or (hid in sold and sold[hid] <= as_of):
                continue
            marks = [p for s, t, p in sales if s == sku and t <= as_of]  # time order
            count += 1
            cost += price
            if marks:
                value += marks[-1]
            else:
                unpriced += 1
        out.append((value, cost, unpriced, count))
    return out


@pytest.mark.parametrize("seed", range(20))
def test_history_frame_matches_the_definition(seed: int) -> None:
    rng = random.Random(seed)
    skus = ["A", "B", "C", "D"]
    holdings = [
        (i, rng.choice(skus), rng.randrange(1, 5_000), rng.randrange(0, 100)) for i in range(1, 30)
    ]
    # some sold, at any time (even before acquisition: then never held)
    sold = {h[0]: rng.randrange(0, 120) for h in holdings if rng.random() < 0.4}
    # ties in time on purpose: the last of an instant (by id) is the mark
    sales = sorted(
        ((rng.choice(skus[:3]), rng.randrange(0, 110), rng.randrange(1, 9_000)) for _ in range(40)),
        key=lambda s: s[1],
    )
    points = history_points("1m", 0, 120 * 60 * 10**9, now_ns=10**15).with_columns(
        as_of=pl.col("start") // (60 * 10**9)  # compress: one time unit per point
    )
    got = history_frame(
        pl.DataFrame(holdings, schema=["id", "sku", "purchase_price_cents", "acquired_at"],
                     orient="row"),
        pl.DataFrame({"holding_id": list(sold), "time": list(sold.values())}),
        pl.DataFrame({"sku": [s[0] for s in sales], "time": [s[1] for s in sales],
                      "price_cents": [s[2] for s in sales]}),
        points,
    )  # fmt: skip
    want = _naive_history(holdings, sold, sales, points["as_of"].to_list())
    rows = got.select("value_cents", "cost_cents", "unpriced_count", "count").rows()
    assert rows == want


# -- the worked example, through the store (SQLite and PostgreSQL) ----------
#
# Trades: A sells Mar 1 10:00 @10000, Mar 3 15:00 @12000, Mar 3 16:00 @50000 but
# canceled, Mar 5 09:00 @11000, Mar 5 18:00 @99900 (after now); B first sells
# Mar 4 12:00 @30000; C never trades. Now = Mar 5 12:00.
# Holdings of acc_1: h1 A bought Feb 28 12:00 @9000 (before A's first sale);
# h2 B Mar 2 09:00 @25000; h3 C Mar 1 08:00 @5000; h4 A Mar 2 10:00 @9500, sold
# Mar 4 08:00 for 11000 (realized +1500); h5 A added by hand Mar 1, taken back.


@pytest.fixture(params=STORE_BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TradeStore]:
    """The worked example in a store per backend (PostgreSQL: a unique schema)."""
    s = open_test_store(request.param, tmp_path)

    def trade(i: int, sku: str, time: int, price: int, status: str = "delivered") -> Any:
        return ("trade", {"id": i, "sku": sku, "style": sku, "price_cents": price, "quantity": 1,
                          "taker_side": "bid", "buy_order_id": 1, "sell_order_id": 2,
                          "buyer_id": "acc_9", "seller_id": "acc_8", "time": time,
                          "settlement_status": status})  # fmt: skip

    def holding(i: int, sku: str, time: int, price: int, source: str = "manual") -> Any:
        return ("holding", {"id": i, "account_id": "acc_1", "sku": sku,
                            "purchase_price_cents": price, "acquired_at": time,
                            "condition": "new", "source": source, "trade_id": None})  # fmt: skip

    s.write(
        [
            trade(1, "A", ns(2024, 3, 1, 10), 10_000),
            trade(2, "A", ns(2024, 3, 3, 15), 12_000),
            trade(3, "A", ns(2024, 3, 3, 16), 50_000, status="canceled"),
            trade(4, "B", ns(2024, 3, 4, 12), 30_000),
            trade(5, "A", ns(2024, 3, 5, 9), 11_000, status="awaiting_shipment"),
            trade(6, "A", ns(2024, 3, 5, 18), 99_900),
            holding(1, "A", ns(2024, 2, 28, 12), 9_000),
            holding(2, "B", ns(2024, 3, 2, 9), 25_000, source="exchange"),
            holding(3, "C", ns(2024, 3, 1, 8), 5_000),
            holding(4, "A", ns(2024, 3, 2, 10), 9_500, source="exchange"),
            holding(5, "A", ns(2024, 3, 1), 1_000),
            ("holding", {"id": 6, "account_id": "acc_2", "sku": "A", "purchase_price_cents": 1,
                         "acquired_at": 0, "condition": "used", "source": "manual",
                         "trade_id": None}),  # another account's
            ("realized", {"id": 1, "account_id": "acc_1", "sku": "A", "holding_id": 4,
                          "cost_cents": 9_500, "proceeds_cents": 11_000, "gain_cents": 1_500,
                          "time": ns(2024, 3, 4, 8)}),
            ("holding_delete", {"id": 4}),
            ("holding_delete", {"id": 5}),
        ]
    )  # fmt: skip
    try:
        yield s
    finally:
        s.drop_all()
        s.close()


def test_portfolio_at_last_sale(store: TradeStore) -> None:
    got = Analytics(store).portfolio("acc_1", "last_sale", now_ns=NOW)
    assert got["mark"] == "last_sale"
    items = {i["id"]: i for i in got["items"]}
    assert sorted(items) == [1, 2, 3]  # sold and taken-back holdings are gone
    assert items[1] == {
        "id": 1, "sku": "A", "condition": "new", "source": "manual",
        "purchase_price_cents": 9_000, "acquired_at": "2024-02-28T12:00:00.000Z",
        "mark_cents": 11_000, "market_value_cents": 11_000, "unrealized_gain_cents": 2_000,
    }  # fmt: skip
    assert items[2]["market_value_cents"] == 30_000
    assert items[3]["market_value_cents"] is None  # C never traded: unpriced
    assert items[3]["unrealized_gain_cents"] is None
    assert got["totals"] == {
        "cost_cents": 39_000, "market_value_cents": 41_000, "unrealized_gain_cents": 7_000,
        "realized_gain_cents": 1_500, "unpriced_count": 1, "count": 3,
    }  # fmt: skip


def test_portfolio_at_book_marks(store: TradeStore) -> None:
    analytics = Analytics(store)
    bests = {"A": (10_500, 11_601), "B": (None, 32_000)}
    bid = analytics.portfolio(
        "acc_1", "highest_bid", now_ns=NOW, bests=bests, net_fn=lambda p: p - p * 12 // 100
    )
    items = {i["id"]: i for i in bid["items"]}
    assert (items[1]["mark_cents"], items[1]["net_proceeds_cents"]) == (10_500, 9_240)
    assert items[2]["market_value_cents"] is None  # no bid for B
    assert items[2]["net_proceeds_cents"] is None
    assert bid["totals"]["market_value_cents"] == 10_500
    assert bid["totals"]["unrealized_gain_cents"] == 1_500
    assert bid["totals"]["unpriced_count"] == 2
    assert bid["totals"]["net_proceeds_cents"] == 9_240

    ask = analytics.portfolio("acc_1", "lowest_ask", now_ns=NOW, bests=bests)
    assert [i["mark_cents"] for i in ask["items"]] == [11_601, 32_000, None]
    assert "net_proceeds_cents" not in ask["items"][0]
    mid = analytics.portfolio("acc_1", "mid", now_ns=NOW, bests=bests)
    assert [i["mark_cents"] for i in mid["items"]] == [11_050, None, None]  # 22101 // 2
    with pytest.raises(ExchangeError) as err:
        analytics.portfolio("acc_1", "average", now_ns=NOW)
    assert err.value.code == "validation_error"


def test_empty_portfolio(store: TradeStore) -> None:
    got = Analytics(store).portfolio("acc_404", now_ns=NOW)
    assert got["items"] == []
    assert got["totals"] == {"cost_cents": 0, "market_value_cents": 0, "unrealized_gain_cents": 0,
                             "realized_gain_cents": 0, "unpriced_count": 0, "count": 0}  # fmt: skip
    history = Analytics(store).portfolio_history("acc_404", now_ns=NOW)
    assert len(history["points"]) == 31  # 30 days back by default, plus today
    assert {p["value_cents"] for p in history["points"]} == {0}


def test_portfolio_history_is_an_as_of_valuation(store: TradeStore) -> None:
    got = Analytics(store).portfolio_history("acc_1", "1d", now_ns=NOW)
    assert got["interval"] == "1d"
    rows = [(p["date"], p["value_cents"], p["cost_cents"], p["unpriced_count"], p["count"])
            for p in got["points"]]  # fmt: skip
    assert rows == [
        # h1 bought before A's first sale: unpriced
        ("2024-02-28", 0, 9_000, 1, 1),
        ("2024-02-29", 0, 9_000, 1, 1),  # a leap day, still no sale of A
        # A's first sale (10000); C unpriced
        ("2024-03-01", 10_000, 14_000, 1, 2),
        # h2 (B, not traded yet) and h4 join; A still 10000 (no trade that day)
        ("2024-03-02", 20_000, 48_500, 2, 4),
        # A at 12000 (the canceled 50000 is not a sale)
        ("2024-03-03", 24_000, 48_500, 2, 4),
        # h4 sold at 08:00; A still 12000 (no sale of A that day); B's first sale 30000
        ("2024-03-04", 42_000, 39_000, 1, 3),
        # today, as of now: A at 11000 (the 18:00 sale is in the future)
        ("2024-03-05", 41_000, 39_000, 1, 3),
    ]
    assert got["points"][0]["time"] == "2024-02-28T00:00:00.000Z"
    window = Analytics(store).portfolio_history(
        "acc_1", "1d", ns(2024, 3, 3, 12), ns(2024, 3, 5), now_ns=NOW
    )
    # the first point's marks come from sales before the range (A's Mar 1 sale for h4)
    assert [(p["date"], p["value_cents"]) for p in window["points"]] == [
        ("2024-03-03", 24_000),
        ("2024-03-04", 42_000),
    ]
    early = Analytics(store).portfolio_history(
        "acc_1", "1d", ns(2024, 3, 2), ns(2024, 3, 3), now_ns=NOW
    )
    assert [p["value_cents"] for p in early["points"]] == [20_000]  # A at its Mar 1 price
    hourly = Analytics(store).portfolio_history(
        "acc_1", "1h", ns(2024, 3, 3, 14), ns(2024, 3, 3, 16), now_ns=NOW
    )
    assert [(p["time"], p["value_cents"]) for p in hourly["points"]] == [
        ("2024-03-03T14:00:00.000Z", 20_000),
        ("2024-03-03T15:00:00.000Z", 24_000),
    ]
    assert "date" not in hourly["points"][0]


# -- bounded work: a default range pages, a long explicit one is refused ------
#
# A collector holding an item since 2024-01-01 asks for hourly or minutely
# history with no start (regression: a 422 about a range they never chose,
# then a silent cut to the latest 10,000 points).

NOW_2026 = ns(2026, 3, 5, 12, 30, 30)  # inside a minute and an hour


@pytest.fixture
def old_holding(tmp_path: Path) -> Iterator[TradeStore]:
    s = TradeStore(sqlite_url(str(tmp_path)))
    s.create_all()
    s.write([
        ("trade", {"id": 1, "sku": "A", "style": "A", "price_cents": 20_000, "quantity": 1,
                   "taker_side": "bid", "buy_order_id": 1, "sell_order_id": 2,
                   "buyer_id": "acc_9", "seller_id": "acc_8", "time": ns(2026, 3, 5, 9),
                   "settlement_status": "delivered"}),
        ("holding", {"id": 1, "account_id": "acc_1", "sku": "A", "purchase_price_cents": 9_000,
                     "acquired_at": ns(2024, 1, 1), "condition": "new", "source": "manual",
                     "trade_id": None}),
    ])  # fmt: skip
    try:
        yield s
    finally:
        s.close()


@pytest.mark.parametrize("interval", ["1m", "1h"])
def test_a_default_range_pages_back_to_the_first_acquisition(
    old_holding: TradeStore, interval: str
) -> None:
    analytics = Analytics(old_holding)
    step = {"1m": 60, "1h": 3600}[interval] * 10**9
    page = analytics.portfolio_history("acc_1", interval, now_ns=NOW_2026)
    points = page["points"]
    assert len(points) == MAX_HISTORY_POINTS
    # It ends now (the newest point holds now) and shows the latest value.
    assert points[-1]["time"] == _iso(NOW_2026 - NOW_2026 % step)
    assert (points[-1]["value_cents"], points[-1]["count"]) == (20_000, 1)
    # Not cut silently: earlier_end is where the page before ends.
    assert page["earlier_end"] == points[0]["time"]
    before = analytics.portfolio_history(
        "acc_1", interval, end_ns=_ns(page["earlier_end"]), now_ns=NOW_2026
    )
    assert _ns(before["points"][-1]["time"]) == _ns(points[0]["time"]) - step
    if interval == "1h":  # the hours since 2024-01-01 take two pages
        assert before["earlier_end"] is None
        assert before["points"][0]["time"] == "2024-01-01T00:00:00.000Z"
        assert before["points"][0]["count"] == 1


def test_a_short_default_range_is_one_page(old_holding: TradeStore) -> None:
    got = Analytics(old_holding).portfolio_history("acc_1", "1d", now_ns=NOW_2026)
    assert got["points"][0]["date"] == "2024-01-01"
    assert got["earlier_end"] is None


def test_an_explicit_too_long_range_is_a_400_naming_the_limit(old_holding: TradeStore) -> None:
    with pytest.raises(ExchangeError) as err:
        Analytics(old_holding).portfolio_history("acc_1", "1h", ns(2024, 1, 1), now_ns=NOW_2026)
    assert (err.value.code, err.value.status) == ("range_too_large", 400)
    assert f"at most {MAX_HISTORY_POINTS} points" in err.value.message


# One history request's memory (README, "Portfolio"): in proportion to
# holdings + sales + points, never their product. 3,000 holdings at 10,000
# points took 1.5 GB (38 s) as a cross join; the sweep takes about 5 MB.
HISTORY_MEMORY_BOUND_BYTES = 64 * 2**20


def test_history_of_thousands_of_holdings_at_the_point_cap_stays_small(tmp_path: Path) -> None:
    holdings, skus = 3_000, 1_500
    store = TradeStore(sqlite_url(str(tmp_path)))
    store.create_all()
    start = NOW_2026 - (MAX_HISTORY_POINTS - 1) * HOUR
    store.write(
        [("holding", {"id": i, "account_id": "acc_1", "sku": f"S-{i % skus}",
                      "purchase_price_cents": 10_000 + i, "acquired_at": start + i * HOUR,
                      "condition": "new", "source": "manual", "trade_id": None})
         for i in range(1, holdings + 1)]
        + [("trade", {"id": t, "sku": f"S-{t % skus}", "style": "S", "price_cents": 10_000 + t,
                      "quantity": 1, "taker_side": "bid", "buy_order_id": 1, "sell_order_id": 2,
                      "buyer_id": "b", "seller_id": "s", "time": start + t * HOUR // 2,
                      "settlement_status": "delivered"})
           for t in range(1, 10_001)]
    )  # fmt: skip
    analytics = Analytics(store)
    analytics.portfolio_history("acc_1", "1d", now_ns=NOW_2026)  # warm up (imports, caches)
    process = psutil.Process()
    base = peak = process.memory_info().rss
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.002):
            peak = max(peak, process.memory_info().rss)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        got = analytics.portfolio_history("acc_1", "1h", start, now_ns=NOW_2026)
    finally:
        done.set()
        sampler.join()
        store.close()
    peak = max(peak, process.memory_info().rss)
    assert len(got["points"]) == MAX_HISTORY_POINTS
    assert got["points"][-1]["count"] == holdings
    assert peak - base < HISTORY_MEMORY_BOUND_BYTES, f"{(peak - base) / 2**20:.0f} MB"


def _iso(t: int) -> str:
    return datetime.fromtimestamp(t / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _ns(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp()) * 10**9
