"""Rate limits by client address, and the weight of a batch.

Beside the per-key token bucket of the auth middleware (``--rate-limit``):

- :func:`throttle_middleware` (before authentication) limits every request
  that carries no key, per client address (``public_rate_limit`` requests per
  second, a burst of five seconds' worth, at least 20); the web page's own
  files (``/``, ``/static/``, ``/vendor/``, the icon) are not counted.
  Requests that carry a key are limited by their key instead, but each one
  that fails authentication (401) takes a token from its address's
  failed-authentication bucket (``auth_failure_limit`` per minute, that many
  at once); while that bucket is empty, any request with a key from the
  address is refused before the key is even looked up. Both answer 429
  ``rate_limited`` with ``Retry-After``, like the per-key limit.
- :func:`batch_middleware` (after authentication) charges a batch of N
  orders N requests against its key's bucket (the one the request itself
  took plus N-1, at most the bucket's size), so batching does not multiply
  the rate limit by a hundred.

The client address is the TCP peer's (``request.remote``): behind a reverse
proxy every client shares the proxy's address.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from aiohttp import web

from exchange.errors import ExchangeError
from exchange.orderentry import batch_why

from .context import ACCOUNT_KEY, CONFIG_KEY, Handler
from .problems import problem_response, retry_sentence
from .ratelimit import RateLimiter
from .web import is_web_path

__all__ = [
    "THROTTLES_KEY",
    "Throttles",
    "batch_middleware",
    "setup_throttles",
    "throttle_middleware",
]

BATCH_ROUTE = "/v1/orders/batch"


@dataclass(frozen=True, slots=True)
class Throttles:
    """The per-address limiters of one application.

    Attributes:
        public: requests without a key.
        auth_failures: failed authentications.
    """

    public: RateLimiter
    auth_failures: RateLimiter


THROTTLES_KEY = web.AppKey("throttles", Throttles)


def setup_throttles(
    app: web.Application, *, public_rate_limit: float, auth_failure_limit: float
) -> None:
    """Keep the per-address limiters in ``app`` for the middlewares of this module.

    Args:
        app: the application (not frozen yet).
        public_rate_limit: keyless requests per second per address; 0: off.
        auth_failure_limit: failed authentications per minute per address; 0: off.
    """
    app[THROTTLES_KEY] = Throttles(
        public=RateLimiter(public_rate_limit, max(20.0, 5 * public_rate_limit)),
        auth_failures=RateLimiter(auth_failure_limit / 60, auth_failure_limit),
    )


def _too_many(request: web.Request, retry: int, why: str) -> web.Response:
    return problem_response(
        "rate_limited",
        retry_sentence(why, retry),
        instance=request.path,
        headers={"Retry-After": str(retry)},
    )


@web.middleware
async def throttle_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Limit keyless requests and failed authentications per client address."""
    throttles = request.app.get(THROTTLES_KEY)
    if throttles is None:
        return await handler(request)
    address = request.remote or "unknown"
    if "Authorization" not in request.headers:
        if not is_web_path(request.path):
            retry = throttles.public.check(address)
            if retry is not None:
                return _too_many(request, retry, "Too many requests without an API key "
                                 "from your address")
        return await handler(request)
    retry = throttles.auth_failures.peek(address)
    if retry is not None:
        return _too_many(request, retry, "Too many failed authentications from your address")
    try:
        response = await handler(request)
    except ExchangeError as err:
        if err.code == "unauthorized":
            throttles.auth_failures.check(address)
        raise
    if response.status == 401:
        throttles.auth_failures.check(address)
    return response


@web.middleware
async def batch_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Charge a batch's further orders against its key's rate limit."""
    keyed = request.app[CONFIG_KEY].limiter
    resource = request.match_info.route.resource
    if (
        not keyed.enabled
        or request.method != "POST"
        or resource is None
        or resource.canonical != BATCH_ROUTE
    ):
        return await handler(request)
    account = request.get(ACCOUNT_KEY)
    try:
        body = orjson.loads(await request.read())
    except ValueError:
        body = None  # the handler says what is wrong with it
    orders = body.get("orders") if isinstance(body, dict) else None
    if account is not None and isinstance(orders, list) and len(orders) > 1:
        retry = keyed.check(account.id, cost=len(orders) - 1)
        if retry is not None:
            return _too_many(request, retry, batch_why(len(orders)))
    return await handler(request)
