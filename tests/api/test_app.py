"""The REST API end to end: a real venue, the real app on a free port, a real client.

Every answer is also validated against the OpenAPI schema (see conftest.Api).
"""

from __future__ import annotations

import io
from typing import Any

import polars as pl

from api.app import make_app
from exchange.health import Health, State
from exchange.venue import Venue

from .conftest import Api


def limit(sku: str, side: str, price: int, qty: int = 1, **more: Any) -> dict[str, Any]:
    return {"sku": sku, "side": side, "type": "limit", "price_cents": price, "quantity": qty,
            **more}


# ------------------------------------------------------------------------ ops


async def test_health_ready_config_openapi(api: Api) -> None:
    assert (await api.get("/healthz")).body == {"status": "ok"}
    assert (await api.get("/readyz")).body == {"status": "ready"}
    config = await api.get("/v1/config")
    assert config.body["feed_url"].startswith("ws://")
    doc = await api.get("/v1/openapi.json")
    assert doc.body["openapi"] == "3.1.0"
    assert "/v1/orders" in doc.body["paths"]


async def test_metrics_label_routes_by_pattern(api: Api, sku: str) -> None:
    key = await api.account()
    await api.post("/v1/orders", key=key, json=limit(sku, "bid", 10_000))
    await api.get("/v1/orders/1", key=key)
    await api.get("/no/such/path")
    text = (await api.get("/metrics")).body.decode()
    assert 'route="/v1/orders/{order_id}"' in text
    assert 'route="/v1/orders/1"' not in text
    assert 'route="unmatched"' in text
    assert "http_request_duration_seconds_bucket" in text
    # The venue's metrics live in the same registry.
    assert "exchange_orders_total" in text and "exchange_match_latency_seconds" in text


async def test_config_reports_a_reachable_feed_host(make_api: Any) -> None:
    api = await make_api(feed_url="ws://0.0.0.0:9999")
    assert (await api.get("/v1/config")).body == {"feed_url": "ws://127.0.0.1:9999"}


class _BrokenVenue:
    """A venue stand-in that is not ready and whose catalog fails unexpectedly."""

    ready = False

    def health(self) -> Health:
        return Health.of(State.STARTING)

    def products(self) -> list[dict[str, Any]]:
        raise RuntimeError("disk on fire")


async def test_not_ready_and_unexpected_errors(aiohttp_client: Any, caplog: Any) -> None:
    api = Api(await aiohttp_client(make_app(_BrokenVenue())))  # type: ignore[arg-type]
    reply = await api.get("/readyz")
    assert reply.status == 503 and reply.body["code"] == "not_ready"
    reply = await api.get("/v1/products")
    assert reply.status == 500 and reply.body["code"] == "internal_error"
    assert "disk on fire" not in reply.body["detail"]
    assert "disk on fire" in caplog.text


async def test_keyless_account_creation_is_limited_per_address(make_api: Any) -> None:
    api = await make_api(rate_limit=10, burst=20)
    statuses = []
    for i in range(11):
        statuses.append((await api.post("/v1/accounts", json={"name": f"n{i}"})).status)
    assert statuses[:10] == [201] * 10
    assert statuses[10] == 429


# ------------------------------------------------------------------ accounts/auth


async def test_accounts_and_auth(api: Api, venue: Venue) -> None:
    created = await api.post("/v1/accounts", json={"name": "Sam"})
    assert created.status == 201
    assert created.body["api_key"] and created.body["account_id"]
    key = created.body["api_key"]
    assert (await api.get("/v1/orders", key=key)).body == {"orders": [], "next_before": None}
    # Missing, unknown and malformed keys are 401.
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        reply = await api.get("/v1/orders", headers=headers)
        assert reply.status == 401 and reply.body["code"] == "unauthorized"
    # A role other than trader needs an admin key.
    reply = await api.post("/v1/accounts", json={"name": "Eve", "role": "admin"})
    assert reply.status == 403 and reply.body["code"] == "forbidden"
    reply = await api.post("/v1/accounts", key=key, json={"name": "Eve", "role": "admin"})
    assert reply.status == 403
    admin = await venue.create_account("root", role="admin")
    reply = await api.post(
        "/v1/accounts", key=admin["api_key"], json={"name": "Auth", "role": "authenticator"}
    )
    assert reply.status == 201 and reply.body["role"] == "authenticator"
    # Body validation.
    reply = await api.post("/v1/accounts", json={"name": "x", "extra": 1})
    assert reply.status == 422 and reply.body["code"] == "unknown_field"
    reply = await api.post("/v1/accounts", json={"name": 5})
    assert reply.status == 422 and reply.body["code"] == "validation_error"
    assert "name" in reply.body["detail"]
    reply = await api.post("/v1/accounts", json={"name": "   "})
    assert reply.status == 422


