"""What one client may hold or send over HTTP, and how a hit cap is reported.

:class:`HttpLimits` gathers the HTTP server's protective settings (each an
``exchange serve`` flag, see README "Limits"): how long a request's head and
body may take to arrive, how many connections one client address and all
clients together may hold open. ``api/httpserver.py`` enforces the
connection-level ones, the body middleware (``api/guards.py``) the body
timeout.

Everything refused before a handler runs (a cap, a timeout, a malformed
request) is counted in ``http_refused_total{reason}`` and logged by
:func:`refused` through a :class:`LogThrottle`: at most one line per reason
per ten seconds, naming how many more were refused meanwhile, so a flood
cannot flood the log.
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import Counter, Gauge

__all__ = [
    "HTTP_CONNECTIONS",
    "HTTP_REFUSED",
    "LIMITS_KEY",
    "HttpLimits",
    "LogThrottle",
    "connection_budget",
    "raise_nofile_limit",
    "refused",
]

log = logging.getLogger("api.limits")

HTTP_REFUSED = Counter(
    "http_refused_total",
    "HTTP connections and requests refused or cut off by a limit, a timeout or "
    "the parser, by reason.",
    ["reason"],
)
HTTP_CONNECTIONS = Gauge("http_connections", "Open HTTP connections of the REST server.")

# Descriptors kept free for everything that is not an HTTP connection: the
# journal, the store, the websocket feed's listener, logs, worker threads.
FD_RESERVE = 256


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """Protective limits of the HTTP server (all times in seconds).

    Attributes:
        header_timeout: the most time a request's line and headers may take,
            from the first byte of the request (or from the connection's
            start); the connection is closed when it passes.
        body_timeout: the most time a request's body may take to arrive once
            its headers are in; then 408 ``request_timeout`` and the
            connection closes (a ``Content-Length`` larger than the body sent
            ends here).
        keepalive_timeout: an idle keep-alive connection is closed after this.
        max_connections: open HTTP connections in total; more are refused.
        max_connections_per_address: open connections from one client address.
    """

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keepalive_timeout: float = 15.0
    max_connections: int = 4096
    max_connections_per_address: int = 256


LIMITS_KEY = web.AppKey("http_limits", HttpLimits)
"""Where the application keeps its :class:`HttpLimits` (defaults when absent)."""


class LogThrottle:
    """At most one log line per key per ``interval`` seconds, counting the rest.

    Args:
        interval: seconds between two lines for one key.
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(self, interval: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def allow(self, key: str) -> int | None:
        """None to stay quiet; else how many lines were suppressed before this one."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return None
        self._last[key] = now
        return self._suppressed.pop(key, 0)


_THROTTLE = LogThrottle()


def refused(reason: str, message: str, *args: object) -> None:
    """Count a refusal for ``reason`` and log ``message % args`` (throttled), one line."""
    HTTP_REFUSED.labels(reason).inc()
    suppressed = _THROTTLE.allow(reason)
    if suppressed is None:
        return
    if suppressed:
        log.warning(message + " (%d more since the last such line)", *args, suppressed)
    else:
        log.warning(message, *args)


def raise_nofile_limit(wanted: int = 65536) -> int:
    """Raise the soft descriptor limit toward ``wanted`` (never above the hard one).

    Returns:
        The soft limit now in force.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):  # pragma: no cover - a restricted sandbox
            log.warning("could not raise the open-file limit from %d to %d", soft, target)
    return soft


def connection_budget(nofile: int) -> int:
    """How many connections (HTTP and websocket together) fit under ``nofile``."""
    return max(16, nofile - FD_RESERVE)
