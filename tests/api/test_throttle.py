"""Limits by client address (keyless requests, failed authentications) and batch weight."""

from __future__ import annotations

from typing import Any

from api.ratelimit import RateLimiter

from .conftest import Api


def _order(sku: str, price: int) -> dict[str, Any]:
    return {"sku": sku, "side": "bid", "type": "limit", "price_cents": price, "quantity": 1}


async def test_keyless_requests_are_limited_per_address_with_retry_after(
    make_api: Any, sku: str
) -> None:
    # Burst 20, then a token every 100 s: nothing refills during the test.
    api: Api = await make_api(rate_limit=100, public_rate_limit=0.01)
    key = await api.account()  # keyless too: one of the 20
    statuses = [(await api.get(f"/v1/skus/{sku}/book")).status for _ in range(19)]
    assert statuses == [200] * 19
    limited = await api.get("/v1/products")
    assert limited.status == 429
    assert limited.body["code"] == "rate_limited"
    assert "without an API key" in limited.body["detail"]
    assert int(limited.headers["Retry-After"]) >= 1
    # The page's own files are not counted; a key has its own bucket.
    assert (await api.get("/")).status == 200
    assert (await api.get("/v1/products", key=key)).status == 200


async def test_the_public_limit_follows_rate_limit_and_is_off_with_it(
    make_api: Any, sku: str
) -> None:
    api: Api = await make_api(rate_limit=0)
    statuses = {(await api.get(f"/v1/skus/{sku}/book")).status for _ in range(60)}
    assert statuses == {200}


async def test_failed_authentications_are_limited_per_address(make_api: Any) -> None:
    api: Api = await make_api(rate_limit=100, auth_failure_limit=3)
    good = await api.account()
    statuses = [(await api.get("/v1/orders", key=f"wrong{i}")).status for i in range(3)]
    assert statuses == [401, 401, 401]
    # Now the address is refused before any key is looked up, even a good one.
    blocked = await api.get("/v1/orders", key="wrong-again")
    assert blocked.status == 429 and blocked.body["code"] == "rate_limited"
    assert "failed authentications" in blocked.body["detail"]
    assert int(blocked.headers["Retry-After"]) >= 1
    assert (await api.get("/v1/orders", key=good)).status == 429


async def test_successful_authentications_do_not_count_as_failures(make_api: Any) -> None:
    api: Api = await make_api(rate_limit=100, auth_failure_limit=2)
    key = await api.account()
    for _ in range(10):
        assert (await api.get("/v1/orders", key=key)).status == 200


async def test_a_batch_counts_each_of_its_orders(make_api: Any, sku: str) -> None:
    api: Api = await make_api(rate_limit=0.01, burst=10)  # no refill during the test
    key = await api.account()
    orders = [_order(sku, 10_000 + 100 * i) for i in range(8)]
    placed = await api.post("/v1/orders/batch", key=key, json={"orders": orders})
    assert placed.status == 200
    # 8 of 10 tokens gone: a second batch of 8 is refused whole, nothing placed.
    refused = await api.post("/v1/orders/batch", key=key, json={"orders": orders})
    assert refused.status == 429
    assert "counts as 8 requests" in refused.body["detail"]
    assert int(refused.headers["Retry-After"]) >= 1
    assert (await api.get("/v1/orders", key=key)).status == 200  # one token was left
    mine = await api.get("/v1/orders", key=key)
    assert mine.status == 429


def test_a_cost_above_the_burst_takes_the_whole_bucket() -> None:
    now = [0.0]
    limiter = RateLimiter(1.0, 5, clock=lambda: now[0])
    assert limiter.check("k", cost=50) is None
    assert limiter.check("k") == 1
    assert limiter.peek("k") == 1
    now[0] = 1.0
    assert limiter.peek("k") is None
    assert limiter.check("k") is None
