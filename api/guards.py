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
import re
from typing import Any

import orjson
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


# Every JSON string token, with the colon that makes it a key when present.
# Scanning from the start, a match can only begin at a real string's opening
# quote: nothing outside strings holds a '"'.
_STRING = re.compile(rb'"((?:[^"\\]|\\.)*)"(\s*:)?')
_DEFAULT_LIMITS = HttpLimits()


def repeated_key(raw: bytes) -> str | None:
    """The first key that one object of the JSON text ``raw`` holds twice, else None.

    ``raw`` must be valid JSON (check that first). Cheap when no key text
    occurs twice in the whole document (a single order); otherwise the keys
    are counted against the parsed objects, and only a mismatch pays for a
    second, pair-preserving parse to name the key.
    """
    keys = [m.group(1) for m in _STRING.finditer(raw) if m.group(2)]
    if len(keys) == len(set(keys)):
        return None
    if len(keys) == _count_keys(orjson.loads(raw)):
        return None
    found: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in items:
            if key in seen and not found:
                found.append(key)
            seen.add(key)
        return dict(items)

    json.loads(raw, object_pairs_hook=pairs)
    return found[0] if found else None


def _count_keys(value: Any) -> int:
    # Iterative: orjson allows nesting deeper than Python's recursion limit.
    count = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            count += len(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


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
            try:
                key = repeated_key(raw)
            except (ValueError, RecursionError):  # not JSON: the handler's parser says so
                key = None
            if key is not None:
                raise ExchangeError(
                    "invalid_json",
                    f"The key '{key}' appears more than once in one JSON object; "
                    "send each key once.",
                )
    return await handler(request)
