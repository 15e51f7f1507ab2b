"""Prometheus metrics of the websocket feed, in the default registry.

Module-level singletons (registered once per process), served with the rest
by the API's ``/metrics``. The server updates counters once per write batch,
not per message, to keep the fan-out path cheap.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

__all__ = [
    "FEED_CONNECTIONS",
    "FEED_CONNECTIONS_REFUSED",
    "FEED_MESSAGES_DROPPED",
    "FEED_MESSAGES_SENT",
    "FEED_SLOW_CONSUMERS",
    "FEED_SNAPSHOTS_SENT",
]

FEED_CONNECTIONS = Gauge("feed_connections", "Open websocket connections of the market-data feed.")
FEED_CONNECTIONS_REFUSED = Counter(
    "feed_connections_refused",
    "Websocket connections closed with 1013 at once because a connection cap was reached.",
    ["limit"],
)
FEED_MESSAGES_SENT = Counter(
    "feed_messages_sent", "Messages written to feed clients (all types)."
)
FEED_MESSAGES_DROPPED = Counter(
    "feed_messages_dropped",
    "Queued messages dropped for lagging clients (book deltas replaced by a snapshot, "
    "superseded tickers and candles).",
)
FEED_SLOW_CONSUMERS = Counter(
    "feed_slow_consumers_closed", "Connections closed with 1008 because their queue overflowed."
)
FEED_SNAPSHOTS_SENT = Counter(
    "feed_snapshots_sent", "Book snapshots sent (on subscribe and after conflation)."
)
