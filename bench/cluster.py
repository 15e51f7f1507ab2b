"""Throughput, latency and failover of ``exchange cluster up`` on this machine.

``python -m bench cluster [--shards 1,2,4] [--orders 3000] [--connections 32] [--kills 2]``

For each shard count, starts ``exchange cluster up --shards N --rate-limit 0``
(three NATS nodes with ``sync_interval: always``, R3 streams, a standby per
shard, SQLite history per shard) in a temporary directory and drives its
gateway from this process (aiohttp, keep-alive, ``--connections`` concurrent
closed loops of single ``POST /v1/orders``, the seeded workload of
``bench.load`` over every demo SKU, so orders spread over the shards):
orders/s and p50/p99 latency. With 2 shards it then kills the active engine
of shard 0 (``kill -9``) ``--kills`` times and times the failover: from the
kill to the first acknowledged order on a SKU of that shard.

Everything runs on one machine: three NATS nodes, 2N engines, the gateway
and the client share its cores, so the figures say what this machine does,
not how far shards scale on machines of their own. Prints one JSON line per
shard count (key ``cluster``) and a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from .load import ROOT, Workload, latency_fields

__all__ = ["main"]


def _start(data_dir: Path, shards: int) -> tuple[subprocess.Popen[str], str, str]:
    cmd = [sys.executable, "-m", "api.cli", "cluster", "up", "--http-port", "0",
           "--feed-port", "0", "--data-dir", str(data_dir), "--rate-limit", "0",
           "--shards", str(shards)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            cwd=ROOT)
    assert proc.stdout is not None
    http_url = proc.stdout.readline().strip()
    proc.stdout.readline()
    nats = proc.stdout.readline().strip().removeprefix("nats: ")
    if not http_url.startswith("http://"):
        proc.kill()
        raise RuntimeError("the cluster did not start")
    return proc, http_url, nats


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def _load(url: str, orders: int, connections: int) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        keys = []
        for i in range(8):
            async with session.post(f"{url}/v1/accounts", json={"name": f"bench{i}"}) as r:
                keys.append((await r.json())["api_key"])
        async with session.get(f"{url}/v1/products") as r:
            skus = [s["sku"] for p in (await r.json())["products"] for s in p["skus"]]
        work = Workload(skus)
        latencies: list[float] = []
        failed = 0
        left = orders

        async def loop(i: int) -> None:
            nonlocal left, failed
            headers = {"Authorization": f"Bearer {keys[i % len(keys)]}"}
            while left > 0:
                left -= 1
                t0 = time.perf_counter()
                async with session.post(f"{url}/v1/orders", json=work.order(),
                                        headers=headers) as r:
                    await r.read()
                    if r.status >= 300:
                        failed += 1
                latencies.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        await asyncio.gather(*(loop(i) for i in range(connections)))
        elapsed = time.perf_counter() - t0
    return {"orders": orders, "failed": failed,
            "orders_per_s": round(orders / elapsed, 1), **latency_fields("", latencies)}


async def _active(nats: str, shard: int) -> str:
    from cluster.nats import connect, ensure_leases

    nc = await connect(nats, name="bench")
    try:
        kv = await ensure_leases(nc.jetstream())
        entry = await kv.get(f"shard-{shard}")
        return (entry.value or b"").decode()
    finally:
        await nc.close()


def _pid(name: str) -> int | None:
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmd = proc.info["cmdline"] or []
        if "--name" in cmd and cmd[cmd.index("--name") + 1] == name:
            return int(proc.info["pid"])
    return None


async def _failovers(url: str, nats: str, kills: int) -> list[float]:
    times = []
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{url}/v1/accounts", json={"name": "failover"}) as r:
            key = (await r.json())["api_key"]
        async with session.get(f"{url}/v1/products") as r:
            styles = [p for p in (await r.json())["products"]
                      if zlib.crc32(p["style"].encode()) % 2 == 0]
        sku = styles[0]["skus"][0]["sku"]
        headers = {"Authorization": f"Bearer {key}"}
        for k in range(kills):
            victim = await _active(nats, 0)
            pid = _pid(victim)
            assert pid is not None, victim
            os.kill(pid, signal.SIGKILL)
            killed = time.perf_counter()
            body = {"sku": sku, "side": "bid", "type": "limit", "price_cents": 10_000,
                    "quantity": 1, "client_order_id": f"failover-{k}"}
            while True:
                async with session.post(f"{url}/v1/orders", json=body, headers=headers) as r:
                    if r.status in (200, 201):
                        break
            times.append(round(time.perf_counter() - killed, 2))
            # The killed engine comes back (the supervisor) and warms up as the standby.
            while _pid(victim) is None:
                await asyncio.sleep(0.2)
            await asyncio.sleep(8)
    return times


def run_once(shards: int, args: argparse.Namespace) -> dict[str, Any]:
    """One cluster of ``shards`` shards: load, then (2 shards) failovers."""
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        proc, url, nats = _start(Path(tmp) / "data", shards)
        try:
            result: dict[str, Any] = {"shards": shards, "connections": args.connections}
            result.update(asyncio.run(_load(url, args.orders, args.connections)))
            if shards == 2 and args.kills:
                times = asyncio.run(_failovers(url, nats, args.kills))
                result["failover_s"] = times
                result["failover_max_s"] = max(times)
            return result
        finally:
            _stop(proc)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the cluster benchmark; prints JSON lines and a table."""
    parser = argparse.ArgumentParser(prog="python -m bench cluster")
    parser.add_argument("--shards", default="1,2,4")
    parser.add_argument("--orders", type=int, default=3000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--kills", type=int, default=2)
    args = parser.parse_args(list(argv or []))
    rows = []
    for n in (int(s) for s in args.shards.split(",")):
        row = run_once(n, args)
        print(json.dumps({"cluster": row}), flush=True)
        rows.append(row)
    print(f"{'shards':>6} {'orders/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'failover s':>12}")
    for r in rows:
        fo = r.get("failover_max_s", "")
        print(f"{r['shards']:>6} {r['orders_per_s']:>9} {r['p50_ms']:>8} {r['p99_ms']:>8} "
              f"{fo!s:>12}")
    return 0
