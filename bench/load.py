"""Load test of the REST API: a real server, a separate client process, loopback.

``python -m bench load [--orders N] [--connections C] [--fsync on|off|both]``

For each fsync mode, starts ``exchange serve --rate-limit 0 [--no-fsync]`` in
a subprocess on free ports and drives it from ONE separate client process
(multiprocessing, aiohttp, keep-alive, ``C`` concurrent connections), in
phases:

1. single orders: ``POST /v1/orders`` closed loop on C connections for
   ``--single`` orders; orders/s and p50/p99 latency;
2. batches: ``POST /v1/orders/batch`` of 100 orders, closed loop; orders/s;
3. fixed load: 2,000 orders/s offered open loop (requests are sent at their
   scheduled times whatever the answers do; latency counts from the
   scheduled time, so queueing is not hidden) for ``--fixed-seconds``; p50/p99;
4. fill: batches until the server has taken ``--orders`` orders in total,
   then the server's RSS (psutil).

The workload: 8 accounts, 50 SKUs of the demo catalog, limit orders around a
per-SKU fair value on the tick, about one in five crossing the spread, so
books hold resting orders and trades happen. Goals (issue 4): >= 5,000 single
orders/s, >= 50,000 orders/s in batches, p99 < 20 ms at 2,000 orders/s.

Prints one JSON line per fsync mode (key ``load``) and a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "Workload",
    "accounts_and_skus",
    "latency_fields",
    "main",
    "open_loop",
    "percentile",
    "start_server",
    "stop_server",
]

ROOT = Path(__file__).resolve().parent.parent
SKUS = 50
ACCOUNTS = 8


def _start_server(data_dir: Path, fsync: bool) -> tuple[subprocess.Popen[str], str]:
    proc, http_url, _ = start_server(data_dir, fsync)
    return proc, http_url


def start_server(data_dir: Path, fsync: bool) -> tuple[subprocess.Popen[str], str, str]:
    """``exchange serve --rate-limit 0`` on free ports: the process, its http:// and ws:// URLs."""
    cmd = [sys.executable, "-m", "api.cli", "serve", "--http-port", "0", "--feed-port", "0",
           "--data-dir", str(data_dir), "--rate-limit", "0"]
    if not fsync:
        cmd.append("--no-fsync")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            cwd=ROOT)
    assert proc.stdout is not None
    http_url = proc.stdout.readline().strip()
    ws_url = proc.stdout.readline().strip()
    if not http_url.startswith("http://"):
        proc.kill()
        raise RuntimeError("the server did not start")
    return proc, http_url, ws_url


