"""HTTP metrics, and the text of ``/metrics``.

``http_request_duration_seconds`` is a histogram labelled by ``method``, the
canonical ``route`` pattern (``/v1/orders/{order_id}``, never the raw path, so
label cardinality stays bounded; ``unmatched`` for unknown paths) and
``status``. ``/metrics`` renders prometheus_client's default registry, where
the venue's metrics (exchange/metrics.py) and the feed's (feeds/metrics.py)
live as well.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST as PROMETHEUS_CONTENT_TYPE
from prometheus_client import REGISTRY, Histogram, generate_latest

__all__ = ["HTTP_LATENCY", "PROMETHEUS_CONTENT_TYPE", "observe_request", "render_metrics"]

HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency by method, route pattern and status.",
    ["method", "route", "status"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


_children: dict[tuple[str, str, int], Any] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Record one finished request."""
    key = (method, route, status)
    child = _children.get(key)
    if child is None:
        # labels() takes a lock and builds a tuple each time; keep the child.
        child = _children[key] = HTTP_LATENCY.labels(method, route, str(status))
    child.observe(seconds)


def render_metrics() -> bytes:
    """The Prometheus text exposition of the default registry."""
    return generate_latest(REGISTRY)
