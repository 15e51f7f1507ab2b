"""Each SKU's recent trades that left the engine (exchange/service/recent.py)."""

from __future__ import annotations

from typing import Any

from exchange.service.recent import RecentTrades
from exchange.wire import public_trade

SKU = "DZ5485-612-10"


def trade(tid: int, sku: str = SKU, status: str = "delivered") -> dict[str, Any]:
    return {
        "id": tid,
        "sku": sku,
        "time": tid * 1_000_000_000,
        "price_cents": 10_000 + tid,
        "quantity": 1,
        "taker_side": "bid",
        "buy_order_id": 2 * tid,
        "sell_order_id": 2 * tid + 1,
        "settlement_status": status,
    }


def trade_public(t: dict[str, Any]) -> dict[str, Any]:
    return public_trade(
        t["id"], t["sku"], t["price_cents"], t["quantity"], t["taker_side"],
        t["buy_order_id"], t["sell_order_id"], t["time"], t["settlement_status"],
    )  # fmt: skip


def test_keeps_the_newest_ids_per_sku_whatever_the_order_they_leave_in() -> None:
    recent = RecentTrades(keep=3)
    recent.add([trade(5), trade(2), trade(9), trade(7, status="canceled"), trade(9)])
    recent.add([trade(1, sku="OTHER-1")])
    assert recent.size() == 4
    got = recent.merge(SKU, [], 10, None)
    assert [t["id"] for t in got] == [9, 7, 5]
    assert got[1] == trade_public(trade(7, status="canceled"))


def test_merge_with_the_engines_live_page() -> None:
    recent = RecentTrades(keep=10)
    recent.add([trade(i) for i in (1, 2, 4, 6)])
    live = [trade_public(trade(i, status="shipped")) for i in (7, 5, 3)]
    assert [t["id"] for t in recent.merge(SKU, live, 4, None)] == [7, 6, 5, 4]
    assert [t["id"] for t in recent.merge(SKU, live[2:], 10, 4)] == [3, 2, 1]
    assert recent.merge("OTHER-1", live, 2, None) == live
