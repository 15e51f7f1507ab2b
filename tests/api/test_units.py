"""Small pure pieces of the API: the token bucket, field checks, time parsing."""

from __future__ import annotations

import pytest

from api.ratelimit import RateLimiter
from api.validation import Field, check_fields, parse_time
from exchange.errors import ExchangeError


def test_token_bucket_refills_and_says_when() -> None:
    now = [0.0]
    limiter = RateLimiter(2.0, 3, clock=lambda: now[0])
    assert [limiter.check("k") for _ in range(3)] == [None, None, None]
    assert limiter.check("k") == 1  # 0.5 s to the next token, rounded up to 1
    assert limiter.check("other") is None
    now[0] = 0.5
    assert limiter.check("k") is None
    assert limiter.check("k") == 1
    now[0] = 100.0
    assert [limiter.check("k") for _ in range(4)] == [None, None, None, 1]


def test_slow_bucket_retry_after_counts_whole_seconds() -> None:
    now = [0.0]
    limiter = RateLimiter(0.25, 1, clock=lambda: now[0])
    assert limiter.check("k") is None
    assert limiter.check("k") == 4
    now[0] = 3.5
    assert limiter.check("k") == 1


def test_rate_zero_is_off() -> None:
    limiter = RateLimiter(0, 1)
    assert not limiter.enabled
    assert all(limiter.check("k") is None for _ in range(1000))


FIELDS = {"n": Field(int, required=True), "b": Field(bool), "s": Field(str, choices=("x", "y"))}


@pytest.mark.parametrize(
    ("body", "code", "word"),
    [
        ({"n": True}, "validation_error", "'n'"),
        ({"n": 1.0}, "validation_error", "'n'"),
        ({}, "validation_error", "'n' is required"),
        ({"n": 1, "b": 1}, "validation_error", "'b'"),
        ({"n": 1, "s": "z"}, "validation_error", "x, y"),
        ({"n": 1, "zz": 1}, "unknown_field", "'zz'"),
        ([1], "validation_error", "object"),
    ],
)
def test_check_fields_refuses(body: object, code: str, word: str) -> None:
    with pytest.raises(ExchangeError) as caught:
        check_fields(body, FIELDS)
    assert caught.value.code == code and word in caught.value.message


def test_check_fields_accepts() -> None:
    body = {"n": 0, "b": False, "s": "y"}
    assert check_fields(body, FIELDS) is body


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("1970-01-01T00:00:01.5Z", 1_500_000_000),
        ("1970-01-01T01:00:00+01:00", 0),
        ("1970-01-01T01:00:00 01:00", 0),  # a "+" lost to URL decoding
        ("1970-01-02", 86_400 * 10**9),
        ("1970-01-01T00:00:00", 0),
    ],
)
def test_parse_time(text: str, ns: int) -> None:
    assert parse_time(text, "t") == ns


@pytest.mark.parametrize("text", ["soon", "2026-13-01", "", "9999-01-01T00:00:00Z"])
def test_parse_time_refuses(text: str) -> None:
    with pytest.raises(ExchangeError) as caught:
        parse_time(text, "start")
    assert caught.value.code == "validation_error" and "start" in caught.value.message
