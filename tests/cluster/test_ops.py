"""An engine or feed process answers /healthz, /readyz and /metrics on its ops port."""

from __future__ import annotations

import aiohttp

from cluster.ops import ACTIVE, start_ops


async def test_health_readiness_and_metrics() -> None:
    state: list[str | None] = ["standby"]
    runner = await start_ops("127.0.0.1", 0, lambda: state[0], "test")
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{base}/healthz") as r:
                assert r.status == 200
            async with s.get(f"{base}/readyz") as r:
                assert r.status == 503 and (await r.json())["status"] == "standby"
            state[0] = None
            ACTIVE.labels("7").set(1)
            async with s.get(f"{base}/readyz") as r:
                assert r.status == 200
            async with s.get(f"{base}/metrics") as r:
                assert 'exchange_cluster_active{shard="7"} 1.0' in await r.text()
    finally:
        await runner.cleanup()