# ----------------------------------------------------------------------- catalog


async def test_products(api: Api, venue: Venue) -> None:
    products = (await api.get("/v1/products")).body["products"]
    assert len(products) >= 10
    style = products[0]["style"]
    one = await api.get(f"/v1/products/{style}")
    assert one.body == products[0]
    missing = await api.get("/v1/products/NOPE-1")
    assert missing.status == 404 and missing.body["code"] == "unknown_product"

    body = {"style": "TEST-001", "name": "Test Shoe", "brand": "Acme",
            "retail_price_cents": 12_000, "release_date": "2024-05-01", "sizes": ["9", "10"]}
    trader = await api.account()
    reply = await api.post("/v1/products", key=trader, json=body)
    assert reply.status == 403 and reply.body["code"] == "forbidden"
    admin = await venue.create_account("root", role="admin")
    reply = await api.post("/v1/products", key=admin["api_key"], json=body)
    assert reply.status == 201
    assert [s["sku"] for s in reply.body["skus"]] == ["TEST-001-9", "TEST-001-10"]
    again = await api.post("/v1/products", key=admin["api_key"], json=body)
    assert again.status == 409 and again.body["code"] == "product_exists"
    bad = await api.post("/v1/products", key=admin["api_key"], json={**body, "style": "X2",
                                                                      "retail_price_cents": "1"})
    assert bad.status == 422 and bad.body["code"] == "validation_error"


# ------------------------------------------------------------------- market data


async def test_sku_summary_book_trades_candles(api: Api, venue: Venue, sku: str) -> None:
    seller, buyer = await api.account("s"), await api.account("b")
    summary = await api.get(f"/v1/skus/{sku}")
    assert summary.body["sku"] == sku
    assert summary.body["last_sale_cents"] is None and summary.body["sales_count"] == 0
    assert summary.body["tick_size_cents"] == 100
    assert summary.body == {**summary.body, **venue.sku_rules(sku)}

    await api.post("/v1/orders", key=seller, json=limit(sku, "ask", 21_000, 2))
    await api.post("/v1/orders", key=seller, json=limit(sku, "ask", 22_000, 1))
    await api.post("/v1/orders", key=buyer, json=limit(sku, "bid", 19_000, 3))
    placed = await api.post("/v1/orders", key=buyer, json=limit(sku, "bid", 21_000, 1))
    assert placed.status == 201 and len(placed.body["fills"]) == 1

    book = (await api.get(f"/v1/skus/{sku}/book", params={"depth": 1})).body
    assert book["asks"] == [[21_000, 1, 1]] and book["bids"] == [[19_000, 3, 1]]
    assert book["sequence"] >= 4
    full = (await api.get(f"/v1/skus/{sku}/book")).body
    assert [lvl[0] for lvl in full["asks"]] == [21_000, 22_000]

    summary = (await api.get(f"/v1/skus/{sku}")).body
    assert summary["last_sale_cents"] == 21_000 and summary["sales_count"] == 1
    assert summary["lowest_ask_cents"] == 21_000 and summary["highest_bid_cents"] == 19_000
    # matched, not yet delivered: in the matched view only
    assert summary["last_verified_sale_cents"] is None
    assert summary["range_12m_verified"] == {"low_cents": None, "high_cents": None}

    trades = (await api.get(f"/v1/skus/{sku}/trades")).body
    assert [t["price_cents"] for t in trades["trades"]] == [21_000]
    assert "buyer_id" not in trades["trades"][0]

    candles = (await api.get(f"/v1/skus/{sku}/candles", params={"interval": "1m"})).body
    assert candles["interval"] == "1m" and len(candles["candles"]) == 1
    candle = candles["candles"][0]
    assert (candle["open_cents"], candle["close_cents"], candle["volume"]) == (21_000, 21_000, 1)
    csv = await api.get(f"/v1/skus/{sku}/candles", params={"interval": "1h", "format": "csv"})
    assert csv.headers["Content-Type"].startswith("text/csv")
    assert csv.body.decode().splitlines()[0].startswith("start,open_cents")
    parquet = await api.get(f"/v1/skus/{sku}/candles", params={"format": "parquet"})
    frame = pl.read_parquet(io.BytesIO(parquet.body))
    assert frame["close_cents"].to_list() == [21_000]
    # a UTC timestamp, not text (one candle encoder, the analytics')
    assert frame.schema["start"] == pl.Datetime("ms", "UTC")
    assert frame["start"].dt.strftime("%Y-%m-%dT%H:%M:%S.%3fZ").to_list() == [
        row["start"] for row in
        (await api.get(f"/v1/skus/{sku}/candles", params={"interval": "1h"})).body["candles"]
    ]

    style = sku.rsplit("-", 1)[0]
    product = (await api.get(f"/v1/products/{style}/summary")).body
    assert product["style"] == style and product["last_sale_cents"] == 21_000
    pcandles = (await api.get(f"/v1/products/{style}/candles", params={"interval": "1d"})).body
    assert pcandles["candles"][0]["volume"] == 1


