"""What every handler shares: the application's keys and settings, and small helpers.

Handlers reach the venue, the caller's account and the settings through the
functions here, so that the handler modules depend on this one module and
never on each other or on the application factory.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from exchange.bodies import check_path_id
from exchange.errors import ExchangeError

from .ratelimit import RateLimiter

if TYPE_CHECKING:
    from exchange.venueapi import VenueApi

__all__ = [
    "ACCOUNT_KEY",
    "CONFIG_KEY",
    "VENUE_KEY",
    "ApiConfig",
    "Handler",
    "account_of",
    "analytics_call",
    "int_id",
    "json_response",
    "now_ns",
    "sku_filter",
    "venue_of",
]


class ApiConfig:
    """Settings of one application: rate limits, body limit, the feed's URL."""

    def __init__(self, *, rate_limit: float, burst: int, max_body: int, feed_url: str) -> None:
        self.rate_limit = rate_limit
        self.burst = burst
        self.max_body = max_body
        self.feed_url = feed_url
        self.limiter = RateLimiter(rate_limit, burst)
        # Keyless account creation: per remote address, a tenth of the key rate.
        ip_rate = rate_limit / 10 if rate_limit > 0 else 0.0
        self.ip_limiter = RateLimiter(ip_rate, max(10, burst // 10))
        self.openapi: bytes = b""


VENUE_KEY = web.AppKey("venue", object)
CONFIG_KEY = web.AppKey("config", ApiConfig)
ACCOUNT_KEY = web.RequestKey("account", object)
"""Request-scoped: the authenticated :class:`exchange.accounts.Account`, or None."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def venue_of(request: web.Request) -> VenueApi:
    """The venue the application serves, as the REST app's protocol."""
    return request.app[VENUE_KEY]  # type: ignore[return-value]


def sku_filter(venue: VenueApi, sku: str | None) -> str | None:
    """A list's ``sku`` filter: None when absent, ``unknown_sku`` when not in the catalog."""
    if sku is not None and not venue.sku_exists(sku):
        raise ExchangeError("unknown_sku", f"There is no SKU '{sku}'.")
    return sku


def account_of(request: web.Request) -> Any:
    """The authenticated account of a private route."""
    account = request.get(ACCOUNT_KEY)
    if account is None:  # pragma: no cover - the auth middleware guarantees it
        raise ExchangeError("unauthorized", "This endpoint needs an API key.")
    return account


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """``data`` as an ``application/json`` response."""
    return web.Response(
        body=orjson.dumps(data), status=status, content_type="application/json", headers=headers
    )


def now_ns() -> int:
    """Wall-clock time in ns since the epoch (the one clock handlers read)."""
    return time.time_ns()


def int_id(request: web.Request, name: str) -> int:
    """The integer path parameter ``name`` (routes match digits only).

    Raises:
        ExchangeError: ``validation_error`` naming the range when it does not
            fit the wire's 64-bit integers.
    """
    return check_path_id(int(request.match_info[name]), name)


async def analytics_call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a (blocking) analytics query in a worker thread, off the event loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)
