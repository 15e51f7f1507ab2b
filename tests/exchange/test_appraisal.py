"""Best prices across sizes and portfolio valuation with the seller's fees."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from exchange.appraisal import best_across, net_proceeds, product_summary, value_portfolio
from exchange.fees import DEFAULT_SCHEDULE, compute_trade_fees


def test_best_across_takes_the_highest_bid_and_the_lowest_ask() -> None:
    assert best_across([(100, 300), (150, None), (None, 250)]) == (150, 250)
    assert best_across([(None, None)]) == (None, None)
    assert best_across([]) == (None, None)


def test_net_proceeds_are_the_seller_payout_at_the_level() -> None:
    for level in (1, 2, 3):
        net = net_proceeds(DEFAULT_SCHEDULE, level)
        for price in (100, 18_000, 1_234_500):
            expected = compute_trade_fees(DEFAULT_SCHEDULE, price, 1, level).seller_payout_cents
            assert net(price) == expected
            assert net(price) < price  # fees are taken


class _Mirror:
    def __init__(self, bests: dict[str, tuple[int | None, int | None]]) -> None:
        self.bests = bests

    def skus(self) -> list[str]:
        return list(self.bests)

    def best(self, sku: str) -> tuple[int | None, int | None]:
        return self.bests.get(sku, (None, None))


class _Analytics:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def portfolio(self, account_id: str, mark: str, **kw: Any) -> dict[str, Any]:
        self.calls.append((mark, kw))
        return {"mark": mark}

    def product_summary(self, style: str, **kw: Any) -> dict[str, Any]:
        self.calls.append((style, kw))
        return {"sales_count": 0}


class _Account:
    id = "acc_1"


class _Venue:
    def __init__(self) -> None:
        self.mirror = _Mirror({"A-9": (10_000, 12_000), "A-10": (11_000, None), "B-1": (5, 6)})
        self.analytics = _Analytics()
        self.fee_schedule = DEFAULT_SCHEDULE
        self.levels: list[int] = []

    def seller_level(self, account: Any, now: int | None = None) -> int:
        self.levels.append(now or 0)
        return 2

    def product(self, style: str) -> dict[str, Any]:
        return {"style": style, "name": "A", "retail_price_cents": 100,
                "skus": [{"sku": "A-9"}, {"sku": "A-10"}]}


async def test_value_portfolio_reads_bests_and_fees_now() -> None:
    venue = _Venue()
    await value_portfolio(venue, _Account(), "highest_bid", 42)  # type: ignore[arg-type]
    mark, kw = venue.analytics.calls[-1]
    assert mark == "highest_bid" and kw["now_ns"] == 42 and venue.levels == [42]
    assert kw["bests"] == venue.mirror.bests
    net: Callable[[int], int] = kw["net_fn"]
    assert net(18_000) == net_proceeds(DEFAULT_SCHEDULE, 2)(18_000)
    await value_portfolio(venue, _Account(), "last_sale", 43)  # type: ignore[arg-type]
    assert venue.analytics.calls[-1][1]["net_fn"] is None


async def test_product_summary_merges_its_sizes_only() -> None:
    venue = _Venue()
    out = await product_summary(venue, "A", 7)  # type: ignore[arg-type]
    assert (out["highest_bid_cents"], out["lowest_ask_cents"]) == (11_000, 12_000)
    assert out["skus"] == ["A-9", "A-10"]
    assert venue.analytics.calls[-1][1]["best_bid"] == 11_000