async def test_market_data_errors(api: Api, sku: str) -> None:
    cases = [
        ("/v1/skus/NOPE-9/book", {}, 404, "unknown_sku"),
        ("/v1/skus/NOPE-9", {}, 404, "unknown_sku"),
        (f"/v1/skus/{sku}/book", {"depth": "x"}, 422, "validation_error"),
        (f"/v1/skus/{sku}/book", {"depth": "0"}, 422, "validation_error"),
        (f"/v1/skus/{sku}/trades", {"limit": "100000"}, 422, "validation_error"),
        (f"/v1/skus/{sku}/candles", {"interval": "5m"}, 422, "validation_error"),
        (f"/v1/skus/{sku}/candles", {"start": "yesterday"}, 422, "validation_error"),
        (f"/v1/skus/{sku}/candles", {"format": "xml"}, 422, "validation_error"),
        (f"/v1/skus/{sku}/candles", {"start": ""}, 422, "validation_error"),
        (f"/v1/skus/{sku}/trades", {"before": ""}, 422, "validation_error"),
        (f"/v1/skus/{sku}/trades", {"before": "9" * 30}, 422, "validation_error"),
    ]
    for path, params, status, code in cases:
        reply = await api.get(path, params=params)
        assert (reply.status, reply.body["code"]) == (status, code), (path, params, reply.body)
    huge = await api.get(f"/v1/skus/{sku}/trades", params={"before": "9" * 30})
    assert "between 1 and 9223372036854775807" in huge.body["detail"]
    # A window that holds no time holds no candles; any RFC 3339 year is a time.
    for params in ({"start": "2026-01-02", "end": "2026-01-01"},
                   {"start": "0001-01-01T00:00:00+23:59", "end": "9999-12-31T23:59:59-23:59"}):
        reply = await api.get(f"/v1/skus/{sku}/candles", params=params)
        assert reply.status == 200 and reply.body["candles"] == [], (params, reply.body)


# ------------------------------------------------------------------------ orders


