"""Problem statuses: every refusal gets a status that says what kind it is.

Regression: book reject reasons the venue's table does not list (e.g. an
amend that would make a post-only order take) fell back to 400, the status
of malformed JSON.
"""

from __future__ import annotations

import pytest

from api.problems import problem_from_error
from exchange.errors import STATUS_BY_CODE, ExchangeError
from orderbook.rules import RejectReason

from .conftest import Api


@pytest.mark.parametrize("reason", list(RejectReason))
def test_every_book_reject_reason_has_a_specific_status(reason: RejectReason) -> None:
    body = problem_from_error(ExchangeError(str(reason), "refused"))
    assert body["code"] == str(reason)
    assert body["status"] != 400, f"{reason} falls back to the status of bad JSON"
    assert 400 < body["status"] < 500


def test_an_explicit_status_is_kept() -> None:
    body = problem_from_error(ExchangeError("post_only_would_take", "no", status=422))
    assert body["status"] == 422
    for code, status in STATUS_BY_CODE.items():
        assert problem_from_error(ExchangeError(code, "x"))["status"] == status


async def test_amend_making_a_post_only_take_is_409_and_changes_nothing(api: Api, sku: str) -> None:
    maker = await api.account("maker")
    taker = await api.account("taker")
    ask = await api.post("/v1/orders", key=maker, json={
        "sku": sku, "side": "ask", "type": "limit", "price_cents": 10_000, "quantity": 1})
    assert ask.status == 201
    bid = await api.post("/v1/orders", key=taker, json={
        "sku": sku, "side": "bid", "type": "limit", "price_cents": 9_000, "quantity": 1,
        "post_only": True})
    assert bid.body["order"]["status"] == "open"
    order_id = bid.body["order"]["id"]

    reply = await api.patch(f"/v1/orders/{order_id}", key=taker, json={"price_cents": 10_000})

    assert reply.status == 409
    assert reply.body["code"] == "post_only_would_take"
    after = await api.get(f"/v1/orders/{order_id}", key=taker)
    assert after.body["order"]["status"] == "open"
    assert after.body["order"]["price_cents"] == 9_000
    book = await api.get(f"/v1/skus/{sku}/book")
    assert book.body["bids"] == [[9_000, 1, 1]]
    assert book.body["asks"] == [[10_000, 1, 1]]
