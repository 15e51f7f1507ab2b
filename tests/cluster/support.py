"""Start ``exchange serve`` or ``exchange cluster up`` for end-to-end tests (two modes)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.api.server import ROOT, exchange_cmd, read_line, serve, stop

# Two demo products on different shards of two (zlib.crc32(style) % 2).
SHARD0_SKU = "555088-134-10"
SHARD1_SKU = "DZ5485-612-10"


@dataclass
class Exchange:
    """A running exchange: its URLs, and for a cluster its NATS servers and process."""

    mode: str
    http_url: str
    ws_url: str
    nats: str | None = None
    proc: subprocess.Popen[str] | None = None
    data_dir: Path | None = None


@contextmanager
def fresh_database() -> Iterator[str | None]:
    """A new PostgreSQL database on EXCHANGE_TEST_DATABASE_URL's server (None without it)."""
    base = os.environ.get("EXCHANGE_TEST_DATABASE_URL")
    if not base:
        if os.environ.get("CI") == "true":
            pytest.fail("EXCHANGE_TEST_DATABASE_URL must be set in CI")
        yield None
        return
    name = f"cluster_{uuid.uuid4().hex[:12]}"
    server, _, _ = base.rpartition("/")
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{server}/{name}"
    finally:
        with admin.connect() as conn, contextlib.suppress(Exception):
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def cluster_up(data_dir: Path, *extra: str, timeout: float = 240) -> Iterator[Exchange]:
    """``exchange cluster up`` on free ports (PostgreSQL when the tests have one)."""
    with fresh_database() as database_url:
        db = ["--database-url", database_url] if database_url else []
        args = ["cluster", "up", "--http-port", "0", "--feed-port", "0", "--data-dir",
                str(data_dir), "--rate-limit", "0", *db, *extra]
        log = open(data_dir.parent / "cluster.log", "w")  # noqa: SIM115
        proc = subprocess.Popen(exchange_cmd(*args), stdout=subprocess.PIPE, stderr=log,
                                text=True, cwd=ROOT)
        try:
            http_url = read_line(proc, timeout)
            ws_url = read_line(proc, timeout)
            nats = read_line(proc, timeout).removeprefix("nats: ")
            assert http_url.startswith("http://"), http_url
            yield Exchange("cluster", http_url, ws_url, nats, proc, data_dir)
        finally:
            stop(proc, signal.SIGINT, 60)
            log.close()


@contextmanager
def exchange(mode: str, data_dir: Path) -> Iterator[Exchange]:
    """The exchange in ``mode``: ``serve`` (one process) or ``cluster`` (``cluster up``)."""
    if mode == "serve":
        with serve(data_dir) as server:
            yield Exchange("serve", server.http_url, server.ws_url)
    else:
        with cluster_up(data_dir) as cluster:
            yield cluster
