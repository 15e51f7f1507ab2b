"""Request parsing: JSON bodies, body fields and query parameters.

Everything here raises :class:`exchange.errors.ExchangeError` with a stable
code and a sentence naming the field, so bad input becomes a 4xx problem and
never a 500:

- a body that is not JSON, or not a JSON object: ``invalid_json`` (400);
- a field the endpoint does not know: ``unknown_field`` (422);
- a missing field or a value of the wrong type: ``validation_error`` (422).
  ``true`` is not an integer here, although Python's ``bool`` is an ``int``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from exchange.errors import ExchangeError

__all__ = [
    "Field",
    "check_fields",
    "parse_time",
    "query_int",
    "query_time",
    "read_json",
]

_LOST_PLUS = re.compile(r"(\d\d:\d\d(?::\d\d(?:\.\d+)?)?) (\d\d:\d\d)$")

_TYPE_NAMES = {
    int: "an integer",
    str: "a string",
    bool: "true or false",
    list: "an array",
    dict: "an object",
}


@dataclass(frozen=True, slots=True)
class Field:
    """One allowed body field: its Python type, whether required, allowed values."""

    type: type
    required: bool = False
    choices: tuple[str, ...] | None = None
    nullable: bool = False


async def read_json(request: web.Request) -> Any:
    """The request body as JSON (any JSON value).

    Raises:
        ExchangeError: ``invalid_json`` when the body is empty or malformed.
        aiohttp.web.HTTPRequestEntityTooLarge: when it exceeds the app's limit
            (the error middleware renders it as ``payload_too_large``).
    """
    raw = await request.read()
    if not raw:
        raise ExchangeError("invalid_json", "The request body is empty; send a JSON object.")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ExchangeError(
            "invalid_json", f"The request body is not valid JSON ({exc.msg} at position {exc.pos})."
        ) from None


def _is_type(value: Any, expected: type) -> bool:
    # bool is a subclass of int in Python but not an integer on the wire.
    if expected is int:
        return type(value) is int
    if expected is bool:
        return type(value) is bool
    return isinstance(value, expected)


def check_fields(body: Any, fields: Mapping[str, Field], what: str = "body") -> dict[str, Any]:
    """Check a JSON object against ``fields`` and return it.

    Raises:
        ExchangeError: ``validation_error`` when ``body`` is not an object, a
            required field is missing or a value has the wrong type or is not
            one of the allowed values; ``unknown_field`` for extra keys.
    """
    if not isinstance(body, dict):
        raise ExchangeError("validation_error", f"The {what} must be a JSON object.")
    for key in body:
        if key not in fields:
            allowed = ", ".join(sorted(fields))
            raise ExchangeError(
                "unknown_field", f"Unknown field '{key}' in the {what}; allowed fields: {allowed}."
            )
    for name, spec in fields.items():
        if name not in body:
            if spec.required:
                raise ExchangeError("validation_error", f"Field '{name}' is required.")
            continue
        value = body[name]
        if value is None and spec.nullable:
            continue
        if not _is_type(value, spec.type):
            raise ExchangeError(
                "validation_error", f"Field '{name}' must be {_TYPE_NAMES.get(spec.type, 'valid')}."
            )
        if spec.choices is not None and value not in spec.choices:
            raise ExchangeError(
                "validation_error",
                f"Field '{name}' must be one of: {', '.join(spec.choices)}.",
            )
    return body


def query_int(
    request: web.Request,
    name: str,
    default: int | None,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int | None:
    """An integer query parameter, ``default`` when absent.

    Raises:
        ExchangeError: ``validation_error`` when it is not an integer in range.
    """
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ExchangeError(
            "validation_error", f"Query parameter '{name}' must be an integer."
        ) from None
    if minimum is not None and value < minimum:
        raise ExchangeError("validation_error", f"Query parameter '{name}' must be >= {minimum}.")
    if maximum is not None and value > maximum:
        raise ExchangeError("validation_error", f"Query parameter '{name}' must be <= {maximum}.")
    return value


def parse_time(raw: str, name: str) -> int:
    """An RFC 3339 time (or a ``YYYY-MM-DD`` date, midnight UTC) as ns since the epoch.

    A time without an offset is read as UTC.

    Raises:
        ExchangeError: ``validation_error`` naming ``name`` when it does not parse.
    """
    # An unencoded "+" in a query string arrives as a space: "…T12:00:00 01:00".
    text = _LOST_PLUS.sub(r"\1+\2", raw.strip())
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        if len(text) == 10:
            parsed = dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), dt.UTC)
        else:
            parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ExchangeError(
            "validation_error",
            f"'{name}' must be an RFC 3339 time such as 2026-01-31T12:00:00Z or a date 2026-01-31.",
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    if not (1970 <= parsed.year <= 2200):
        raise ExchangeError("validation_error", f"'{name}' must lie between 1970 and 2200.")
    delta = parsed - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def query_time(request: web.Request, name: str) -> int | None:
    """An optional RFC 3339 query parameter as ns since the epoch."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    return parse_time(raw, name)
