"""``exchange cluster ...``: the cluster roles, composed here (api/ is the root).

- ``exchange cluster up``: a local cluster (three NATS nodes, shards with a
  standby each, one feed, one gateway), printing the URLs as ``serve`` does.
- ``exchange cluster engine --shard K``: one shard's engine (active or standby).
- ``exchange cluster gateway``: the REST API over a :class:`cluster.gateway.RemoteVenue`.
- ``exchange cluster feed``: the websocket feed over the same.

The roles find each other through ``--nats`` (the servers' URLs, comma
separated; env ``EXCHANGE_NATS``) and agree on ``--shards``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from .cli import CliError, _add_data_dir, _add_database_url, _env, _port, _positive_int, _url

__all__ = ["add_cluster_parser", "run_cluster"]

DEFAULT_SHARDS = 2


def add_cluster_parser(sub: Any) -> None:
    """Add ``exchange cluster`` and its roles to the subcommands ``sub``."""
    cluster = sub.add_parser("cluster", help="run the exchange as a cluster over NATS JetStream")
    roles = cluster.add_subparsers(dest="cluster_command", required=True, metavar="ROLE",
                                   parser_class=type(cluster))

    up = roles.add_parser("up", help="a whole cluster on this machine: NATS, shards with "
                          "standbys, feed and gateway as child processes")
    _add_front(up, http=True, feed=True)
    _add_data_dir(up)
    _add_database_url(up)
    up.add_argument("--standbys", type=int, default=1, help="standby engines per shard "
                    "(default 1)")

    engine = roles.add_parser("engine", help="one shard's engine (active or standby)")
    engine.add_argument("--shard", type=int, required=True, help="the shard (0..shards-1)")
    engine.add_argument("--name", default=None, help="this engine's name in logs and the lease")
    _add_data_dir(engine)
    _add_database_url(engine)
    engine.add_argument("--ops-port", type=_port, default=None,
                        help="serve /healthz, /readyz and /metrics on this port (0: a free "
                        "one, logged); default: none")
    engine.add_argument("--no-demo-catalog", action="store_true",
                        help="do not journal the demo products on a new shard")
    _add_common(engine)

    gateway = roles.add_parser("gateway", help="the REST API of the cluster")
    _add_front(gateway, http=True, feed=False)
    gateway.add_argument("--feed-url", default="ws://127.0.0.1:8765",
                         help="the feed's URL, as GET /v1/config reports it")

    feed = roles.add_parser("feed", help="the websocket feed of the cluster")
    _add_front(feed, http=False, feed=True)
    feed.add_argument("--ops-port", type=_port, default=None,
                      help="serve /healthz, /readyz and /metrics on this port (0: a free one, "
                      "logged); default: none")


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--nats", default=_env("EXCHANGE_NATS", None),
                   help="NATS servers, comma separated (env EXCHANGE_NATS)")
    p.add_argument("--shards", type=_positive_int, default=DEFAULT_SHARDS,
                   help=f"number of shards (default {DEFAULT_SHARDS})")
    p.add_argument("--log-level", default=_env("EXCHANGE_LOG_LEVEL", "warning"),
                   choices=("debug", "info", "warning", "error"), help="log level")


def _add_front(p: argparse.ArgumentParser, *, http: bool, feed: bool) -> None:
    p.add_argument("--host", default=_env("EXCHANGE_HOST", "127.0.0.1"),
                   help="address to bind (env EXCHANGE_HOST; default 127.0.0.1)")
    if http:
        p.add_argument("--http-port", type=_port, default=_env("EXCHANGE_HTTP_PORT", "8080"),
                       help="REST port, 0 = a free one (default 8080)")
        p.add_argument("--rate-limit", type=float, default=100.0,
                       help="requests/s per key, 0 = off (default 100)")
    if feed:
        p.add_argument("--feed-port", type=_port, default=_env("EXCHANGE_FEED_PORT", "8765"),
                       help="websocket feed port, 0 = a free one (default 8765)")
    _add_common(p)


def run_cluster(args: argparse.Namespace) -> int:
    """Run the ``exchange cluster`` role named in ``args``."""
    shard = getattr(args, "shard", None)
    label = f" shard={shard}" if shard is not None else ""
    logging.basicConfig(
        level=args.log_level.upper(), stream=sys.stderr,
        format=f"%(asctime)s %(levelname)s {args.cluster_command}{label} %(name)s: %(message)s",
    )
    if args.cluster_command != "up" and not args.nats:
        raise CliError("--nats (or EXCHANGE_NATS) is required", 2)
    runner = {"up": _up, "engine": _engine, "gateway": _gateway, "feed": _feed}
    return asyncio.run(_until_signalled(runner[args.cluster_command], args))


async def _until_signalled(role: Any, args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    code: int = await role(args, stop)
    return code


async def _engine(args: argparse.Namespace, stop: asyncio.Event) -> int:
    from cluster.engine import EngineRole

    if not 0 <= args.shard < args.shards:
        raise CliError(f"--shard must be in 0..{args.shards - 1}", 2)
    role = EngineRole(args.nats, args.shard, args.shards, Path(args.data_dir),
                      args.database_url, name=args.name,
                      demo_catalog=not args.no_demo_catalog)
    role.ops_port = args.ops_port
    await role.run(stop)
    return 0


async def _gateway(args: argparse.Namespace, stop: asyncio.Event) -> int:
    from cluster.gateway import RemoteVenue

    from .app import make_app
    from .httpserver import start_http

    venue = await RemoteVenue.open(args.nats, args.shards, name="gateway")
    runner = None
    try:
        app = make_app(venue, rate_limit=args.rate_limit,
                       burst=max(1, int(args.rate_limit * 2)), feed_url=args.feed_url)
        runner, port = await start_http(app, args.host, args.http_port)
        print(_url("http", args.host, port), flush=True)
        await stop.wait()
        return 0
    finally:
        if runner is not None:
            await runner.cleanup()
        await venue.close()


async def _feed(args: argparse.Namespace, stop: asyncio.Event) -> int:
    from cluster.gateway import RemoteVenue
    from cluster.ops import start_ops
    from feeds.server import FeedServer

    venue = await RemoteVenue.open(args.nats, args.shards, name="feed", trades=True)
    feed = FeedServer(venue, args.host, args.feed_port)
    ops = None
    if args.ops_port is not None:
        ops = await start_ops(args.host, args.ops_port,
                              lambda: None if venue.ready else "starting", "feed")
    try:
        await feed.start()
        print(_url("ws", args.host, feed.port), flush=True)
        await stop.wait()
        return 0
    finally:
        with contextlib.suppress(Exception):
            await feed.close()
        if ops is not None:
            await ops.cleanup()
        await venue.close()


async def _up(args: argparse.Namespace, stop: asyncio.Event) -> int:
    from cluster.nats import NatsCluster
    from cluster.supervisor import Role, Supervisor

    data_dir = Path(args.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    sup = Supervisor(NatsCluster(data_dir, host="127.0.0.1"),
                     [sys.executable, "-m", "api.cli"])
    try:
        await sup.start_nats()
        common = ["--nats", sup.nats.servers, "--shards", str(args.shards),
                  "--log-level", args.log_level]
        db = ["--database-url", args.database_url] if args.database_url else []
        for shard in range(args.shards):
            for n in range(1 + args.standbys):
                name = f"engine-{shard}-{'abcdefgh'[n]}"
                await sup.start(Role(name, [
                    "cluster", "engine", "--shard", str(shard), "--name", name,
                    "--data-dir", str(data_dir / "engines" / name), "--ops-port", "0",
                    *db, *common,
                ]))
        feed = await sup.start(Role("feed", [
            "cluster", "feed", "--host", args.host, "--feed-port", str(args.feed_port),
            "--ops-port", "0", *common,
        ], url_flag="--feed-port"))
        gateway = await sup.start(Role("gateway", [
            "cluster", "gateway", "--host", args.host, "--http-port", str(args.http_port),
            "--rate-limit", str(args.rate_limit), "--feed-url", str(feed.url), *common,
        ], url_flag="--http-port"))
        print(gateway.url, flush=True)
        print(feed.url, flush=True)
        print(f"nats: {sup.nats.servers}", flush=True)
        await stop.wait()
        print("shutting down", file=sys.stderr, flush=True)
        return 0
    finally:
        await sup.stop()
