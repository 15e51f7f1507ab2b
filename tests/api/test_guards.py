"""The crash guard: any failure of a handler is a 500 problem, never a dropped connection."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import polars as pl
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from api.guards import crash_middleware, repeated_key
from exchange.venue import Venue

from .conftest import Api


class _Fatal(BaseException):
    """A BaseException that is not an Exception, like polars' PanicException."""


@pytest.mark.parametrize("error", [_Fatal("bad state"), pl.exceptions.PanicException("overflow")])
async def test_a_base_exception_in_a_handler_is_a_logged_500(
    api: Api, venue: Venue, sku: str, error: BaseException, monkeypatch: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def explode(*args: Any, **kwargs: Any) -> Any:
        raise error

    # The summary runs in a worker thread: the failure crosses to_thread too.
    monkeypatch.setattr(venue.analytics, "sku_summary", explode)
    with caplog.at_level(logging.ERROR, logger="api"):
        reply = await api.get(f"/v1/skus/{sku}")

    assert reply.status == 500
    assert reply.body["code"] == "internal_error"
    records = [r for r in caplog.records if r.name == "api"]
    assert len(records) == 1
    assert type(error).__name__ in records[0].getMessage()
    # The server goes on answering on the same client.
    assert (await api.get("/healthz")).status == 200


@pytest.mark.parametrize("error", [KeyboardInterrupt, SystemExit, asyncio.CancelledError])
async def test_process_and_task_ending_exceptions_propagate(error: type[BaseException]) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        raise error()

    with pytest.raises(error):
        await crash_middleware(make_mocked_request("GET", "/v1/products"), handler)


async def test_http_exceptions_pass_through() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        raise web.HTTPNotFound()

    with pytest.raises(web.HTTPNotFound):
        await crash_middleware(make_mocked_request("GET", "/nope"), handler)


async def test_a_repeated_key_is_invalid_json_naming_it_and_places_nothing(
    api: Api, sku: str
) -> None:
    key = await api.account()
    body = (f'{{"sku": "{sku}", "side": "bid", "type": "limit", "price_cents": 10000, '
            f'"quantity": 1, "side": "ask"}}')
    reply = await api.post("/v1/orders", key=key, data=body,
                           headers={"Content-Type": "application/json"})
    assert reply.status == 400
    assert reply.body["code"] == "invalid_json"
    assert "'side'" in reply.body["detail"]
    assert (await api.get("/v1/orders", key=key)).body["orders"] == []


async def test_a_repeated_key_deep_in_a_batch_is_refused_too(api: Api, sku: str) -> None:
    key = await api.account()
    order = f'{{"sku": "{sku}", "side": "bid", "type": "limit", "price_cents": 10000, "quantity": 1'
    body = f'{{"orders": [{order}}}, {order}, "quantity": 2}}]}}'
    reply = await api.post("/v1/orders/batch", key=key, data=body,
                           headers={"Content-Type": "application/json"})
    assert reply.status == 400
    assert "'quantity'" in reply.body["detail"]
    assert (await api.get("/v1/orders", key=key)).body["orders"] == []


@pytest.mark.parametrize("raw", [
    b'{"a": 1, "b": {"a": 2}, "c": [{"a": 3}, {"a": 4}]}',
    b'{"a": "x\\":", "b": "a"}',
    b'[{"k": 1}, {"k": 2}]',
    b'"a": 1',
])
def test_keys_repeated_only_across_objects_or_inside_strings_are_fine(raw: bytes) -> None:
    assert repeated_key(raw) is None


@pytest.mark.parametrize(("raw", "key"), [
    (b'{"a": 1, "a": 2}', "a"),
    (b'{"x": [{"a": 1}, {"b": 1, "b": 2}]}', "b"),
    (b'{"a\\"": 1, "a\\"" : 2}', 'a"'),
])
def test_repeated_keys_are_named(raw: bytes, key: str) -> None:
    assert repeated_key(raw) == key
