"""Operational endpoints: liveness, readiness, metrics, the OpenAPI document, config."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import orjson
from aiohttp import web

from exchange.health import State

from .context import CONFIG_KEY, json_response, venue_of
from .metrics import PROMETHEUS_CONTENT_TYPE, render_metrics
from .problems import PROBLEM_CONTENT_TYPE, problem_body

__all__ = ["config", "healthz", "metrics", "openapi", "readyz"]


async def healthz(request: web.Request) -> web.Response:
    """Liveness: 200 ``ok`` when ready, else 200 naming the state (the venue gets
    well by itself); 503 only when it needs a restart (``failed``)."""
    health = venue_of(request).health()
    if health.state is State.READY:
        return json_response({"status": "ok"})
    return json_response(health.wire(), status=200 if health.alive else 503)


async def readyz(request: web.Request) -> web.Response:
    """Readiness: 200 while orders are accepted (``ready``, ``store_behind`` with
    its lag), else 503 ``not_ready`` naming the state and what helps."""
    health = venue_of(request).health()
    if health.accepting:
        return json_response(health.wire() if health.state is not State.READY
                             else {"status": "ready"})
    body = problem_body("not_ready", health.detail, status=503, instance=request.path)
    body["state"] = str(health.state)
    return web.Response(
        body=orjson.dumps(body), status=503, content_type=PROBLEM_CONTENT_TYPE,
        headers={"Retry-After": "1"},
    )


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
