"""Time conventions of the venue: int nanoseconds inside, RFC 3339 on the wire.

Inside the engine every time is an ``int`` of nanoseconds since the Unix
epoch, handed in with each journaled command; nothing in the engine reads a
clock. The wire shows times as RFC 3339 UTC strings with millisecond
precision and a ``Z`` suffix (``2026-11-25T15:44:22.123Z``);
:func:`rfc3339` is the one formatter of them and :func:`parse_rfc3339`
the one parser.

>>> rfc3339(0)
'1970-01-01T00:00:00.000Z'
>>> rfc3339(1_700_000_000_123_456_789)
'2023-11-14T22:13:20.123Z'
>>> parse_rfc3339('2023-11-14T22:13:20.123Z')
1700000000123000000
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

__all__ = ["DAY_NS", "HOUR_NS", "SECOND_NS", "now_ns", "parse_rfc3339", "rfc3339", "rfc3339_opt"]

SECOND_NS = 1_000_000_000
HOUR_NS = 3600 * SECOND_NS
DAY_NS = 86_400 * SECOND_NS

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def now_ns() -> int:
    """The wall clock in ns since the epoch (for the venue, never the engine)."""
    return time.time_ns()


# Minute -> its formatted prefix "YYYY-MM-DDTHH:MM:". One command formats
# several far-apart times (now, a ship deadline two days on, expiries whole
# days on), each recurring for a minute of commands, so a cache of the last
# second alone would miss; prefixes are cached per minute. Bounded: cleared
# when large. Dict reads and writes are atomic, so threads may share it (a
# reader racing a clear() just formats the prefix again).
_MINUTE_PREFIX: dict[int, str] = {}
_MINUTE_PREFIX_MAX = 8192


def rfc3339(ns: int) -> str:
    """Format ``ns`` as RFC 3339 UTC with milliseconds, truncating (not rounding)."""
    secs, rem = divmod(ns, SECOND_NS)
    minute, sec = divmod(secs, 60)
    prefix = _MINUTE_PREFIX.get(minute)
    if prefix is None:
        if len(_MINUTE_PREFIX) >= _MINUTE_PREFIX_MAX:
            _MINUTE_PREFIX.clear()
        prefix = _MINUTE_PREFIX[minute] = time.strftime("%Y-%m-%dT%H:%M:", time.gmtime(minute * 60))
    return f"{prefix}{sec:02d}.{rem // 1_000_000:03d}Z"


def rfc3339_opt(ns: int | None) -> str | None:
    """:func:`rfc3339`, passing None through."""
    return None if ns is None else rfc3339(ns)


def parse_rfc3339(text: str) -> int:
    """Parse an RFC 3339 time (``Z`` or an offset; a date alone means midnight UTC).

    Raises:
        ValueError: when ``text`` is not such a time.
    """
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    delta = parsed - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * SECOND_NS + delta.microseconds * 1000
