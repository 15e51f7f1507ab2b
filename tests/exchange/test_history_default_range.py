"""Portfolio history with no range given is never refused as too long.

Regression: a collector holding an item acquired two years ago who asked
``GET /v1/portfolio/history?interval=1h`` (no ``start``) got a 422 "the
range has 16649 points of 1h; at most 10000" about a range they never chose.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from exchange.analytics import Analytics
from exchange.errors import ExchangeError
from exchange.store import TradeStore, sqlite_url
from exchange.valuation import MAX_HISTORY_POINTS


def ns(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp()) * 10**9  # type: ignore[misc]


NOW = ns(2026, 3, 5, 12, 30, 30)  # inside a minute and an hour


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TradeStore]:
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
def test_default_range_is_clamped_to_the_latest_points(store: TradeStore, interval: str) -> None:
    got = Analytics(store).portfolio_history("acc_1", interval, now_ns=NOW)

    points = got["points"]
    assert 0 < len(points) <= MAX_HISTORY_POINTS
    # It ends now (the newest point holds now) and shows the latest value.
    step = {"1m": 60, "1h": 3600}[interval] * 10**9
    last_start = NOW - NOW % step
    assert points[-1]["time"] == datetime.fromtimestamp(last_start / 1e9, UTC).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z"
    )
    assert points[-1]["value_cents"] == 20_000
    assert points[-1]["count"] == 1


def test_daily_default_still_starts_at_the_first_acquisition(store: TradeStore) -> None:
    got = Analytics(store).portfolio_history("acc_1", "1d", now_ns=NOW)
    assert got["points"][0]["date"] == "2024-01-01"


def test_an_explicit_too_long_range_is_still_refused(store: TradeStore) -> None:
    with pytest.raises(ExchangeError) as err:
        Analytics(store).portfolio_history("acc_1", "1h", ns(2024, 1, 1), now_ns=NOW)
    assert err.value.code == "validation_error"
