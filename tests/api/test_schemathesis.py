"""Property-based API testing with schemathesis against ``/v1/openapi.json``.

A real ``exchange serve`` on free ports; every documented operation gets a
bounded number of generated requests (valid and invalid) with a trader's
key. Every check schemathesis has runs: no 5xx; status, content type, headers
and body as documented; requests the document allows are accepted
(``positive_data_acceptance``) and requests it forbids are refused
(``negative_data_rejection``), so the document and the checks cannot drift.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, assume, settings

from api.openapi import build_openapi
from api.requests import parse_time
from exchange.catalog import demo_products
from exchange.clock import parse_rfc3339
from exchange.errors import ExchangeError
from exchange.valuation import HISTORY_INTERVALS, MAX_HISTORY_POINTS

from .server import Server, serve


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(Path(tmp_path_factory.mktemp("schemathesis")) / "data") as server:
        yield server


def _new_key(live: Server) -> str:
    """The API key of a new trader account."""
    request = urllib.request.Request(
        live.http_url + "/v1/accounts", data=json.dumps({"name": "fuzz"}).encode(),
        method="POST", headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.loads(response.read())["api_key"])


@pytest.fixture(scope="module")
def api_key(live: Server) -> str:
    return _new_key(live)


# The document the server serves is build_openapi() (test_served_document_is_this_one
# checks that), loaded in-process so that the operations parametrize at collection.
# /metrics is documented, but `exchange serve` serves it on its own listener
# only (the public port answers 404), so it is not fuzzed at this address.
schema = schemathesis.openapi.from_dict(build_openapi()).exclude(path="/metrics")
# Valid and invalid requests alike: bad input must be a 4xx problem, never a 5xx.
schema.config.generation.update(
    modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
)


# Rules the document cannot state, because they depend on the venue's state
# (a SKU's trading rules, the clock) or tie two parameters together (how many
# points a history window holds). The server refuses such requests with 422,
# which is right; the fuzzer is told the rules so that it does not call a
# correct refusal a failure, and every check stays on. The server starts with
# the demo catalog, so its SKUs' rules are known here.
RULES: dict[str, Any] = {sku: p.rules for p in demo_products() for sku in p.skus()}
"""SKU -> its trading rules."""


def _order_fits_its_sku(order: object) -> bool:
    if not isinstance(order, dict) or order.get("sku") not in RULES:
        return True  # an unknown SKU is a 404, which the checks accept
    rules = RULES[order["sku"]]
    quantity, price = order.get("quantity"), order.get("price_cents")
    if isinstance(quantity, int) and not 1 <= quantity <= rules.max_quantity:
        return False
    return not isinstance(price, int) or (
        rules.min_price_cents <= price <= rules.max_price_cents
        and price % rules.tick_size_cents == 0
    )


def _acquired_in_the_past(body: object) -> bool:
    acquired = body.get("acquired_at") if isinstance(body, dict) else None
    if not isinstance(acquired, str):
        return True
    try:
        ns = parse_rfc3339(acquired)
    except (ValueError, OverflowError):
        return True
    return 0 <= ns <= time.time_ns()


def _window_fits(query: object) -> bool:
    if not isinstance(query, dict):
        return True
    try:
        step = HISTORY_INTERVALS[query.get("interval", "1d")]
        start = parse_time(query["start"], "start") if "start" in query else 0
        end = parse_time(query["end"], "end") if "end" in query else time.time_ns()
    except (KeyError, TypeError, ExchangeError):
        return True
    return (end - start) // step < MAX_HISTORY_POINTS


def _fits(path: str, body: object, query: object) -> bool:
    if path == "/v1/orders":
        return _order_fits_its_sku(body)
    if path == "/v1/orders/batch":
        orders = body.get("orders") if isinstance(body, dict) else None
        return not isinstance(orders, list) or all(map(_order_fits_its_sku, orders))
    if path == "/v1/portfolio/items":
        return _acquired_in_the_past(body)
    if path == "/v1/portfolio/history":
        return _window_fits(query)
    return True


def test_served_document_is_this_one(live: Server) -> None:
    with urllib.request.urlopen(live.http_url + "/v1/openapi.json", timeout=10) as response:
        assert json.loads(response.read()) == build_openapi()


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_conforms(case: schemathesis.Case, live: Server, api_key: str) -> None:
    if case.meta is None or not case.meta.generation.mode.is_negative:
        # A valid case that breaks a rule above is a correct 422: not a case.
        assume(_fits(case.operation.path, case.body, case.query))
    key = api_key
    if (case.method, case.operation.path) == ("POST", "/v1/keys"):
        # An account holds at most 20 keys (then a correct 422 key_limit):
        # each case makes its key for an account of its own.
        key = _new_key(live)
    case.call_and_validate(
        base_url=live.http_url,
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
