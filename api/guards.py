"""Guards around every handler: what reaches one, and what leaves when it fails.

:func:`crash_middleware` is the outermost middleware. The problem middleware
inside it renders :class:`Exception` subclasses; this one catches what slips
past any of them: a :class:`BaseException` that is not an ``Exception``
(polars' ``PanicException`` is one), which aiohttp would otherwise let end the
connection with no answer. It becomes the same 500 ``internal_error``
problem+json and one log record. What must propagate still does:
``asyncio.CancelledError`` (the client went away, or shutdown),
``KeyboardInterrupt``, ``SystemExit`` and ``GeneratorExit``.

:func:`body_middleware` is the innermost one (after authentication and rate
limits). It reads a request's body before the handler does, within the
``body_timeout`` of the application's :class:`~api.limits.HttpLimits`
(408 ``request_timeout`` and the connection closes when it passes, so a
``Content-Length`` larger than the body sent cannot hold a connection), and
refuses a JSON body in which one object repeats a key, anywhere in it: 400
``invalid_json`` naming the key (JSON parsers keep the last value silently).
A body sent without an API key (keyless account creation) must be
``application/json``, else 415 ``unsupported_media_type``: a cross-site form
can post ``text/plain`` without the browser asking first.
The handler then reads the same bytes from aiohttp's cache.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import web

from exchange.errors import ExchangeError

from .context import Handler
from .limits import LIMITS_KEY, HttpLimits, refused
from .problems import problem_response

__all__ = [
    "PROPAGATE",
    "body_middleware",
    "crash_middleware",
    "internal_error",
    "repeated_key",
]

log = logging.getLogger("api")

PROPAGATE: tuple[type[BaseException], ...] = (
    asyncio.CancelledError,
    KeyboardInterrupt,
    SystemExit,
    GeneratorExit,
)
"""Exceptions that end the task or the process, never answered as a 500."""


def internal_error(request: web.Request) -> web.Response:
    """The 500 ``internal_error`` problem for ``request``."""
    return problem_response(
        "internal_error",
        "The server hit an unexpected error; it has been logged.",
        status=500,
        instance=request.path,
    )


@web.middleware
async def crash_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer any failure the inner middlewares let through as a logged 500."""
    try:
        return await handler(request)
    except PROPAGATE:
        raise
    except web.HTTPException:
        raise
    except BaseException as exc:
        # One record (with its traceback) per failed request; Exceptions are
        # logged by the problem middleware, so only the rest arrive here.
        log.error(
            "unexpected %s in %s %s: %s",
            type(exc).__name__,
            request.method,
            request.path,
            exc,
            exc_info=exc,
        )
        return internal_error(request)


_DEFAULT_LIMITS = HttpLimits()


class _Repeated(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Repeated(key)
            seen.add(key)
    return obj


# The standard library's decoder hands each object's pairs over in order
# (orjson keeps the last value silently); a few microseconds per order.
_PAIRS = json.JSONDecoder(object_pairs_hook=_object)


def repeated_key(raw: bytes) -> str | None:
    """The first key that one object of the JSON text ``raw`` holds twice, else None.

    None too when ``raw`` is not JSON at all: the handler's parser says so.
    Objects are checked innermost first, in document order.
    """
    try:
        _PAIRS.decode(raw.decode("utf-8"))
    except _Repeated as found:
        return found.key
    except (ValueError, RecursionError):
        return None
    return None


@web.middleware
async def body_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Read the body within the body timeout; refuse JSON objects with a repeated key."""
    if request.body_exists and "Authorization" not in request.headers \
            and request.content_type != "application/json":
        # A keyless body (account creation) is JSON or nothing: another site's
        # form can post text/plain or form data cross-origin without asking.
        return problem_response(
            "unsupported_media_type",
            "A request without an API key must send its body as application/json.",
            status=415,
            instance=request.path,
        )
    if request.body_exists:
        limits = request.app.get(LIMITS_KEY, _DEFAULT_LIMITS)
        try:
            async with asyncio.timeout(limits.body_timeout):
                raw = await request.read()
        except TimeoutError:
            refused("body_timeout", "closed an HTTP connection from %s: body of %s %s "
                    "not received within %g s", request.remote, request.method,
                    request.path, limits.body_timeout)
            response = problem_response(
                "request_timeout",
                f"The request body did not arrive within {limits.body_timeout:g} seconds.",
                status=408,
                instance=request.path,
            )
            # Send it and close now: aiohttp would otherwise linger reading
            # the rest of a body that is not coming.
            response.force_close()
            await response.prepare(request)
            await response.write_eof()
            request.protocol.force_close()
            return response
        if raw[:1] in (b"{", b"[") or raw.lstrip()[:1] in (b"{", b"["):
            key = repeated_key(raw)
            if key is not None:
                raise ExchangeError(
                    "invalid_json",
                    f"The key '{key}' appears more than once in one JSON object; "
                    "send each key once.",
                )
    return await handler(request)