def stop_server(proc: subprocess.Popen[str]) -> None:
    """SIGTERM the server and wait for it (killed after 60 s)."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nan when empty)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


T = TypeVar("T")


async def open_loop(
    rate: float, n: int, send: Callable[[int, float], Awaitable[T]]
) -> tuple[list[T], float]:
    """Offer ``n`` requests at ``rate`` per second, open loop.

    ``send(i, due)`` starts request ``i`` at its scheduled time ``due``
    (``time.perf_counter``) whatever earlier answers do, so a latency counted
    from ``due`` does not hide queueing.

    Returns:
        Every answer, in order, and the rate achieved.
    """
    tasks = []
    start = time.perf_counter() + 0.05
    for i in range(n):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(i, due)))
    answers = await asyncio.gather(*tasks)
    return list(answers), n / (time.perf_counter() - start)


async def accounts_and_skus(
    session: Any, url: str, n: int, prefix: str
) -> tuple[list[str], list[str]]:
    """Create ``n`` traders (``prefix0``...) over REST: their keys, and the first SKUs."""
    keys = []
    for i in range(n):
        async with session.post(f"{url}/v1/accounts", json={"name": f"{prefix}{i}"}) as r:
            keys.append((await r.json())["api_key"])
    async with session.get(f"{url}/v1/products") as r:
        products = (await r.json())["products"]
    return keys, [s["sku"] for p in products for s in p["skus"]][:SKUS]


def latency_fields(prefix: str, seconds: list[float]) -> dict[str, float]:
    """``{prefix}p50_ms`` and ``{prefix}p99_ms`` of latencies given in seconds."""
    return {
        f"{prefix}p50_ms": round(percentile(seconds, 0.50) * 1000.0, 2),
        f"{prefix}p99_ms": round(percentile(seconds, 0.99) * 1000.0, 2),
    }


class Workload:
    """Seeded order bodies: limit orders around per-SKU fair values."""

    def __init__(self, skus: list[str], seed: int = 1) -> None:
        self.rng = random.Random(seed)
        self.skus = skus
        self.fair = {s: self.rng.randrange(150, 600) * 100 for s in skus}

    def order(self) -> dict[str, Any]:
        rng = self.rng
        sku = rng.choice(self.skus)
        fair = self.fair[sku]
        side = "bid" if rng.random() < 0.5 else "ask"
        if rng.random() < 0.2:
            ticks = rng.randint(1, 5)  # crossing
            price = fair + ticks * 100 if side == "bid" else fair - ticks * 100
        else:
            ticks = rng.randint(1, 30)
            price = fair - ticks * 100 if side == "bid" else fair + ticks * 100
        return {"sku": sku, "side": side, "type": "limit", "price_cents": max(100, price),
                "quantity": rng.randint(1, 3)}


async def _client(url: str, args: dict[str, Any]) -> dict[str, Any]:
    import aiohttp

    conns = args["connections"]
    connector = aiohttp.TCPConnector(limit=conns, limit_per_host=conns)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        keys, skus = await accounts_and_skus(session, url, ACCOUNTS, "load")
        work = Workload(skus)
        headers = [{"Authorization": f"Bearer {k}"} for k in keys]
        total = 0
        errors = 0

        async def post_one(i: int, lat: list[float], started: float | None = None) -> None:
            nonlocal errors
            t0 = started if started is not None else time.perf_counter()
            async with session.post(f"{url}/v1/orders", json=work.order(),
                                    headers=headers[i % ACCOUNTS]) as r:
                await r.read()
                if r.status >= 300:
                    errors += 1
            lat.append(time.perf_counter() - t0)

        # 1. single orders, closed loop
        single_lat: list[float] = []
        n_single = args["single"]
        counter = iter(range(n_single))

        async def single_worker() -> None:
            for i in counter:
                await post_one(i, single_lat)

        t0 = time.perf_counter()
        await asyncio.gather(*(single_worker() for _ in range(conns)))
        single_s = time.perf_counter() - t0
        total += n_single

        # 2. batches of 100, closed loop
        n_batches = args["batches"]
        batch_lat: list[float] = []
        bcounter = iter(range(n_batches))

        async def batch_worker() -> None:
            nonlocal errors
            for i in bcounter:
                body = {"orders": [work.order() for _ in range(100)]}
                t = time.perf_counter()
                async with session.post(f"{url}/v1/orders/batch", json=body,
                                        headers=headers[i % ACCOUNTS]) as r:
                    await r.read()
                    errors += r.status != 200
                batch_lat.append(time.perf_counter() - t)

        t0 = time.perf_counter()
        await asyncio.gather(*(batch_worker() for _ in range(conns)))
        batch_s = time.perf_counter() - t0
        total += n_batches * 100

        # 3. fixed offered load, open loop
        rate = args["fixed_rate"]
        n_fixed = int(rate * args["fixed_seconds"])
        fixed_lat: list[float] = []
        _, achieved = await open_loop(
            rate, n_fixed, lambda i, due: post_one(i, fixed_lat, started=due))
        total += n_fixed

        # 4. fill up to --orders with batches, for the RSS figure
        fill_target = args["orders"]
        fill_batches = max(0, (fill_target - total + 99) // 100)
        fcounter = iter(range(fill_batches))

        async def fill_worker() -> None:
            nonlocal errors
            for i in fcounter:
                body = {"orders": [work.order() for _ in range(100)]}
                async with session.post(f"{url}/v1/orders/batch", json=body,
                                        headers=headers[i % ACCOUNTS]) as r:
                    await r.read()
                    errors += r.status != 200

        await asyncio.gather(*(fill_worker() for _ in range(conns)))
        total += fill_batches * 100

    return {
        "single_orders_per_s": round(n_single / single_s),
        **latency_fields("single_", single_lat),
        "batch_orders_per_s": round(n_batches * 100 / batch_s),
        **latency_fields("batch_", batch_lat),
        "fixed_offered_per_s": rate,
        "fixed_achieved_per_s": round(achieved),
        **latency_fields("fixed_", fixed_lat),
        "orders_total": total,
        "errors": errors,
    }


def _client_process(url: str, args: dict[str, Any], out: Any) -> None:
    try:
        import uvloop

        result = uvloop.run(_client(url, args))
    except ImportError:  # pragma: no cover
        result = asyncio.run(_client(url, args))
    out.send(result)


def run_once(fsync: bool, args: argparse.Namespace) -> dict[str, Any]:
    """One server (fsync on or off), one client process, every phase."""
    import psutil

    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        proc, url = _start_server(Path(tmp) / "data", fsync)
        try:
            server = psutil.Process(proc.pid)
            cpu0 = server.cpu_times()
            ctx = mp.get_context("spawn")
            parent, child = ctx.Pipe(duplex=False)
            client = ctx.Process(target=_client_process, args=(url, vars(args), child))
            t0 = time.perf_counter()
            client.start()
            result: dict[str, Any] = parent.recv()
            client.join()
            wall = time.perf_counter() - t0
            cpu1 = server.cpu_times()
            result["server_rss_mb"] = round(server.memory_info().rss / 2**20, 1)
            result["server_cpu_s"] = round(
                (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system), 1
            )
            result["wall_s"] = round(wall, 1)
        finally:
            stop_server(proc)
    result["fsync"] = fsync
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Run the load test; prints JSON lines and a table."""
    parser = argparse.ArgumentParser(prog="python -m bench load", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000,
                        help="total orders per server run, for the RSS figure (default 1M)")
    parser.add_argument("--single", type=int, default=20_000, help="single orders (phase 1)")
    parser.add_argument("--batches", type=int, default=500, help="batches of 100 (phase 2)")
    parser.add_argument("--fixed-rate", type=int, default=2_000, help="offered orders/s")
    parser.add_argument("--fixed-seconds", type=float, default=5.0, help="phase 3 length")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections")
    parser.add_argument("--fsync", choices=("on", "off", "both"), default="both")
    args = parser.parse_args(list(argv) if argv is not None else None)
    modes = {"on": [True], "off": [False], "both": [False, True]}[args.fsync]
    rows = []
    for fsync in modes:
        result = run_once(fsync, args)
        rows.append(result)
        print(json.dumps({"load": result}), flush=True)
    cols = ["fsync", "single_orders_per_s", "single_p50_ms", "single_p99_ms",
            "batch_orders_per_s", "fixed_achieved_per_s", "fixed_p50_ms", "fixed_p99_ms",
            "orders_total", "server_rss_mb", "errors"]
    widths = [max(len(c), 8) for c in cols]
    print("  ".join(c.rjust(w) for c, w in zip(cols, widths, strict=True)))
    for row in rows:
        print("  ".join(str(row[c]).rjust(w) for c, w in zip(cols, widths, strict=True)))
    return 0


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main())
