"""``/healthz``, ``/readyz`` and ``/metrics`` of an engine or feed process.

Each process of a cluster answers for itself on ``--ops-port`` (an HTTP
listener of its own; the gateway serves the same routes on its REST port):
``/healthz`` 200 while the process runs; ``/readyz`` 200 when it serves (an
engine: active and its venue ready; a standby answers 503 ``standby``);
``/metrics`` is the Prometheus text of the process, with
``exchange_cluster_active{shard}`` (1 on the active engine of a shard).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest

__all__ = ["ACTIVE", "start_ops"]

log = logging.getLogger("exchange.cluster")

ACTIVE = Gauge("exchange_cluster_active", "1 on the active engine of the shard.", ["shard"])


async def start_ops(
    host: str, port: int, ready: Callable[[], str | None], what: str
) -> web.AppRunner:
    """Serve the three routes; ``ready()`` is None when ready, else the state's name."""

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_request: web.Request) -> web.Response:
        state = ready()
        if state is None:
            return web.json_response({"status": "ready"})
        return web.json_response({"status": state}, status=503)

    async def metrics(_request: web.Request) -> web.Response:
        body = generate_latest()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    log.warning("cluster: %s serves /healthz, /readyz and /metrics at http://%s:%d",
                what, host, bound)
    return runner
