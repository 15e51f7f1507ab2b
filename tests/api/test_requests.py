"""The request contract: models, their refusals and the document they make."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from api.requests import (
    MAX_INT,
    QUERIES,
    AccountRequest,
    CandleQuery,
    HoldingRequest,
    check_query_names,
    parse_body,
    parse_order,
    parse_query,
    parse_time,
    request_schemas,
)
from exchange.accounts import validate_name
from exchange.errors import ExchangeError

GOOD = {"sku": "A-1", "side": "bid", "type": "limit", "price_cents": 100, "quantity": 1}


@pytest.mark.parametrize(
    ("body", "code", "word"),
    [
        ({**GOOD, "quantity": True}, "validation_error", "'quantity' must be an integer"),
        ({**GOOD, "quantity": "1"}, "validation_error", "'quantity' must be an integer"),
        ({**GOOD, "quantity": 1.5}, "validation_error", "'quantity' must be an integer"),
        ({**GOOD, "quantity": 0}, "quantity_out_of_range", "between 1 and"),
        # Past 64 bits (and decoded as a float): out of range, never "not an integer".
        ({**GOOD, "quantity": 99999999999999999999999999}, "quantity_out_of_range", str(MAX_INT)),
        ({**GOOD, "quantity": 1e26}, "quantity_out_of_range", str(MAX_INT)),
        ({**GOOD, "price_cents": 2**63}, "price_out_of_band", "price_cents must be between"),
        ({**GOOD, "expires_in_days": 61}, "validation_error", "between 1 and 60"),
        ({**GOOD, "colour": "red"}, "unknown_field", "'colour'"),
        ({**GOOD, "side": "buy"}, "validation_error", "one of: bid, ask"),
        ({**GOOD, "type": "stop"}, "validation_error", "one of: limit, market"),
        ({k: v for k, v in GOOD.items() if k != "type"}, "validation_error", "'type' is required"),
        ({k: v for k, v in GOOD.items() if k != "price_cents"}, "missing_price", "price_cents"),
        ({**GOOD, "time_in_force": "ioc", "post_only": True}, "invalid_order", "combination"),
        ({**GOOD, "time_in_force": "fok", "expires_in_days": 1}, "invalid_order", "combination"),
        ({**GOOD, "type": "market", "post_only": True}, "invalid_order", "combination"),
        ({**GOOD, "type": "market", "post_only": 0}, "validation_error", "true or false"),
        ({**GOOD, "client_order_id": ""}, "validation_error", "1 to 64 characters"),
        ([GOOD], "validation_error", "JSON object"),
    ],
)
def test_order_refusals_keep_their_codes(body: Any, code: str, word: str) -> None:
    with pytest.raises(ExchangeError) as caught:
        parse_order(body)
    assert caught.value.code == code and word in caught.value.message, caught.value


def test_an_order_is_what_was_sent_with_integral_numbers_as_ints() -> None:
    sent = {**GOOD, "quantity": 2.0, "post_only": None, "time_in_force": "gtc"}
    assert parse_order(sent) == {**GOOD, "quantity": 2, "time_in_force": "gtc"}
    market = {"sku": "A-1", "side": "ask", "type": "market", "quantity": 1}
    assert parse_order(market) == market


def test_every_order_shape_validates_against_the_document() -> None:
    # The document's OrderRequest takes exactly what parse_order takes.
    schemas = request_schemas()
    doc = {"$ref": "#/components/schemas/OrderRequest", "components": {"schemas": schemas}}
    for body in (
        GOOD,
        {**GOOD, "time_in_force": "ioc"},
        {**GOOD, "post_only": True, "expires_in_days": 3},
        {"sku": "A-1", "side": "ask", "type": "market", "quantity": 1},
    ):
        parse_order(body)
        jsonschema.validate(body, doc, cls=jsonschema.Draft202012Validator)
    for body in ({**GOOD, "time_in_force": "ioc", "post_only": True},
                 {k: v for k, v in GOOD.items() if k != "price_cents"}):
        with pytest.raises(ExchangeError):
            parse_order(body)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(body, doc, cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize("name", ["alice", " a b ", "Zoë", "\U0010c381x"])
def test_a_name_the_document_allows_is_a_name_the_venue_takes(name: str) -> None:
    assert parse_body(AccountRequest, {"name": name}).name == name
    assert validate_name(name) == name.strip()


@pytest.mark.parametrize("name", ["", "   ", "a\nb", "\u202eevil", "\u3000", "x" * 101])
def test_a_name_the_document_forbids_is_refused(name: str) -> None:
    with pytest.raises(ExchangeError) as caught:
        parse_body(AccountRequest, {"name": name})
    assert caught.value.code == "validation_error" and "'name'" in caught.value.message


def test_holding_price_range_and_condition() -> None:
    with pytest.raises(ExchangeError) as caught:
        parse_body(HoldingRequest, {"sku": "A-1", "purchase_price_cents": -1})
    assert "between 0 and" in caught.value.message
    body = parse_body(HoldingRequest, {"sku": "A-1", "purchase_price_cents": 0})
    assert body.condition == "new"


def test_queries_read_integers_and_refuse_empty_values() -> None:
    assert parse_query(CandleQuery, {}).interval == "1h"
    for query, word in (({"start": ""}, "'start'"), ({"interval": "5m"}, "'interval'")):
        with pytest.raises(ExchangeError) as caught:
            parse_query(CandleQuery, query)
        assert caught.value.code == "validation_error" and word in caught.value.message


def test_unknown_query_parameters_are_refused() -> None:
    check_query_names("GET", "/v1/orders", ["status"])
    for route, name in (("/v1/orders", "colour"), ("/v1/trades", "status")):
        with pytest.raises(ExchangeError) as caught:
            check_query_names("GET", route, [name])
        assert caught.value.code == "unknown_field" and f"'{name}'" in caught.value.message
    assert all(route.startswith("/v1/") for route in QUERIES)


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("1970-01-01T00:00:01.5Z", 1_500_000_000),
        ("1970-01-01T01:00:00+01:00", 0),
        ("1970-01-01T01:00:00 01:00", 0),  # a "+" lost to URL decoding
        ("1970-01-02", 86_400 * 10**9),
        ("1970-01-01T00:00:00", 0),
        # Any RFC 3339 year is a time; outside 64-bit ns it is clamped.
        ("1900-01-01T00:00:00Z", 0),
        ("9999-01-01T00:00:00Z", MAX_INT),
        ("0001-01-01T00:00:00+23:59", 0),
    ],
)
def test_parse_time(text: str, ns: int) -> None:
    assert parse_time(text, "t") == ns


@pytest.mark.parametrize("text", ["soon", "2026-13-01", ""])
def test_parse_time_refuses(text: str) -> None:
    with pytest.raises(ExchangeError) as caught:
        parse_time(text, "start")
    assert caught.value.code == "validation_error" and "start" in caught.value.message
