"""RFC 9457 problem details: the one shape every HTTP error takes.

Every refusal the API gives, whether raised by the venue
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

from typing import Any

import orjson
from aiohttp import web

from exchange.errors import STATUS_BY_CODE, ExchangeError

__all__ = [
    "PROBLEM_CONTENT_TYPE",
    "PROBLEM_TYPE_BASE",
    "problem_body",
    "problem_from_error",
    "problem_response",
]

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://resale.exchange/problems/"

def status_for(code: str) -> int:
    """The HTTP status of a problem ``code`` (exchange.errors.CODES; 500 if unlisted)."""
    return STATUS_BY_CODE.get(code, 500)


def problem_body(
    code: str, detail: str, *, status: int | None = None, instance: str | None = None
) -> dict[str, Any]:
    """The problem+json object for ``code``: type, title, status, detail, code, instance."""
    st = status if status is not None else status_for(code)
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": code.replace("_", " ").capitalize(),
        "status": st,
        "detail": detail,
        "code": code,
    }
    if instance is not None:
        body["instance"] = instance
    return body


def problem_from_error(err: ExchangeError, instance: str | None = None) -> dict[str, Any]:
    """Render a venue refusal as a problem object (its own code, status and sentence)."""
    return problem_body(err.code, err.message, status=err.status, instance=instance)


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
