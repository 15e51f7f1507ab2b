"""The HTTP server's own guards, over raw sockets against a real server on a free port."""

from __future__ import annotations

import asyncio
import logging
import resource
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest

from api.app import make_app
from api.httpserver import GuardedRunner, start_http
from api.limits import HTTP_REFUSED, HttpLimits, LogThrottle, raise_nofile_limit
from exchange.venue import Venue

from .server import serve as serve_cli

Serve = Callable[..., Any]


@pytest.fixture
def serve(venue: Venue) -> Serve:
    """``async with serve(**limits) as (runner, port)``: the real app under those limits."""

    @asynccontextmanager
    async def run(**limits: Any) -> AsyncIterator[tuple[GuardedRunner, int]]:
        runner, port = await start_http(
            make_app(venue, rate_limit=0), "127.0.0.1", 0, HttpLimits(**limits)
        )
        try:
            yield runner, port
        finally:
            await runner.cleanup()

    return run


async def _connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def _answer(reader: asyncio.StreamReader, timeout: float = 10.0) -> tuple[int, bytes]:
    """Read one whole answer until the server closes: (status, body)."""
    raw = await asyncio.wait_for(reader.read(), timeout)
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


async def _closed(reader: asyncio.StreamReader, timeout: float = 10.0) -> bytes:
    """Everything the server sends until it closes the connection."""
    return await asyncio.wait_for(reader.read(), timeout)


def _refused(reason: str) -> float:
    return HTTP_REFUSED.labels(reason)._value.get()  # type: ignore[no-any-return]


