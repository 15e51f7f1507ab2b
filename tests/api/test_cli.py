"""The ``exchange`` command as a user runs it: subprocesses on free ports."""

from __future__ import annotations

import asyncio
import io
import json
import signal
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import connect

from api import cli
from exchange.venue import Venue

from .server import read_line, run_exchange, serve


def _http(method: str, url: str, body: Any = None, key: str | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _one_line_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_serve_lock_ports_offline_accounts_and_recover(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with serve(data) as server:
        assert server.http_url.startswith("http://127.0.0.1:")
        assert server.ws_url.startswith("ws://127.0.0.1:")
        assert _http("GET", server.http_url + "/healthz") == {"status": "ok"}
        assert _http("GET", server.http_url + "/readyz") == {"status": "ready"}
        assert _http("GET", server.http_url + "/v1/config")["feed_url"] == server.ws_url
        # Metrics are off the public port (issue 20); test_httpserver.py reads
        # them from their own listener (--metrics-port).
        with pytest.raises(urllib.error.HTTPError) as no_metrics:
            urllib.request.urlopen(server.http_url + "/metrics", timeout=10)
        assert no_metrics.value.code == 404

        # The data dir is locked while the server runs.
        locked = run_exchange("accounts", "create", "Zed", "--data-dir", str(data))
        assert locked.returncode == 1
        assert "in use" in _one_line_error(locked.stderr)
        second = run_exchange("serve", "--http-port", "0", "--feed-port", "0",
                              "--data-dir", str(data))
        assert second.returncode == 1 and "in use" in _one_line_error(second.stderr)

        # A port in use is a clear one-line error, exit 1.
        busy = run_exchange("serve", "--http-port", str(server.http_port), "--feed-port", "0",
                            "--data-dir", str(tmp_path / "other"))
        assert busy.returncode == 1
        assert "already in use" in _one_line_error(busy.stderr)
        busy = run_exchange("serve", "--http-port", "0", "--feed-port", str(server.ws_port),
                            "--data-dir", str(tmp_path / "other"))
        assert busy.returncode == 1 and "already in use" in _one_line_error(busy.stderr)

        # Portfolio on the command line, over REST.
        collector = _http("POST", server.http_url + "/v1/accounts", {"name": "Col"})["api_key"]
        sku = _http("GET", server.http_url + "/v1/products")["products"][0]["skus"][0]["sku"]
        _http("POST", server.http_url + "/v1/portfolio/items",
              {"sku": sku, "purchase_price_cents": 12_345}, key=collector)
        shown = run_exchange("portfolio", "--api-key", collector, "--url", server.http_url)
        assert shown.returncode == 0, shown.stderr
        assert sku in shown.stdout and "$123.45" in shown.stdout
        refused = run_exchange("portfolio", "--api-key", "bad", "--url", server.http_url)
        assert refused.returncode == 1 and "not known" in _one_line_error(refused.stderr)

        # While the server holds the data dir, export asks it about a SKU without trades.
        unknown = run_exchange("export", "trades", "--format", "csv", "--sku", "NOPE",
                               "--data-dir", str(data), "--url", server.http_url)
        assert unknown.returncode == 1 and unknown.stdout == ""
        assert "no SKU 'NOPE'" in _one_line_error(unknown.stderr)
        untraded = run_exchange("export", "trades", "--format", "csv", "--sku", sku,
                                "--data-dir", str(data), "--url", server.http_url)
        assert untraded.returncode == 0, untraded.stderr
        assert untraded.stdout.splitlines() == [untraded.stdout.splitlines()[0]]

        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(20) == 0

    created = run_exchange("accounts", "create", "Root", "--role", "admin",
                           "--data-dir", str(data))
    assert created.returncode == 0, created.stderr
    lines = created.stdout.splitlines()
    assert lines[0].startswith("account_id: ") and lines[1].startswith("api_key: ")
    key = lines[1].removeprefix("api_key: ")

    checked = run_exchange("recover", "--check", "--data-dir", str(data))
    assert checked.returncode == 0, checked.stderr

    offline = run_exchange("portfolio", "--api-key", collector, "--data-dir", str(data))
    assert offline.returncode == 0, offline.stderr
    assert sku in offline.stdout and "$123.45" in offline.stdout

    exported = run_exchange("export", "trades", "--format", "csv", "--data-dir", str(data))
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.splitlines()[0].startswith("id,sku")
    # With the server stopped, the catalog is read from the data directory.
    unknown = run_exchange("export", "trades", "--format", "csv", "--sku", "NOPE",
                           "--data-dir", str(data), "--url", "http://127.0.0.1:9")
    assert unknown.returncode == 1 and unknown.stdout == ""
    assert _one_line_error(unknown.stderr) == "exchange: error: there is no SKU 'NOPE'"
    untraded = run_exchange("export", "trades", "--format", "csv", "--sku", sku,
                            "--data-dir", str(data))
    assert untraded.returncode == 0, untraded.stderr
    assert untraded.stdout.startswith("id,sku")

    # The account created offline works once the server is back.
    with serve(data) as server:
        role = _http("POST", server.http_url + "/v1/accounts",
                     {"name": "Checker", "role": "authenticator"}, key=key)
        assert role["role"] == "authenticator"


def test_recover_check_names_the_offset(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with serve(data) as server:
        sku = _http("GET", server.http_url + "/v1/products")["products"][0]["skus"][0]["sku"]
        watched = run_exchange("watch", sku, "--url", server.ws_url,
                               "--api-url", server.http_url, "--duration", "1.5")
        assert watched.returncode == 0, watched.stderr
        assert sku in watched.stdout
    segments = sorted((data / "journal").glob("*.log"))
    assert segments
    raw = bytearray(segments[0].read_bytes())
    assert len(raw) > 40
    raw[20] ^= 0xFF  # inside the first record's payload: not a torn tail
    segments[0].write_bytes(bytes(raw))
    # The final snapshot holds every record of this segment: its damage is a
    # warning naming the offset, and it does not block a start (issue 13).
    checked = run_exchange("recover", "--check", "--data-dir", str(data))
    assert checked.returncode == 0, checked.stderr
    assert f"warning: journal damaged in {segments[0]} at byte offset 0" in checked.stderr
    with serve(data) as server:
        assert _http("GET", server.http_url + "/readyz") == {"status": "ready"}


def test_bad_settings_exit_2(tmp_path: Path) -> None:
    for args, env in (
        (["serve", "--http-port", "abc"], {}),
        (["serve", "--http-port", "70000"], {}),
        (["serve"], {"EXCHANGE_FEED_PORT": "nope"}),
        (["serve", "--rate-limit", "-1"], {}),
        (["serve"], {"EXCHANGE_LOG_LEVEL": "loud"}),
        (["serve", "--bogus"], {}),
        (["serve", "--host", "256.1.1.1", "--http-port", "0", "--feed-port", "0",
          "--data-dir", str(tmp_path / "d")], {}),
    ):
        result = run_exchange(*args, env=env)
        assert result.returncode == 2, (args, result.stderr)
        _one_line_error(result.stderr)


def test_help_lists_commands() -> None:
    result = run_exchange("--help")
    assert result.returncode == 0
    for command in ("serve", "demo", "accounts", "recover", "export", "portfolio", "watch"):
        assert command in result.stdout
    serve_help = run_exchange("serve", "--help").stdout
    assert "EXCHANGE_HTTP_PORT" in serve_help and "EXCHANGE_DATABASE_URL" in serve_help


async def test_shutdown_closes_feed_with_1001(tmp_path: Path) -> None:
    with serve(tmp_path / "data") as server:
        async with connect(server.ws_url) as ws:
            server.proc.send_signal(signal.SIGTERM)
            try:
                while True:
                    await ws.recv()
            except websockets.ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == 1001
        assert server.proc.wait(20) == 0


async def test_demo_trades_show_on_the_feed(tmp_path: Path) -> None:
    with serve(tmp_path / "data", "--orders-per-second", "100", "--seed", "3",
               command="demo") as server:
        async with connect(server.ws_url) as ws:
            await ws.send(json.dumps({"type": "subscribe", "channels": ["trades"],
                                      "skus": ["*"]}))
            async with asyncio.timeout(20):
                while True:
                    message = json.loads(await ws.recv())
                    if message["type"] == "trade":
                        break
        assert message["price_cents"] > 0 and message["sku"]


# ------------------------------------------------------------------ export


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_export_refuses_parquet_to_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The default format is parquet and the default output stdout: binary
    # garbage on a screen.
    terminal = _Terminal()
    monkeypatch.setattr("sys.stdout", terminal)
    code = cli.main(["export", "trades", "--data-dir", str(tmp_path)])
    assert code == 2
    assert terminal.getvalue() == ""
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--output FILE" in err[0]


def test_export_csv_to_a_terminal_is_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdout", _Terminal())
    # No trade store in an empty dir: the refusal is about the store, not the tty.
    code = cli.main(["export", "trades", "--format", "csv", "--data-dir", str(tmp_path)])
    assert code == 2
    assert "exchange.db is missing" in capsys.readouterr().err


async def test_export_csv_escapes_cells_a_spreadsheet_would_run(
    venue: Venue, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A style may start with '-': "-2-3-10" in a spreadsheet is the formula -2-3-10.
    admin = venue.account((await venue.create_account("root", role="admin"))["account_id"])
    assert admin is not None
    await venue.create_product(admin, {"style": "-2-3", "name": "Minus", "brand": "Acme",
                                       "retail_price_cents": 10_000,
                                       "release_date": "2024-05-01", "sizes": ["10"]})
    seller = venue.account((await venue.create_account("seller"))["account_id"])
    buyer = venue.account((await venue.create_account("buyer"))["account_id"])
    assert seller is not None and buyer is not None
    order = {"sku": "-2-3-10", "type": "limit", "price_cents": 10_000, "quantity": 1}
    await venue.place_order(seller, {**order, "side": "ask"})
    await venue.place_order(buyer, {**order, "side": "bid"})
    await venue.flush_store()

    code = cli.main(["export", "trades", "--format", "csv", "--sku=-2-3-10",
                     "--data-dir", str(tmp_path / "data")])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    header, row = out[0].split(","), out[1].split(",")
    assert row[header.index("sku")] == "'-2-3-10"
    assert row[header.index("price_cents")] == "10000"


# ---------------------------------------------------------------- accounts


def test_a_running_venue_gets_its_first_admin_and_authenticator(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with serve(data, "--bootstrap-admin") as server:
        lines = [read_line(server.proc, 30) for _ in range(2)]
        assert lines[0].startswith("admin account_id: ")
        admin = lines[1].removeprefix("admin api_key: ")
        assert admin != lines[1]

        # Through the API, while the server runs and holds the data dir.
        created = run_exchange("accounts", "create", "Auth Al", "--role", "authenticator",
                               "--url", server.http_url, "--api-key", admin)
        assert created.returncode == 0, created.stderr
        out = created.stdout.splitlines()
        assert out[0].startswith("account_id: ") and out[1].startswith("api_key: ")
        checker = out[1].removeprefix("api_key: ")
        listed = _http("GET", server.http_url + "/v1/trades", key=checker)
        assert listed == {"trades": [], "next_before": None}

        # A role needs an admin's key; the refusal is one line, exit 1.
        refused = run_exchange("accounts", "create", "Eve", "--role", "admin",
                               "--url", server.http_url)
        assert refused.returncode == 1
        assert "refused" in _one_line_error(refused.stderr)
        # The offline way says how to do it while the server runs.
        locked = run_exchange("accounts", "create", "Zed", "--data-dir", str(data))
        assert locked.returncode == 1 and "--url" in _one_line_error(locked.stderr)

    # Started again with the flag, the venue has an admin: no new key.
    with serve(data, "--bootstrap-admin") as server:
        assert _http("GET", server.http_url + "/healthz") == {"status": "ok"}
        server.proc.send_signal(signal.SIGTERM)
        out, err = server.proc.communicate(timeout=30)
    assert "api_key" not in out
    assert "has an admin already" in err


# ---------------------------------------------------------------- shutdown


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   head: str, body: bytes = b"") -> None:
    writer.write(f"{head}\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    await writer.drain()


async def _answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    """The status and headers of the next HTTP answer on the connection (body read too)."""
    line = await reader.readline()
    assert line.startswith(b"HTTP/1.1 "), f"no HTTP answer: {line!r}"
    headers = {}
    while (header := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = header.decode().partition(":")
        headers[name.lower()] = value.strip()
    await reader.readexactly(int(headers.get("content-length", 0)))
    return int(line.split()[1]), headers


async def _status(reader: asyncio.StreamReader) -> int:
    return (await _answer(reader))[0]


async def _refused(port: int) -> None:
    """Wait until the server no longer accepts connections on ``port``."""
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return
        writer.close()
        await asyncio.sleep(0.01)


async def test_sigterm_answers_every_request_in_flight(tmp_path: Path) -> None:
    with serve(tmp_path / "data", "--shutdown-grace", "10") as server:
        key = _http("POST", server.http_url + "/v1/accounts", {"name": "Busy"})["api_key"]
        sku = _http("GET", server.http_url + "/v1/products")["products"][0]["skus"][0]["sku"]
        # Connections the server has accepted (each answered once already).
        conns = [await asyncio.open_connection("127.0.0.1", server.http_port)
                 for _ in range(40)]
        for reader, writer in conns:
            await _request(reader, writer, "GET /healthz HTTP/1.1")
            assert await _status(reader) == 200
        async with connect(server.ws_url) as ws:
            await ws.send(json.dumps({"type": "subscribe", "channels": ["trades"],
                                      "skus": [sku]}))
            await ws.recv()
            # A request in flight on 30 connections, then SIGTERM at once.
            for i, (reader, writer) in enumerate(conns[:30]):
                body = json.dumps({"sku": sku, "side": "bid" if i % 2 else "ask",
                                   "type": "limit", "price_cents": 10_000 + 100 * (i % 5),
                                   "quantity": 1}).encode()
                await _request(reader, writer, f"POST /v1/orders HTTP/1.1\r\n"
                               f"Authorization: Bearer {key}\r\n"
                               "Content-Type: application/json", body)
            server.proc.send_signal(signal.SIGTERM)
            statuses = await asyncio.gather(*(_status(reader) for reader, _ in conns[:30]))
            # Draining: no new connections, and a request on a connection
            # that was idle is answered 503 with Retry-After, not cut off.
            await _refused(server.http_port)
            for reader, writer in conns[30:]:
                await _request(reader, writer, "GET /v1/products HTTP/1.1")
            late = await asyncio.gather(*(_answer(reader) for reader, _ in conns[30:]))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        assert set(statuses) <= {201, 503}, statuses
        assert 201 in statuses  # the drain answered real work, not only refusals
        assert all(status == 503 and headers["retry-after"] == "1"
                   and headers["connection"] == "close" for status, headers in late), late
        assert server.proc.wait(20) == 0
        for _, writer in conns:
            writer.close()
    # The venue closed after the drain, writing its snapshot for the next start.
    assert list((tmp_path / "data" / "snapshots").iterdir())


def test_journal_retention_is_days_or_forever() -> None:
    from api.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["serve"]).journal_retention == 7.0
    assert parser.parse_args(["serve", "--journal-retention", "forever"]).journal_retention is None
    assert parser.parse_args(["serve", "--journal-retention", "0.5"]).journal_retention == 0.5
    for bad in ("-1", "week", "inf"):
        with pytest.raises(SystemExit):
            parser.parse_args(["serve", "--journal-retention", bad])