async def test_order_lifecycle_and_isolation(api: Api, sku: str) -> None:
    alice, bob = await api.account("alice"), await api.account("bob")
    placed = await api.post("/v1/orders", key=alice, json=limit(sku, "bid", 15_000, 3))
    assert placed.status == 201
    order = placed.body["order"]
    assert order["status"] == "open" and order["remaining_quantity"] == 3
    oid = order["id"]

    # Every order-returning endpoint answers {"order", "fills"} (the trades
    # this request made: none for a read).
    got = (await api.get(f"/v1/orders/{oid}", key=alice)).body
    assert got["order"]["id"] == oid and got["fills"] == []
    # Another account's order does not exist for bob.
    for call in (
        api.get(f"/v1/orders/{oid}", key=bob),
        api.delete(f"/v1/orders/{oid}", key=bob),
        api.patch(f"/v1/orders/{oid}", key=bob, json={"quantity": 1}),
    ):
        reply = await call
        assert reply.status == 404 and reply.body["code"] == "not_found"
    assert (await api.get("/v1/orders/999999", key=alice)).status == 404
    # An id past the wire's 64-bit integers is out of range, not "not an integer".
    huge = await api.get("/v1/orders/99999999999999999999999999", key=alice)
    assert (huge.status, huge.body["code"]) == (422, "validation_error")
    assert "between 0 and 9223372036854775807" in huge.body["detail"]

    amended = await api.patch(f"/v1/orders/{oid}", key=alice, json={"quantity": 2})
    assert amended.status == 200 and amended.body["order"]["quantity"] == 2
    moved = await api.patch(f"/v1/orders/{oid}", key=alice, json={"price_cents": 16_000})
    assert moved.body["order"]["price_cents"] == 16_000
    for body, code in (({}, "validation_error"), ({"quantity": True}, "validation_error"),
                       ({"qty": 1}, "unknown_field"), ({"price_cents": 16_050}, "off_tick")):
        reply = await api.patch(f"/v1/orders/{oid}", key=alice, json=body)
        assert reply.status == 422 and reply.body["code"] == code, (body, reply.body)

    listed = (await api.get("/v1/orders", key=alice, params={"status": "open"})).body["orders"]
    assert [o["id"] for o in listed] == [oid]
    assert (await api.get("/v1/orders", key=bob)).body["orders"] == []
    bad = await api.get("/v1/orders", key=alice, params={"status": "nope"})
    assert bad.status == 422

    canceled = await api.delete(f"/v1/orders/{oid}", key=alice)
    assert canceled.status == 200 and canceled.body["order"]["status"] == "canceled"
    assert canceled.body["fills"] == []
    again = await api.delete(f"/v1/orders/{oid}", key=alice)
    assert again.status == 409 and again.body["code"] == "order_not_open"
    assert (await api.get("/v1/orders", key=alice, params={"status": "open"})).body["orders"] == []


async def test_market_orders_buy_now_sell_now(api: Api, sku: str) -> None:
    seller, buyer = await api.account("s"), await api.account("b")
    await api.post("/v1/orders", key=seller, json=limit(sku, "ask", 30_000, 1))
    buy_now = await api.post("/v1/orders", key=buyer, json={
        "sku": sku, "side": "bid", "type": "market", "quantity": 2, "price_cents": 40_000})
    assert buy_now.status == 201
    order = buy_now.body["order"]
    assert (order["status"], order["filled_quantity"]) == ("canceled", 1)
    assert buy_now.body["fills"][0]["price_cents"] == 30_000
    # A market order on an empty side is journaled and ends canceled, unfilled:
    # it never rests, in the answer, in the stored order or on the book.
    sell_now = await api.post("/v1/orders", key=seller, json={
        "sku": sku, "side": "ask", "type": "market", "quantity": 1})
    assert sell_now.status == 201
    answer = sell_now.body["order"]
    assert (answer["status"], answer["filled_quantity"]) == ("canceled", 0)
    assert sell_now.body["fills"] == []
    stored = (await api.get(f"/v1/orders/{answer['id']}", key=seller)).body["order"]
    assert (stored["status"], stored["filled_quantity"]) == ("canceled", 0)
    for key in (seller, buyer):
        assert (await api.get("/v1/orders", key=key, params={"status": "open"})).body[
            "orders"] == []
    book = (await api.get(f"/v1/skus/{sku}/book")).body
    assert book["bids"] == [] and book["asks"] == []


async def test_integral_numbers_are_integers(api: Api, sku: str) -> None:
    # JSON has one number type: 10000.0 is the integer 10000 (as JSON Schema says).
    key = await api.account()
    reply = await api.post("/v1/orders", key=key, json={
        "sku": sku, "side": "bid", "type": "limit", "price_cents": 10_000.0, "quantity": 2.0})
    assert reply.status == 201, reply.body
    assert (reply.body["order"]["price_cents"], reply.body["order"]["quantity"]) == (10_000, 2)


