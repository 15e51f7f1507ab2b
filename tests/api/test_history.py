"""Paged lists over REST: orders, trades (the authenticator's queue), ledger, SKU trades."""

from __future__ import annotations

from typing import Any

from exchange.venue import Venue

from .conftest import Api


def limit_order(sku: str, side: str, price: int, quantity: int = 1) -> dict[str, Any]:
    return {"sku": sku, "side": side, "type": "limit", "price_cents": price, "quantity": quantity}


async def walk(api: Api, path: str, key: str | None, field: str, **params: Any) -> list[Any]:
    """Every row of a paged list, following ``next_before`` to the last page."""
    rows: list[Any] = []
    before = None
    while True:
        query = {k: str(v) for k, v in params.items()}
        if before is not None:
            query["before"] = str(before)
        reply = await api.get(path, key=key, params=query)
        assert reply.status == 200, reply.body
        page = reply.body[field]
        assert len(page) <= int(params.get("limit", 100))
        rows.extend(page)
        before = reply.body["next_before"]
        if before is None:
            return rows
        assert before == page[-1]["id"]


async def test_paging_through_10k_orders_returns_each_once_newest_first(
    api: Api, sku: str
) -> None:
    key = await api.account("maker")
    ids: list[int] = []
    for batch in range(100):
        bodies = [limit_order(sku, "ask", 50_000 + 100 * (batch % 50))] * 100
        reply = await api.post("/v1/orders/batch", key=key, json={"orders": bodies})
        ids.extend(r["order"]["id"] for r in reply.body["results"])
    assert len(ids) == 10_000
    rows = await walk(api, "/v1/orders", key, "orders", limit=1000)
    assert [r["id"] for r in rows] == sorted(ids, reverse=True)
    first = (await api.get("/v1/orders", key=key)).body
    assert len(first["orders"]) == 100 and first["next_before"] == first["orders"][-1]["id"]
    odd = await walk(api, "/v1/orders", key, "orders", limit=333, before=ids[5000])
    assert [r["id"] for r in odd] == sorted(ids[:5000], reverse=True)


async def test_order_filters_and_bad_values(api: Api, venue: Venue, sku: str) -> None:
    other_sku = venue.products()[0]["skus"][1]["sku"]
    seller, buyer = await api.account("seller"), await api.account("buyer")
    for price in (30_000, 31_000, 32_000):
        await api.post("/v1/orders", key=seller, json=limit_order(sku, "ask", price))
    await api.post("/v1/orders", key=seller, json=limit_order(other_sku, "ask", 30_000))
    await api.post("/v1/orders", key=buyer, json=limit_order(sku, "bid", 30_000))
    open_ = await walk(api, "/v1/orders", seller, "orders", status="open", limit=1)
    assert [o["price_cents"] for o in open_] == [30_000, 32_000, 31_000]
    filled = (await api.get("/v1/orders", key=seller, params={"status": "filled"})).body
    assert [o["price_cents"] for o in filled["orders"]] == [30_000]
    assert filled["next_before"] is None
    by_sku = await walk(api, "/v1/orders", seller, "orders", sku=other_sku)
    assert [o["sku"] for o in by_sku] == [other_sku]
    for path in ("/v1/orders", "/v1/trades", "/v1/ledger", f"/v1/skus/{sku}/trades"):
        for params in ({"limit": "0"}, {"limit": "1001"}, {"limit": "x"}, {"before": "0"},
                       {"before": "-1"}, {"before": "1e3"}):
            reply = await api.get(path, key=seller, params=params)
            assert reply.status == 422 and reply.body["code"] == "validation_error", (path, params)
    for path, params in (
        ("/v1/orders", {"status": "done"}),
        ("/v1/trades", {"settlement_status": "open"}),
    ):
        reply = await api.get(path, key=seller, params=params)
        assert reply.status == 422 and reply.body["code"] == "validation_error", (path, params)
    # A SKU filter is a well-formed string; one the catalog lacks is 404, as
    # everywhere in the API (the OpenAPI document cannot know the catalog).
    for path in ("/v1/orders", "/v1/trades"):
        reply = await api.get(path, key=seller, params={"sku": "NOPE-1"})
        assert reply.status == 404 and reply.body["code"] == "unknown_sku", path


async def test_the_authenticators_shipped_queue_and_the_ledger(
    api: Api, venue: Venue, sku: str
) -> None:
    seller, buyer = await api.account("seller"), await api.account("buyer")
    trade_ids = []
    for i in range(7):
        await api.post("/v1/orders", key=seller, json=limit_order(sku, "ask", 20_000 + 100 * i))
        fill = await api.post("/v1/orders", key=buyer, json=limit_order(sku, "bid", 25_000))
        trade_ids.append(fill.body["fills"][0]["id"])
    for tid in trade_ids[::2]:
        assert (await api.post(f"/v1/trades/{tid}/ship", key=seller)).status == 200
    checker = (await venue.create_account("checker", role="authenticator"))["api_key"]
    queue = await walk(api, "/v1/trades", checker, "trades", settlement_status="shipped", limit=2)
    assert [t["id"] for t in queue] == sorted(trade_ids[::2], reverse=True)
    done = await api.post(f"/v1/trades/{trade_ids[0]}/authenticate", key=checker,
                          json={"passed": True})
    assert done.status == 200
    queue = await walk(api, "/v1/trades", checker, "trades", settlement_status="shipped")
    assert [t["id"] for t in queue] == sorted(trade_ids[2::2], reverse=True)
    delivered = await walk(api, "/v1/trades", buyer, "trades", settlement_status="delivered")
    assert [t["id"] for t in delivered] == [trade_ids[0]] and delivered[0]["side"] == "bid"
    mine = await walk(api, "/v1/trades", seller, "trades", limit=3, sku=sku)
    assert [t["id"] for t in mine] == sorted(trade_ids, reverse=True)
    ledger = await walk(api, "/v1/ledger", seller, "entries", limit=1)
    ids = [e["id"] for e in ledger]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids) > 0
    public = await walk(api, f"/v1/skus/{sku}/trades", None, "trades", limit=4)
    assert [t["id"] for t in public] == sorted(trade_ids, reverse=True)
    assert "buyer_fee_cents" not in public[0]