async def test_a_nul_byte_in_a_header_is_400_with_one_line_not_a_traceback(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    async with serve() as (_, port):
        with caplog.at_level(logging.DEBUG):
            for _ in range(3):
                reader, writer = await _connect(port)
                writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Evil: a\x00b\r\n\r\n")
                status, body = await _answer(reader)
                writer.close()
                assert status == 400
                problem = orjson.loads(body)
                assert problem["code"] == "invalid_request"
                assert "Invalid header value char" in problem["detail"]
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert lines[0].exc_info is None
    assert "malformed HTTP request" in lines[0].getMessage()


async def test_a_half_sent_head_is_closed_after_the_header_timeout(serve: Serve) -> None:
    before = _refused("header_timeout")
    async with serve(header_timeout=0.3) as (_, port):
        reader, writer = await _connect(port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        assert await _closed(reader) == b""
        writer.close()
        # Connecting and sending nothing at all ends the same way.
        reader, writer = await _connect(port)
        assert await _closed(reader) == b""
        writer.close()
    assert _refused("header_timeout") == before + 2


async def test_a_head_sent_slowly_within_the_timeout_is_served(serve: Serve) -> None:
    async with serve(header_timeout=5.0) as (_, port):
        reader, writer = await _connect(port)
        writer.write(b"GET /healthz HTTP/1.1\r\n")
        await writer.drain()
        await asyncio.sleep(0.2)  # the slow client under test
        writer.write(b"Host: x\r\nConnection: close\r\n\r\n")
        status, _ = await _answer(reader)
        writer.close()
    assert status == 200


async def test_the_next_request_on_a_kept_alive_connection_gets_its_own_head_timeout(
    serve: Serve,
) -> None:
    async with serve(header_timeout=0.3, keepalive_timeout=30) as (_, port):
        reader, writer = await _connect(port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 200")
        await reader.readexactly(int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0]))
        writer.write(b"GET /healthz HTTP/1.1\r\n")
        assert await _closed(reader) == b""
        writer.close()


async def test_a_content_length_larger_than_the_body_gets_408_after_the_body_timeout(
    serve: Serve,
) -> None:
    before = _refused("body_timeout")
    async with serve(body_timeout=0.3) as (_, port):
        reader, writer = await _connect(port)
        writer.write(b"POST /v1/accounts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                     b"\r\nContent-Length: 100\r\n\r\n{\"name\":")
        status, body = await _answer(reader)
        writer.close()
    assert status == 408
    assert orjson.loads(body)["code"] == "request_timeout"
    assert _refused("body_timeout") == before + 1


async def test_connections_beyond_the_per_address_cap_are_refused_with_503(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    before = _refused("max_connections_per_address")
    async with serve(max_connections_per_address=3) as (runner, port):
        held = [await _connect(port) for _ in range(3)]
        # A request on each proves the server has admitted all three.
        for reader, writer in held:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert runner.guard.by_address["127.0.0.1"] == 3
        with caplog.at_level(logging.WARNING, logger="api.limits"):
            reader, writer = await _connect(port)
            status, body = await _answer(reader)
            writer.close()
        assert status == 503
        assert orjson.loads(body)["code"] == "too_many_connections"
        assert any("max_connections_per_address" in r.getMessage() for r in caplog.records)
        # Closing one makes room again.
        held[0][1].close()
        await held[0][1].wait_closed()
        deadline = asyncio.get_running_loop().time() + 10
        while runner.guard.by_address["127.0.0.1"] != 2:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.01)  # the server sees the close on its own time
        reader, writer = await _connect(port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        status, _ = await _answer(reader)
        writer.close()
        assert status == 200
        for _, w in held[1:]:
            w.close()
    assert _refused("max_connections_per_address") == before + 1


async def test_connections_beyond_the_total_cap_are_refused(serve: Serve) -> None:
    async with serve(max_connections=2) as (_, port):
        held = [await _connect(port) for _ in range(2)]
        for reader, writer in held:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        reader, writer = await _connect(port)
        status, _ = await _answer(reader)
        writer.close()
        for _, w in held:
            w.close()
    assert status == 503


def test_the_soft_open_file_limit_is_raised_toward_the_hard_one() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    now = raise_nofile_limit(soft + 1 if soft < hard else soft)
    assert now == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert now >= soft


def test_the_log_throttle_keeps_one_line_per_interval_and_counts_the_rest() -> None:
    clock = [0.0]
    throttle = LogThrottle(10.0, clock=lambda: clock[0])
    assert throttle.allow("x") == 0
    assert throttle.allow("x") is None
    assert throttle.allow("x") is None
    assert throttle.allow("y") == 0
    clock[0] = 10.0
    assert throttle.allow("x") == 2


def test_serve_guards_connections_metrics_and_data_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket
    import urllib.error
    import urllib.request

    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    from .server import read_line

    data = tmp_path / "data"
    data.mkdir()
    (data / "left-by-an-older-version").write_text("x")
    (data / "left-by-an-older-version").chmod(0o644)
    monkeypatch.setenv("EXCHANGE_FEED_MAX_CONNECTIONS_PER_ADDRESS", "1")
    with serve_cli(data, "--max-connections-per-address", "2", "--metrics-port", "0") as server:
        metrics_url = read_line(server.proc, 30)
        # Connection caps from a flag (HTTP) and from the environment (feed).
        held = [socket.create_connection(("127.0.0.1", server.http_port)) for _ in range(2)]
        for sock in held:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 200")
        extra = socket.create_connection(("127.0.0.1", server.http_port))
        extra.settimeout(10)
        assert extra.recv(100).startswith(b"HTTP/1.1 503")
        for sock in [*held, extra]:
            sock.close()
        with connect(server.ws_url) as first, connect(server.ws_url) as second:
            with pytest.raises(ConnectionClosed) as closed:
                second.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
            assert "limit 1" in closed.value.rcvd.reason
            assert orjson.loads(first.recv(timeout=10))["type"] == "heartbeat"

        # Metrics on their own listener only, not on the public port.
        assert metrics_url.startswith("http://127.0.0.1:") and metrics_url.endswith("/metrics")
        with urllib.request.urlopen(metrics_url, timeout=10) as response:
            metrics = response.read().decode()
        for name in ("exchange_orders_total", "feed_connections", "http_request_duration",
                     "http_refused_total", "feed_connections_refused_total"):
            assert name in metrics
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(server.http_url + "/metrics", timeout=10)
        assert missing.value.code == 404

        request = urllib.request.Request(
            server.http_url + "/v1/accounts", data=b'{"name": "files"}', method="POST",
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201
    modes = {p.relative_to(data): p.stat().st_mode & 0o777 for p in [data, *data.rglob("*")]}
    assert len(modes) > 3, modes
    assert {p: m for p, m in modes.items() if m & 0o077} == {}
