"""Feed fan-out benchmark: 1,000 websocket clients on loopback.

Three processes:

- the **server**: a :class:`feeds.server.FeedServer` (uvloop when available)
  fed by a synthetic engine: real :class:`orderbook.OrderBook` s driven by the
  seeded market workload of ``bench/workload.py`` (Zipf-popular SKUs) at
  ``--rate`` commands per second, released in batches every 2 ms like the
  venue's group commit; each command's fills become ``TradePrint`` s and its
  level changes one ``BookUpdate`` (with the book's checksum), stamped with the
  wall clock at the match;
- the **clients**: ``--clients`` light raw-socket websocket clients in one
  process (uvloop): each does the HTTP upgrade by hand, subscribes to
  ``book``, ``trades`` and ``ticker`` of ``--skus-per-client`` SKUs drawn by
  popularity, answers pings, counts text frames, and in one socket read of
  ``--sample-every`` parses the first (oldest) frame to measure latency from
  the event's ``time`` (the match, millisecond precision, so figures are
  over-estimated by up to 1 ms) to receipt. Raw clients keep the client side
  from measuring itself (DESIGN.md);
- the **parent**, which samples the server's CPU time and RSS with psutil
  over the measurement window.

Output: one JSON line (``messages_per_s`` delivered in total, ``server_cpu_cores``,
``server_rss_mb``, ``latency_p50_ms`` / ``latency_p99_ms``, ...), then
a one-line summary against the goals. ``python -m bench feed --clients 1000 --duration 20``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import bisect
import gc
import itertools
import json
import multiprocessing as mp
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

__all__ = ["main"]

GOAL_MESSAGES_PER_S = 200_000
GOAL_P99_MS = 50.0


def _use_uvloop() -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def _sku(i: int) -> str:
    return f"SKU-{i:03d}"


# --- the server process -----------------------------------------------------


class _SyntheticVenue:
    """Just what FeedServer needs: mirror, subscribe, sku_exists; plus a pump."""

    def __init__(self, n_skus: int, rate: float, seconds: float, seed: int) -> None:
        from bench.book import RULES, build_commands
        from bench.workload import generate
        from exchange.marketdata import L2Mirror
        from orderbook import OrderBook

        self.mirror = L2Mirror()
        self.callbacks: list[Callable[[list[Any]], None]] = []
        self.n_skus = n_skus
        self.rate = rate
        workload = generate(int(rate * seconds) + 1000, n_skus=n_skus, seed=seed)
        self.steps = build_commands(workload.events)
        self.books = [OrderBook(_sku(i), RULES) for i in range(n_skus)]
        self.seq = [0] * n_skus
        self.book_seq = [0] * n_skus
        self.trade_seq = [0] * n_skus
        self.trade_id = 0
        self.released = 0

    def subscribe(self, callback: Callable[[list[Any]], None]) -> None:
        self.callbacks.append(callback)

    def unsubscribe(self, callback: Callable[[list[Any]], None]) -> None:
        self.callbacks.remove(callback)

    def sku_exists(self, sku: str) -> bool:
        return sku.startswith("SKU-") and 0 <= int(sku[4:] or -1) < self.n_skus

    def _run(self, index: int, cmd: Any, out: list[Any]) -> None:
        from exchange.marketdata import BookUpdate, TradePrint
        from orderbook import Fill, LevelChanged

        book = self.books[index]
        sku = book.sku
        now = time.time_ns()
        changes: list[tuple[str, int, int]] = []
        for event in book.handle(cmd):
            if isinstance(event, Fill):
                self.seq[index] += 1
                self.trade_id += 1
                out.append(TradePrint(sku, self.seq[index], self.trade_seq[index], self.trade_id,
                                      event.price_cents, event.quantity, str(event.taker_side),
                                      now))
                self.trade_seq[index] = self.seq[index]
            elif isinstance(event, LevelChanged):
                changes.append((str(event.side), event.price_cents, event.quantity))
        if changes:
            self.seq[index] += 1
            out.append(BookUpdate(sku, self.seq[index], self.book_seq[index], tuple(changes),
                                  book.checksum(), now))
            self.book_seq[index] = self.seq[index]

    async def pump(self) -> None:
        """Release ``rate`` commands per second in 2 ms batches until the workload ends."""
        start = time.perf_counter()
        done = 0
        while done < len(self.steps):
            await asyncio.sleep(0.002)
            due = min(len(self.steps), int((time.perf_counter() - start) * self.rate))
            out: list[Any] = []
            for index, cmd in self.steps[done:due]:
                self._run(index, cmd, out)
            done = due
            if out:
                for event in out:
                    self.mirror.apply(event)
                for callback in self.callbacks:
                    callback(out)
                self.released += len(out)


def _server_main(conn: Connection, args: dict[str, Any]) -> None:
    _use_uvloop()

    async def run() -> None:
        from feeds.server import FeedServer

        venue = _SyntheticVenue(args["skus"], args["rate"], args["seconds"], args["seed"])
        feed = FeedServer(venue, port=0, flush_interval=args["flush_interval"],
                          queue_size=args["queue_size"])
        await feed.start()
        # The pre-built workload is a few hundred thousand long-lived objects:
        # keep them out of the collector's full passes, as a long-running
        # server would after start-up.
        gc.freeze()
        pump = asyncio.create_task(venue.pump())
        conn.send(feed.port)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, conn.recv)  # "stop"
        pump.cancel()
        from prometheus_client import REGISTRY

        conn.send({
            "events_released": venue.released,
            "connections": feed.connections,
            "dropped": REGISTRY.get_sample_value("feed_messages_dropped_total"),
            "slow_consumers": REGISTRY.get_sample_value("feed_slow_consumers_closed_total"),
        })
        await feed.close()

    asyncio.run(run())


# --- the clients process ------------------------------------------------------


class _RawClient(asyncio.Protocol):
    """A minimal websocket client: handshake, one subscribe, count frames."""

    def __init__(self, host: str, port: int, subscribe: bytes, stats: _ClientStats) -> None:
        self.host, self.port = host, port
        self.subscribe = subscribe
        self.stats = stats
        self.rest = b""
        self.open = False
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: Any = None  # asyncio's or uvloop's transport
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # uvloop's transport is not an asyncio.Transport
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(
            f"GET / HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("closed during handshake"))

    def _send(self, opcode: int, payload: bytes) -> None:
        # Masked with a zero key: valid (RFC 6455 5.3) and needs no XOR.
        n = len(payload)
        if n < 126:
            header = bytes((0x80 | opcode, 0x80 | n))
        else:
            header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
        assert self.transport is not None
        self.transport.write(header + b"\0\0\0\0" + payload)

    def data_received(self, data: bytes) -> None:
        if self.rest:
            data = self.rest + data
            self.rest = b""
        if not self.open:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.rest = data
                return
            if not data.startswith(b"HTTP/1.1 101"):
                raise ConnectionError(data[:end].decode(errors="replace"))
            data = data[end + 4 :]
            self.open = True
            self._send(0x1, self.subscribe)
            self.ready.set_result(None)
        # Walk the frame headers (server frames are unmasked); this loop is
        # the clients' whole per-message cost, so it stays minimal.
        pos = 0
        size = len(data)
        count = 0
        first = -1
        while size - pos >= 2:
            n = data[pos + 1]
            if n < 126:
                head = 2
            elif n == 126:
                if size - pos < 4:
                    break
                n = (data[pos + 2] << 8) | data[pos + 3]
                head = 4
            else:
                if size - pos < 10:
                    break
                n = int.from_bytes(data[pos + 2 : pos + 10], "big")
                head = 10
            end = pos + head + n
            if end > size:
                break
            if data[pos] == 0x81:
                count += 1
                if first < 0:
                    first = pos
                    first_head = head
                    first_end = end
            elif data[pos] & 0x0F == 0x9:
                self._send(0xA, data[pos + head : end])
            pos = end
        if pos < size:
            self.rest = data[pos:]
        stats = self.stats
        stats.frames += count
        if first >= 0 and stats.measuring:
            stats.chunks += 1
            if stats.chunks % stats.sample_every == 0:
                # The first frame of a chunk is its oldest: a conservative sample.
                stats.sample(data[first + first_head : first_end])


class _ClientStats:
    def __init__(self, sample_every: int) -> None:
        import orjson

        from exchange.clock import parse_rfc3339

        self.frames = 0
        self.chunks = 0
        self.measuring = False
        self.sample_every = sample_every
        self.latencies_ms: list[float] = []
        self._loads = orjson.loads
        self._parse = parse_rfc3339
        self._cache: dict[str, int] = {}

    def sample(self, payload: bytes) -> None:
        message = self._loads(payload)
        if message.get("type") not in ("book", "trade", "ticker"):
            return
        stamp = message.get("time")
        if not stamp:
            return
        sent = self._cache.get(stamp)
        if sent is None:
            sent = self._cache[stamp] = self._parse(stamp)
            if len(self._cache) > 10_000:
                self._cache.clear()
        self.latencies_ms.append((time.time_ns() - sent) / 1e6)


def _clients_main(conn: Connection, args: dict[str, Any]) -> None:
    _use_uvloop()
    import orjson

    async def run() -> None:
        loop = asyncio.get_running_loop()
        rng = random.Random(args["seed"])
        n_skus = args["skus"]
        # Clients watch SKUs by the same Zipf popularity as the market.
        weights = list(itertools.accumulate(1.0 / (r + 1) ** 1.1 for r in range(n_skus)))
        stats = _ClientStats(args["sample_every"])
        clients: list[_RawClient] = []
        gate = asyncio.Semaphore(64)

        async def open_one() -> None:
            skus: set[str] = set()
            while len(skus) < args["skus_per_client"]:
                skus.add(_sku(bisect.bisect(weights, rng.random() * weights[-1])))
            message = orjson.dumps({"type": "subscribe", "channels": ["book", "trades", "ticker"],
                                    "skus": sorted(skus)})
            async with gate:
                for attempt in range(3):  # a loaded machine may time a handshake out
                    try:
                        _, client = await loop.create_connection(
                            lambda: _RawClient("127.0.0.1", args["port"], message, stats),
                            "127.0.0.1", args["port"],
                        )
                        await client.ready
                    except ConnectionError:
                        if attempt == 2:
                            raise
                        continue
                    clients.append(client)
                    return

        await asyncio.gather(*(open_one() for _ in range(args["clients"])))
        gc.freeze()
        conn.send("connected")
        await asyncio.sleep(args["warmup"])
        stats.measuring = True
        frames0, t0 = stats.frames, time.perf_counter()
        conn.send("measure")
        await asyncio.sleep(args["duration"])
        frames1, t1 = stats.frames, time.perf_counter()
        stats.measuring = False
        conn.send({
            "frames": frames1 - frames0,
            "seconds": t1 - t0,
            "latencies_ms": stats.latencies_ms,
            "open": sum(not c.closed for c in clients),
        })
        for client in clients:
            if client.transport is not None:
                client.transport.close()

    asyncio.run(run())


# --- the parent ---------------------------------------------------------------


def _percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(
    *,
    clients: int = 1000,
    duration: float = 20.0,
    warmup: float = 3.0,
    rate: float = 1000.0,
    skus: int = 100,
    skus_per_client: int = 3,
    sample_every: int = 8,
    flush_interval: float = 0.005,
    queue_size: int = 2000,
    seed: int = 20260101,
) -> dict[str, Any]:
    """Run the benchmark once; returns the figures."""
    import psutil

    ctx = mp.get_context("spawn")
    server_conn, server_child = ctx.Pipe()
    # The workload must outlast connecting, warmup and measuring.
    seconds = duration + warmup + 30 + clients / 100
    server = ctx.Process(target=_server_main, args=(server_child, {
        "skus": skus, "rate": rate, "seconds": seconds, "seed": seed,
        "flush_interval": flush_interval, "queue_size": queue_size,
    }), daemon=True)
    server.start()
    port = server_conn.recv()
    client_conn, client_child = ctx.Pipe()
    client_proc = ctx.Process(target=_clients_main, args=(client_child, {
        "port": port, "clients": clients, "skus": skus, "skus_per_client": skus_per_client,
        "warmup": warmup, "duration": duration, "sample_every": sample_every, "seed": seed,
    }), daemon=True)
    client_proc.start()
    proc = psutil.Process(server.pid)
    client_ps = psutil.Process(client_proc.pid)

    def receive(conn: Connection, timeout: float) -> Any:
        if not conn.poll(timeout):
            raise TimeoutError("a benchmark process did not answer in time")
        return conn.recv()

    try:
        assert receive(client_conn, 60 + clients / 10) == "connected"
        assert receive(client_conn, warmup + 10) == "measure"
        cpu0 = proc.cpu_times()
        ccpu0 = client_ps.cpu_times()
        wall0 = time.perf_counter()
        result = receive(client_conn, duration + 30)
        cpu1 = proc.cpu_times()
        ccpu1 = client_ps.cpu_times()
        wall1 = time.perf_counter()
        rss = proc.memory_info().rss
        server_conn.send("stop")
        server_info = receive(server_conn, 30)
    finally:
        client_proc.join(10)
        server.join(10)
        for p in (client_proc, server):
            if p.is_alive():
                p.kill()
    cpu = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / (wall1 - wall0)
    client_cpu = (ccpu1.user + ccpu1.system - ccpu0.user - ccpu0.system) / (wall1 - wall0)
    latencies = result["latencies_ms"]
    return {
        "bench": "feed",
        "clients": clients,
        "clients_open_at_end": result["open"],
        "engine_commands_per_s": rate,
        "seconds": round(result["seconds"], 2),
        "messages_per_s": round(result["frames"] / result["seconds"]),
        "server_cpu_cores": round(cpu, 3),
        "server_rss_mb": round(rss / 2**20, 1),
        "clients_cpu_cores": round(client_cpu, 3),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "latency_p50_ms": round(_percentile(latencies, 0.50), 2),
        "latency_p99_ms": round(_percentile(latencies, 0.99), 2),
        "latency_mean_ms": round(statistics.fmean(latencies), 2) if latencies else None,
        "latency_samples": len(latencies),
        "md_events_released": server_info["events_released"],
        "messages_dropped": server_info["dropped"],
        "slow_consumers_closed": server_info["slow_consumers"],
        "goal_messages_per_s": GOAL_MESSAGES_PER_S,
        "goal_p99_ms": GOAL_P99_MS,
        "flush_interval_s": flush_interval,
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run from the command line; prints one JSON line and a small table."""
    parser = argparse.ArgumentParser(
        prog="python -m bench feed", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--rate", type=float, default=1000.0, help="engine commands per second")
    parser.add_argument("--skus", type=int, default=100)
    parser.add_argument("--skus-per-client", type=int, default=3)
    parser.add_argument("--sample-every", type=int, default=8,
                        help="sample the first frame of one read in N")
    parser.add_argument("--flush-interval", type=float, default=0.005)
    parser.add_argument("--seed", type=int, default=20260101)
    ns, _ = parser.parse_known_args(list(sys.argv[1:] if argv is None else argv))
    figures = run(
        clients=ns.clients, duration=ns.duration, warmup=ns.warmup, rate=ns.rate, skus=ns.skus,
        skus_per_client=ns.skus_per_client, sample_every=ns.sample_every,
        flush_interval=ns.flush_interval, seed=ns.seed,
    )
    print(json.dumps(figures), flush=True)
    ok_rate = figures["messages_per_s"] >= GOAL_MESSAGES_PER_S
    ok_p99 = figures["latency_p99_ms"] < GOAL_P99_MS
    print(f"feed: {figures['clients']} clients, {figures['messages_per_s']:,} msg/s delivered "
          f"({'meets' if ok_rate else 'below'} {GOAL_MESSAGES_PER_S:,}), "
          f"p50 {figures['latency_p50_ms']} ms, p99 {figures['latency_p99_ms']} ms "
          f"({'meets' if ok_p99 else 'above'} {GOAL_P99_MS:g} ms), "
          f"server {figures['server_cpu_cores']:.2f} cores, {figures['server_rss_mb']} MB RSS")
    return figures


if __name__ == "__main__":
    main()
