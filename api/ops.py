"""Operational endpoints: liveness, readiness, metrics, the OpenAPI document, config."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from aiohttp import web

from .context import CONFIG_KEY, json_response, venue_of
from .metrics import PROMETHEUS_CONTENT_TYPE, render_metrics
from .problems import problem_response

__all__ = ["config", "healthz", "metrics", "openapi", "readyz"]


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process serves HTTP."""
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: 200 once the venue has recovered, else 503 ``not_ready``."""
    if not venue_of(request).ready:
        return problem_response(
            "not_ready", "The exchange is still recovering.", status=503, instance=request.path
        )
    return json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text of the default registry."""
    return web.Response(body=render_metrics(), headers={"Content-Type": PROMETHEUS_CONTENT_TYPE})


async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 document."""
    return web.Response(body=request.app[CONFIG_KEY].openapi, content_type="application/json")


async def config(request: web.Request) -> web.Response:
    """What the web page needs to know: the websocket feed's URL.

    A feed bound to a wildcard address (0.0.0.0) is reported under the host
    name the browser used to reach this server.
    """
    url = request.app[CONFIG_KEY].feed_url
    parts = urlsplit(url)
    if parts.hostname in ("0.0.0.0", "::", "") and request.url.host:
        netloc = f"{request.url.host}:{parts.port}" if parts.port else request.url.host
        url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return json_response({"feed_url": url})
