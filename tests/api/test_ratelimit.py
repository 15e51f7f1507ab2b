"""The token bucket behind the per-key and per-address rate limits."""

from __future__ import annotations

from api.ratelimit import RateLimiter


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
