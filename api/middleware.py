"""The request pipeline, outermost first (each a middleware):

1. metrics: times every request into ``http_request_duration_seconds`` by
   canonical route pattern and status;
2. problems: every error leaves as RFC 9457 ``application/problem+json``:
   :class:`exchange.errors.ExchangeError` with its own code and status,
   aiohttp's own 404/405/413 as ``not_found``/``method_not_allowed``/
   ``payload_too_large``, and any unexpected exception as a logged 500
   ``internal_error`` (bad input never gets there: parsing raises 4xx codes);
3. auth and rate limits: ``Authorization: Bearer <key>``; public routes per
   DESIGN.md need none; ``POST /v1/accounts`` takes an optional (admin) key;
   everything else answers 401 ``unauthorized`` without a known key. A token
   bucket per account (per remote address for keyless account creation)
   answers 429 ``rate_limited`` with ``Retry-After``;
4. queries: a query parameter an API route does not take is ``unknown_field``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from exchange.errors import ExchangeError

from .context import ACCOUNT_KEY, CONFIG_KEY, Handler, venue_of
from .metrics import observe_request
from .problems import problem_from_error, problem_response, retry_sentence
from .requests import check_query_names

__all__ = [
    "auth_middleware",
    "bearer_key",
    "metrics_middleware",
    "problem_middleware",
    "query_middleware",
]

log = logging.getLogger("api")


# ---------------------------------------------------------------- access rules

_PUBLIC_EXACT = frozenset({"/healthz", "/readyz", "/metrics", "/v1/openapi.json", "/v1/config"})
_PUBLIC_GET_PREFIXES = ("/v1/products", "/v1/skus/")


_ACCESS: dict[tuple[str, str], str] = {}


def _access(method: str, path: str) -> str:
    """``public``, ``optional`` (key allowed) or ``private`` for a route pattern.

    Memoized: route patterns are few and fixed, and this runs per request.
    """
    key = (method, path)
    access = _ACCESS.get(key)
    if access is None:
        access = _ACCESS[key] = _classify(method, path)
    return access


def _classify(method: str, path: str) -> str:
    if method in ("GET", "HEAD"):
        if path in _PUBLIC_EXACT or path.startswith(_PUBLIC_GET_PREFIXES):
            return "public"
        if _is_web_path(path):
            return "public"
    if method == "POST" and path == "/v1/accounts":
        return "optional"
    return "private"


def _is_web_path(path: str) -> bool:
    try:
        from .web import is_web_path
    except ImportError:  # the web helper's module is optional
        return path == "/"
    return is_web_path(path) or path == "/static"


def bearer_key(request: web.Request) -> str | None:
    """The API key of ``Authorization: Bearer <key>``, or None without the header."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ExchangeError("unauthorized", "The Authorization header must be 'Bearer <api key>'.")
    return key.strip()


# ----------------------------------------------------------------- middleware


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Time the request by its route pattern (not the raw path) and final status."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        route = request.match_info.route
        resource = route.resource
        pattern = resource.canonical if resource is not None else "unmatched"
        if request.match_info.http_exception is not None:
            pattern = "unmatched"
        observe_request(request.method, pattern, status, time.perf_counter() - started)


# aiohttp's own refusals, by status, as codes of exchange.errors.CODES.
_HTTP_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render every error as problem+json; log and hide unexpected ones as a 500."""
    try:
        response = await handler(request)
        if isinstance(response, web.FileResponse):
            # aiohttp's static files answer a missing file with a bare 404 at
            # send time, past this middleware; catch it here instead.
            path = getattr(response, "_path", None)
            if path is not None and not Path(path).is_file():
                raise web.HTTPNotFound()
        return response
    except ExchangeError as err:
        body = problem_from_error(err, instance=request.path)
        headers = {"Retry-After": "1"} if err.status in (429, 503) else None
        return _problem_json(body, headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "http_error")
        if exc.status == 404:
            detail = f"There is no resource at {request.path}."
        elif exc.status == 405:
            detail = f"{request.method} is not allowed on {request.path}."
        elif exc.status == 413:
            limit = request.app[CONFIG_KEY].max_body
            detail = f"The request body is larger than the limit of {limit} bytes."
        else:
            detail = exc.text or exc.reason
        headers = {}
        if exc.status == 405 and "Allow" in exc.headers:
            headers["Allow"] = exc.headers["Allow"]
        return problem_response(
            code, detail, status=exc.status, instance=request.path, headers=headers
        )
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unexpected error in %s %s", request.method, request.path)
        return problem_response(
            "internal_error",
            "The server hit an unexpected error; it has been logged.",
            status=500,
            instance=request.path,
        )


def _problem_json(body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(body),
        status=body["status"],
        content_type="application/problem+json",
        headers=headers,
    )


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate by bearer key and apply the per-key (or per-address) rate limit."""
    info = request.match_info
    if info.http_exception is not None:
        return await handler(request)  # unknown path or method: the 404/405 as it is
    config = request.app[CONFIG_KEY]
    access = _access(request.method, info.route.resource.canonical)  # type: ignore[union-attr]
    request[ACCOUNT_KEY] = None
    if access == "public":
        return await handler(request)
    key = bearer_key(request)
    if key is None:
        if access == "private":
            raise ExchangeError(
                "unauthorized", "This endpoint needs an API key: 'Authorization: Bearer <key>'."
            )
        retry = config.ip_limiter.check(request.remote or "unknown")
    else:
        account = venue_of(request).authenticate(key)
        if account is None:
            raise ExchangeError("unauthorized", "The API key is not known.")
        request[ACCOUNT_KEY] = account
        retry = config.limiter.check(account.id)
    if retry is not None:
        return problem_response(
            "rate_limited",
            retry_sentence("Too many requests", retry),
            instance=request.path,
            headers={"Retry-After": str(retry)},
        )
    return await handler(request)


_OPS_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})


@web.middleware
async def query_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse query parameters an API route does not take (``unknown_field``).

    The web page's own routes are left alone (a cache-busting ``?v=`` is fine).
    """
    info = request.match_info
    if info.http_exception is None and request.query:
        route = info.route.resource.canonical  # type: ignore[union-attr]
        if route.startswith("/v1/") or route in _OPS_ROUTES:
            check_query_names(request.method, route, request.query.keys())
    return await handler(request)