async def test_bad_orders_change_nothing(api: Api, sku: str) -> None:
    key = await api.account()
    good = limit(sku, "bid", 10_000)
    cases: list[tuple[Any, int, str]] = [
        ({**good, "quantity": True}, 422, "validation_error"),
        ({**good, "quantity": "1"}, 422, "validation_error"),
        ({**good, "price_cents": 10_000.5}, 422, "validation_error"),
        ({**good, "quantity": 99999999999999999999999999}, 422, "quantity_out_of_range"),
        ({**good, "price_cents": 99999999999999999999999999}, 422, "price_out_of_band"),
        ({**good, "expires_in_days": 10**30}, 422, "validation_error"),
        ({k: v for k, v in good.items() if k != "price_cents"}, 422, "missing_price"),
        ({**good, "time_in_force": "ioc", "post_only": True}, 422, "invalid_order"),
        ({**good, "type": "market", "expires_in_days": 3}, 422, "invalid_order"),
        ({**good, "quantity": 0}, 422, "quantity_out_of_range"),
        ({**good, "quantity": 10**9}, 422, "quantity_out_of_range"),
        ({**good, "price_cents": 10_050}, 422, "off_tick"),
        ({**good, "price_cents": 10**12}, 422, "price_out_of_band"),
        ({**good, "sku": "NOPE-1"}, 404, "unknown_sku"),
        ({**good, "colour": "red"}, 422, "unknown_field"),
        ({**good, "side": "buy"}, 422, "validation_error"),
        ({k: v for k, v in good.items() if k != "side"}, 422, "validation_error"),
        ([good], 422, "validation_error"),
    ]
    for body, status, code in cases:
        reply = await api.post("/v1/orders", key=key, json=body)
        assert (reply.status, reply.body["code"]) == (status, code), (body, reply.body)
    for raw in (b"{", b"", b"\xff", b'{"sku": }'):
        reply = await api.post("/v1/orders", key=key, data=raw)
        assert reply.status == 400 and reply.body["code"] == "invalid_json", raw
    big = b'{"sku": "' + b"x" * 70_000 + b'"}'
    reply = await api.post("/v1/orders", key=key, data=big)
    assert reply.status == 413 and reply.body["code"] == "payload_too_large"
    assert (await api.get("/v1/orders", key=key)).body["orders"] == []
    book = (await api.get(f"/v1/skus/{sku}/book")).body
    assert book["bids"] == [] and book["sequence"] == 0


async def test_http_errors_are_problems(api: Api) -> None:
    reply = await api.get("/nope")
    assert reply.status == 404 and reply.body["code"] == "not_found"
    reply = await api.call("PUT", "/v1/orders")
    assert reply.status == 405 and reply.body["code"] == "method_not_allowed"
    reply = await api.get("/v1/orders/abc", key="whatever")
    assert reply.status == 404


async def test_idempotent_client_order_id(api: Api, sku: str) -> None:
    key = await api.account()
    body = limit(sku, "ask", 25_000, 1, client_order_id="listing-1")
    first = await api.post("/v1/orders", key=key, json=body)
    assert first.status == 201
    replay = await api.post("/v1/orders", key=key, json=body)
    assert replay.status == 200
    assert replay.body["order"]["id"] == first.body["order"]["id"]
    reused = await api.post("/v1/orders", key=key, json={**body, "price_cents": 26_000})
    assert reused.status == 409 and reused.body["code"] == "client_order_id_reused"
    # Another account may use the same id.
    other = await api.post("/v1/orders", key=await api.account("o"), json=body)
    assert other.status == 201 and other.body["order"]["id"] != first.body["order"]["id"]
    orders = (await api.get("/v1/orders", key=key)).body["orders"]
    assert len(orders) == 1


