"""The protective settings of ``exchange serve``: flags, environment, defaults.

Each setting is a flag and an environment variable (the flag wins), listed in
README "Limits and protection". :func:`add_limit_flags` adds them to a
parser; :func:`http_limits` and :func:`feed_caps` turn parsed arguments into
the HTTP server's and the feed's settings after raising the soft open-file
limit, since the default connection caps are derived from it.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

from .limits import HttpLimits, connection_budget, raise_nofile_limit

__all__ = ["FEED_PER_ADDRESS", "add_limit_flags", "feed_caps", "http_limits"]

FEED_PER_ADDRESS = 100
"""Default cap of websocket connections from one client address."""


def _number(
    kind: type[float] | type[int], zero: bool, maximum: float = float("inf")
) -> Callable[[str], float]:
    """An argparse type: a number of ``kind`` > 0 (or == 0 when ``zero``), < ``maximum``."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not (value > 0 or (zero and value == 0)) or not value < maximum:
            bound = "" if maximum == float("inf") else f" and <= {maximum - 1:g}"
            raise argparse.ArgumentTypeError(
                f"expected a number {'>=' if zero else '>'} 0{bound}, got {text!r}"
            )
        return value

    return parse


_D = HttpLimits()
_HALF = "half of the open-file limit less 256"

# flag, environment variable, type, default (None: derived), help, default's words
_FLAGS: list[tuple[str, str, Callable[[str], object], object, str, str]] = [
    ("--header-timeout", "EXCHANGE_HEADER_TIMEOUT", _number(float, False), _D.header_timeout,
     "seconds a request's line and headers may take", f"{_D.header_timeout:g}"),
    ("--body-timeout", "EXCHANGE_BODY_TIMEOUT", _number(float, False), _D.body_timeout,
     "seconds a request's body may take", f"{_D.body_timeout:g}"),
    ("--keepalive-timeout", "EXCHANGE_KEEPALIVE_TIMEOUT", _number(float, False),
     _D.keepalive_timeout, "seconds an idle keep-alive connection stays open",
     f"{_D.keepalive_timeout:g}"),
    ("--max-connections", "EXCHANGE_MAX_CONNECTIONS", _number(int, False), None,
     "open HTTP connections in total", _HALF),
    ("--max-connections-per-address", "EXCHANGE_MAX_CONNECTIONS_PER_ADDRESS",
     _number(int, False), _D.max_connections_per_address,
     "open HTTP connections from one client address", str(_D.max_connections_per_address)),
    ("--feed-max-connections", "EXCHANGE_FEED_MAX_CONNECTIONS", _number(int, False), None,
     "open websocket feed connections in total", _HALF),
    ("--feed-max-connections-per-address", "EXCHANGE_FEED_MAX_CONNECTIONS_PER_ADDRESS",
     _number(int, False), FEED_PER_ADDRESS,
     "open websocket feed connections from one client address", str(FEED_PER_ADDRESS)),
    ("--public-rate-limit", "EXCHANGE_PUBLIC_RATE_LIMIT", _number(float, True), None,
     "requests per second per client address without an API key, 0 = off",
     "a fifth of --rate-limit"),
    ("--auth-failure-limit", "EXCHANGE_AUTH_FAILURE_LIMIT", _number(float, True), None,
     "failed authentications per minute per client address, 0 = off",
     "30, 0 when --rate-limit is 0"),
    ("--metrics-port", "EXCHANGE_METRICS_PORT", _number(int, True, 65536), None,
     "serve GET /metrics on this port of --metrics-host, 0 = a free one (printed as the "
     "third line)", "off: no metrics"),
    ("--metrics-host", "EXCHANGE_METRICS_HOST", str, "127.0.0.1",
     "address of the metrics listener", "127.0.0.1"),
]


def add_limit_flags(p: argparse.ArgumentParser) -> None:
    """Add the timeouts, connection caps and per-address rate limits to ``p``."""
    for flag, env, kind, default, text, default_words in _FLAGS:
        value = os.environ.get(env) or (None if default is None else str(default))
        p.add_argument(flag, type=kind, default=value,
                       help=f"{text} (env {env}; default {default_words})")


def http_limits(args: argparse.Namespace) -> HttpLimits:
    """The :class:`HttpLimits` of parsed ``serve`` arguments.

    Raises the soft open-file limit as far as the hard one allows (at most
    65,536); the HTTP server and the websocket feed share what is left of it
    after a reserve, half each by default.
    """
    budget = connection_budget(raise_nofile_limit())
    return HttpLimits(
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
        keepalive_timeout=args.keepalive_timeout,
        max_connections=args.max_connections or budget // 2,
        max_connections_per_address=args.max_connections_per_address,
    )


def feed_caps(args: argparse.Namespace) -> dict[str, int]:
    """The websocket feed's connection caps of parsed ``serve`` arguments."""
    budget = connection_budget(raise_nofile_limit())
    return {
        "max_connections": args.feed_max_connections or budget // 2,
        "max_connections_per_address": args.feed_max_connections_per_address,
    }
