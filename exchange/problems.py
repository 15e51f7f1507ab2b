"""RFC 9457 problem details: the one shape every refusal takes, on any edge.

A refusal (:class:`exchange.errors.ExchangeError`) leaves the REST API as
``application/problem+json`` and the websocket order entry as the ``body`` of
a ``result``, the same object either way::

    {"type": "https://resale.exchange/problems/off_tick",
     "title": "Off tick", "status": 422, "code": "off_tick",
     "detail": "<a sentence for a person>", "instance": "/v1/orders"}

``code`` is the stable machine-readable name (DESIGN.md's list); ``detail``
says what was wrong in words; ``instance`` is the REST path the request
names (the websocket names the path its REST twin would have).
"""

from __future__ import annotations

from typing import Any

from .errors import STATUS_BY_CODE, ExchangeError

__all__ = [
    "PROBLEM_TYPE_BASE",
    "problem_body",
    "problem_from_error",
    "retry_sentence",
    "status_for",
]

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


def retry_sentence(why: str, retry: int) -> str:
    """The ``detail`` of a ``rate_limited`` refusal: why, and when to try again."""
    return f"{why}; try again in {retry} second{'s' if retry != 1 else ''}."
