"""Order entry over the feed's websocket: orders/s and latency over 10 sessions.

``python -m bench orderentry [--sessions 10] [--orders N] [--window W]
[--rate R] [--seconds S] [--fsync on|off]``

Starts ``exchange serve --rate-limit 0`` (fsync on by default) in a
subprocess on free ports and drives it from ONE separate client process
(``websockets``, one connection and one authenticated session per account),
in two phases, with the load test's order mix (:class:`bench.load.Workload`:
limit orders around per-SKU fair values, one in five crossing):

1. throughput: each session keeps ``W`` ``place`` requests in flight (a new
   one as each ``result`` comes back) until ``N`` orders are answered;
   orders/s acknowledged (each answer is sent once its command is fsynced)
   and the latency of each request, send to ``result``;
2. fixed load: ``R`` orders/s offered open loop over the sessions for ``S``
   seconds (each sent at its scheduled time whatever the answers do; latency
   counts from the scheduled time, so queueing is not hidden); p50/p99.

Goals (issue 15): 20,000 orders/s acknowledged over 10 sessions, p99 under
20 ms at 5,000/s offered. Prints one JSON line (key ``orderentry``) and a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .load import Workload, accounts_and_skus, latency_fields, open_loop, start_server, stop_server

__all__ = ["main"]


class _Session:
    """One authenticated websocket session with requests matched by req_id."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.waiting: dict[int, tuple[float, asyncio.Future[int]]] = {}
        self.next_id = 1
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        import orjson

        async for raw in self.ws:
            message = orjson.loads(raw)
            entry = self.waiting.pop(message.get("req_id"), None)  # type: ignore[arg-type]
            if entry is not None and not entry[1].done():
                entry[1].set_result(int(message.get("status", 0)))

    async def place(self, order: dict[str, Any], started: float, lat: list[float]) -> int:
        import orjson

        req_id = self.next_id
        self.next_id += 1
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.waiting[req_id] = (started, future)
        await self.ws.send(orjson.dumps({"type": "place", "req_id": req_id,
                                         "order": order}).decode())
        status = await future
        lat.append(time.perf_counter() - started)
        return status


async def _client(http_url: str, ws_url: str, args: dict[str, Any]) -> dict[str, Any]:
    import aiohttp
    import orjson
    from websockets.asyncio.client import connect

    n_sessions = args["sessions"]
    async with aiohttp.ClientSession() as http:
        keys, skus = await accounts_and_skus(http, http_url, n_sessions, "bot")
    work = Workload(skus, seed=15)
    sessions: list[_Session] = []
    for key in keys:
        ws = await connect(ws_url, max_size=None)
        await ws.send(orjson.dumps({"type": "auth", "api_key": key, "req_id": 0}).decode())
        reply = orjson.loads(await ws.recv())
        if reply.get("type") != "authenticated":
            raise RuntimeError(f"auth refused: {reply}")
        sessions.append(_Session(ws))
    errors = 0

    # 1. throughput: W in flight per session
    total = args["orders"]
    per_session = total // n_sessions
    window = args["window"]
    tput_lat: list[float] = []

    async def pipeline(session: _Session) -> None:
        nonlocal errors
        left = iter(range(per_session))

        async def lane() -> None:
            nonlocal errors
            for _ in left:
                status = await session.place(work.order(), time.perf_counter(), tput_lat)
                errors += status >= 300

        await asyncio.gather(*(lane() for _ in range(window)))

    t0 = time.perf_counter()
    await asyncio.gather(*(pipeline(s) for s in sessions))
    tput_s = time.perf_counter() - t0
    done = per_session * n_sessions

    # 2. fixed offered load, open loop
    rate = args["rate"]
    n_fixed = int(rate * args["seconds"])
    fixed_lat: list[float] = []
    statuses, achieved = await open_loop(
        rate, n_fixed,
        lambda i, due: sessions[i % n_sessions].place(work.order(), due, fixed_lat))
    errors += sum(s >= 300 for s in statuses)
    for session in sessions:
        await session.ws.close()
        session.reader.cancel()

    return {
        "sessions": n_sessions,
        "window": window,
        "orders_per_s": round(done / tput_s),
        **latency_fields("", tput_lat),
        "fixed_offered_per_s": rate,
        "fixed_achieved_per_s": round(achieved),
        **latency_fields("fixed_", fixed_lat),
        "orders": done + n_fixed,
        "errors": errors,
    }


def _client_process(http_url: str, ws_url: str, args: dict[str, Any], out: Any) -> None:
    try:
        import uvloop

        result = uvloop.run(_client(http_url, ws_url, args))
    except ImportError:  # pragma: no cover
        result = asyncio.run(_client(http_url, ws_url, args))
    out.send(result)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """One server, one client process, both phases."""
    with tempfile.TemporaryDirectory(prefix="bench-orderentry-") as tmp:
        proc, http_url, ws_url = start_server(Path(tmp) / "data", args.fsync == "on")
        try:
            ctx = mp.get_context("spawn")
            parent, child = ctx.Pipe(duplex=False)
            client = ctx.Process(target=_client_process,
                                 args=(http_url, ws_url, vars(args), child))
            client.start()
            result: dict[str, Any] = parent.recv()
            client.join()
        finally:
            stop_server(proc)
    result["fsync"] = args.fsync == "on"
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; prints a JSON line and a table."""
    parser = argparse.ArgumentParser(prog="python -m bench orderentry",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--orders", type=int, default=50_000, help="phase 1 orders")
    parser.add_argument("--window", type=int, default=50,
                        help="requests in flight per session in phase 1")
    parser.add_argument("--rate", type=float, default=5_000.0, help="phase 2 orders/s")
    parser.add_argument("--seconds", type=float, default=5.0, help="phase 2 duration")
    parser.add_argument("--fsync", choices=("on", "off"), default="on")
    args, _ = parser.parse_known_args(argv)
    result = run(args)
    print(json.dumps({"orderentry": result}), flush=True)
    rows = [
        ("websocket order entry", f"{result['sessions']} sessions, fsync "
         f"{'on' if result['fsync'] else 'off'}, {result['window']} in flight each"),
        ("orders/s acknowledged", f"{result['orders_per_s']:,}  (goal 20,000)"),
        ("latency p50 / p99", f"{result['p50_ms']} / {result['p99_ms']} ms"),
        (f"at {result['fixed_offered_per_s']:,.0f}/s offered",
         f"achieved {result['fixed_achieved_per_s']:,}/s, p50 {result['fixed_p50_ms']} ms, "
         f"p99 {result['fixed_p99_ms']} ms  (goal p99 < 20 ms)"),
        ("errors", str(result["errors"])),
    ]
    width = max(len(name) for name, _ in rows)
    print("\n".join(f"{name:<{width}}  {value}" for name, value in rows), flush=True)
    return 0


if __name__ == "__main__":
    main()
