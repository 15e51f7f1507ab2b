"""RFC 9457 problem details: the one shape every HTTP error takes.

The shape is :mod:`exchange.problems`' (the websocket order entry answers
with it too); this module adds the HTTP response. Every refusal the API
gives, whether raised by the venue
(:class:`exchange.errors.ExchangeError`), by request parsing in ``api/``, or
by aiohttp itself (unknown route 404, wrong method 405, body too large 413),
leaves the server as ``application/problem+json``::

    {"type": "https://resale.exchange/problems/off_tick",
     "title": "Off tick", "status": 422, "code": "off_tick",
     "detail": "<a sentence for a person>", "instance": "/v1/orders"}

``code`` is the stable machine-readable name (DESIGN.md's list); ``detail``
says what was wrong in words.
"""

from __future__ import annotations

import orjson
from aiohttp import web

from exchange.problems import (
    PROBLEM_TYPE_BASE,
    problem_body,
    problem_from_error,
    retry_sentence,
    status_for,
)

__all__ = [
    "PROBLEM_CONTENT_TYPE",
    "PROBLEM_TYPE_BASE",
    "problem_body",
    "problem_from_error",
    "problem_response",
    "retry_sentence",
    "status_for",
]

PROBLEM_CONTENT_TYPE = "application/problem+json"


def problem_response(
    code: str,
    detail: str,
    *,
    status: int | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """A complete problem+json HTTP response."""
    body = problem_body(code, detail, status=status, instance=instance)
    return web.Response(
        body=orjson.dumps(body),
        status=body["status"],
        content_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )
