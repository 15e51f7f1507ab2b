"""Times: int ns inside, RFC 3339 UTC with milliseconds and ``Z`` on the wire."""

from __future__ import annotations

import doctest
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange import clock
from exchange.clock import DAY_NS, HOUR_NS, SECOND_NS, parse_rfc3339, rfc3339, rfc3339_opt

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z


def test_formats_truncating_to_milliseconds() -> None:
    assert rfc3339(T0) == "2026-01-01T00:00:00.000Z"
    assert rfc3339(T0 + 1_999_999_999) == "2026-01-01T00:00:01.999Z"
    assert rfc3339(T0 - 1) == "2025-12-31T23:59:59.999Z"
    assert rfc3339(T0 + 59 * SECOND_NS + 7_000_000) == "2026-01-01T00:00:59.007Z"
    assert rfc3339(T0 + 60 * SECOND_NS) == "2026-01-01T00:01:00.000Z"
    assert rfc3339(T0 + 2 * DAY_NS + 3 * HOUR_NS) == "2026-01-03T03:00:00.000Z"
    assert rfc3339(0) == "1970-01-01T00:00:00.000Z"


def test_opt_passes_none_through() -> None:
    assert rfc3339_opt(None) is None
    assert rfc3339_opt(T0) == rfc3339(T0)


def test_the_minute_cache_is_bounded_and_stays_right() -> None:
    # Far more minutes than the cache keeps: it is cleared, never wrong.
    minutes = clock._MINUTE_PREFIX_MAX + 100
    for m in range(minutes):
        ns = T0 + m * 60 * SECOND_NS + 1_000_000
        expected = datetime.fromtimestamp(ns // SECOND_NS, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        assert rfc3339(ns) == f"{expected}.001Z"
        assert len(clock._MINUTE_PREFIX) <= clock._MINUTE_PREFIX_MAX


@given(st.integers(min_value=0, max_value=253_402_300_799 * SECOND_NS))
def test_matches_datetime_and_round_trips_at_millisecond_precision(ns: int) -> None:
    text = rfc3339(ns)
    moment = datetime.fromtimestamp(ns // SECOND_NS, UTC)
    assert text == moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns % SECOND_NS // 1_000_000:03d}Z"
    assert parse_rfc3339(text) == ns - ns % 1_000_000


def test_parses_offsets_dates_and_lowercase_z() -> None:
    assert parse_rfc3339("2026-01-01T01:00:00+01:00") == T0
    assert parse_rfc3339("2026-01-01") == T0
    assert parse_rfc3339(" 2026-01-01T00:00:00.5z ") == T0 + SECOND_NS // 2
    assert parse_rfc3339("2026-01-01T00:00:00") == T0  # no zone: UTC


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01", "2026-01-01T25:00:00Z"])
def test_refuses_what_is_not_a_time(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rfc3339(text)


def test_now_is_the_wall_clock_in_ns() -> None:
    before = datetime.now(UTC).timestamp()
    now = clock.now_ns()
    after = datetime.now(UTC).timestamp()
    assert before - 1 <= now / SECOND_NS <= after + 1


def test_doctests() -> None:
    result = doctest.testmod(clock)
    assert result.attempted > 0 and result.failed == 0