async def test_rate_limit(make_api: Any) -> None:
    api = await make_api(rate_limit=1, burst=3)
    key = await api.account()
    statuses = [(await api.get("/v1/orders", key=key)) for _ in range(4)]
    assert [r.status for r in statuses[:3]] == [200, 200, 200]
    limited = statuses[3]
    assert limited.status == 429 and limited.body["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1
    # Another key has its own bucket; public routes are not limited.
    assert (await api.get("/v1/orders", key=await api.account("b"))).status == 200
    assert (await api.get("/v1/products")).status == 200


async def test_batch(api: Api, sku: str) -> None:
    key = await api.account()
    orders = [
        limit(sku, "ask", 30_000),
        limit(sku, "ask", 30_050),
        limit(sku, "bid", 20_000, 2),
    ]
    reply = await api.post("/v1/orders/batch", key=key, json={"orders": orders})
    assert reply.status == 200
    results = reply.body["results"]
    assert len(results) == 3
    assert results[0]["order"]["status"] == "open" and results[0]["fills"] == []
    # What depends on the market (the SKU's tick) is refused per order...
    assert results[1]["error"]["code"] == "off_tick"
    assert results[2]["order"]["quantity"] == 2
    assert len((await api.get("/v1/orders", key=key)).body["orders"]) == 2

    # ...what breaks the contract refuses the whole batch, naming the item.
    for item, code, where in (
        ({"sku": sku}, "validation_error", "orders[1].type"),
        ("not an order", "validation_error", "orders[1]"),
        ({**limit(sku, "bid", 10_000), "colour": "red"}, "unknown_field", "orders[1].colour"),
    ):
        bad = await api.post("/v1/orders/batch", key=key,
                             json={"orders": [limit(sku, "bid", 10_000), item]})
        assert (bad.status, bad.body["code"]) == (422, code), bad.body
        assert where in bad.body["detail"], bad.body

    too_many = await api.post("/v1/orders/batch", key=key,
                              json={"orders": [limit(sku, "bid", 10_000)] * 101})
    assert too_many.status == 422 and too_many.body["code"] == "batch_too_large"
    bad = await api.post("/v1/orders/batch", key=key, json={"orders": {}})
    assert bad.status == 422
    assert len((await api.get("/v1/orders", key=key)).body["orders"]) == 2


# -------------------------------------------------------------------- settlement


async def _trade(api: Api, sku: str, price: int = 21_000) -> tuple[str, str, int]:
    seller, buyer = await api.account("seller"), await api.account("buyer")
    await api.post("/v1/orders", key=seller, json=limit(sku, "ask", price))
    fill = (await api.post("/v1/orders", key=buyer, json=limit(sku, "bid", price))).body
    return seller, buyer, fill["fills"][0]["id"]


async def test_settlement_flow(api: Api, venue: Venue, sku: str) -> None:
    seller, buyer, trade_id = await _trade(api, sku)
    mine = (await api.get("/v1/trades", key=buyer)).body["trades"]
    assert [t["id"] for t in mine] == [trade_id]
    assert mine[0]["side"] == "bid" and mine[0]["settlement_status"] == "awaiting_shipment"
    stranger = await api.account("stranger")
    assert (await api.get("/v1/trades", key=stranger)).body["trades"] == []

    reply = await api.post(f"/v1/trades/{trade_id}/ship", key=buyer)
    assert reply.status in (403, 404)
    reply = await api.post(f"/v1/trades/{trade_id}/ship", key=stranger)
    assert reply.status == 404
    shipped = await api.post(f"/v1/trades/{trade_id}/ship", key=seller)
    assert shipped.status == 200 and shipped.body["settlement_status"] == "shipped"

    reply = await api.post(f"/v1/trades/{trade_id}/authenticate", key=seller,
                           json={"passed": True})
    assert reply.status == 403 and reply.body["code"] == "forbidden"
    checker = (await venue.create_account("checker", role="authenticator"))["api_key"]
    reply = await api.post(f"/v1/trades/{trade_id}/authenticate", key=checker,
                           json={"passed": "yes"})
    assert reply.status == 422
    done = await api.post(f"/v1/trades/{trade_id}/authenticate", key=checker,
                          json={"passed": True})
    assert done.status == 200 and done.body["settlement_status"] == "delivered"
    again = await api.post(f"/v1/trades/{trade_id}/authenticate", key=checker,
                           json={"passed": True})
    assert again.status == 409
    assert (await api.post("/v1/trades/99999/ship", key=seller)).status == 404

    seller_ledger = (await api.get("/v1/ledger", key=seller)).body["entries"]
    buyer_ledger = (await api.get("/v1/ledger", key=buyer)).body["entries"]
    assert any(e["kind"] == "payout" and e["amount_cents"] > 0 for e in seller_ledger)
    assert sum(e["amount_cents"] for e in buyer_ledger) == -(21_000 + 500)

    # The delivered purchase is now in the buyer's portfolio, marked at the last sale.
    portfolio = (await api.get("/v1/portfolio", key=buyer)).body
    assert [i["sku"] for i in portfolio["items"]] == [sku]
    assert portfolio["totals"]["market_value_cents"] == 21_000

    # A failed authentication cancels the trade: the buyer is refunded, the seller penalized.
    seller2, buyer2, trade2 = await _trade(api, sku, 30_000)
    await api.post(f"/v1/trades/{trade2}/ship", key=seller2)
    failed = await api.post(f"/v1/trades/{trade2}/authenticate", key=checker,
                            json={"passed": False})
    assert failed.body["settlement_status"] == "canceled"
    kinds = {e["kind"] for e in (await api.get("/v1/ledger", key=buyer2)).body["entries"]}
    assert "refund" in kinds
    penalties = [e for e in (await api.get("/v1/ledger", key=seller2)).body["entries"]
                 if e["kind"] == "penalty"]
    assert penalties and penalties[0]["amount_cents"] == -4_500  # 15% of $300, at least $15


# --------------------------------------------------------------------- portfolio


async def test_portfolio_items_and_history(api: Api, sku: str) -> None:
    await _trade(api, sku, 20_000)
    key = await api.account("collector")
    added = await api.post("/v1/portfolio/items", key=key, json={
        "sku": sku, "purchase_price_cents": 18_000, "acquired_at": "2025-01-15",
        "condition": "used"})
    assert added.status == 201
    hid = added.body["id"]
    unpriced = await api.post("/v1/portfolio/items", key=key, json={
        "sku": sku.rsplit("-", 1)[0] + "-" + "NOPE", "purchase_price_cents": 1})
    assert unpriced.status == 404 and unpriced.body["code"] == "unknown_sku"
    for body, code in (({"sku": sku}, "validation_error"),
                       ({"sku": sku, "purchase_price_cents": 1, "x": 1}, "unknown_field"),
                       ({"sku": sku, "purchase_price_cents": 1, "condition": "mint"},
                        "validation_error"),
                       ({"sku": sku, "purchase_price_cents": 1, "acquired_at": "soon"},
                        "validation_error")):
        reply = await api.post("/v1/portfolio/items", key=key, json=body)
        assert reply.status == 422 and reply.body["code"] == code, body

    for mark in ("last_sale", "highest_bid", "lowest_ask", "mid"):
        valued = (await api.get("/v1/portfolio", key=key, params={"mark": mark})).body
        assert valued["mark"] == mark and len(valued["items"]) == 1
    valued = (await api.get("/v1/portfolio", key=key)).body
    assert valued["items"][0]["market_value_cents"] == 20_000
    assert valued["totals"]["unrealized_gain_cents"] == 2_000
    empty_book = (await api.get("/v1/portfolio", key=key, params={"mark": "highest_bid"})).body
    assert empty_book["totals"]["unpriced_count"] == 1
    assert (await api.get("/v1/portfolio", key=key, params={"mark": "x"})).status == 422

    history = (await api.get("/v1/portfolio/history", key=key,
                             params={"interval": "1d", "start": "2025-01-14"})).body
    assert history["interval"] == "1d" and history["points"]
    assert history["points"][-1]["value_cents"] == 20_000
    assert history["earlier_end"] is None
    too_long = await api.get("/v1/portfolio/history", key=key,
                             params={"interval": "1m", "start": "2025-01-14"})
    assert too_long.status == 400 and too_long.body["code"] == "range_too_large"
    assert "at most 10000 points" in too_long.body["detail"]

    other = await api.account("other")
    assert (await api.delete(f"/v1/portfolio/items/{hid}", key=other)).status == 404
    assert (await api.delete(f"/v1/portfolio/items/{hid}", key=key)).status == 204
    assert (await api.get("/v1/portfolio", key=key)).body["items"] == []


async def test_fok_post_only_and_expiry_through_rest(api: Api, sku: str) -> None:
    seller, buyer = await api.account("s"), await api.account("b")
    await api.post("/v1/orders", key=seller, json=limit(sku, "ask", 20_000, 1))
    fok = await api.post("/v1/orders", key=buyer,
                         json=limit(sku, "bid", 20_000, 2, time_in_force="fok"))
    assert fok.status == 201
    assert (fok.body["order"]["status"], fok.body["fills"]) == ("canceled", [])
    post_only = await api.post("/v1/orders", key=buyer,
                               json=limit(sku, "bid", 20_000, 1, post_only=True))
    assert post_only.status == 201 and post_only.body["order"]["status"] == "rejected"
    resting = await api.post("/v1/orders", key=buyer,
                             json=limit(sku, "bid", 19_000, 1, expires_in_days=3))
    assert resting.body["order"]["expires_at"] is not None
    bad = await api.post("/v1/orders", key=buyer,
                         json=limit(sku, "bid", 19_000, 1, expires_in_days=0))
    assert bad.status == 422
    book = (await api.get(f"/v1/skus/{sku}/book")).body
    assert book["asks"] == [[20_000, 1, 1]] and book["bids"] == [[19_000, 1, 1]]
