"""Helpers of the browser tests: the real server as a subprocess and a tiny REST client.

The server is ``exchange serve`` on free ports (``--http-port 0 --feed-port
0``), read from the two URLs it prints first. The REST client uses only the
standard library, so these tests share nothing with the asyncio suite.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ApiError", "Rest", "Server", "format_cents", "start_server"]

REPO = Path(__file__).resolve().parents[2]


def format_cents(cents: int | None) -> str:
    """The page's money format, computed independently: 123456 -> "$1,234.56"."""
    if cents is None:
        return "—"
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(cents), 100)
    return f"{sign}${dollars:,}.{rest:02d}"


class ApiError(Exception):
    """A problem answer: ``status`` and the problem body."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(f"{status}: {problem}")
        self.status = status
        self.problem = problem


@dataclass
class Rest:
    """A JSON client of the REST API, optionally with an API key."""

    base: str
    key: str | None = None

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """Send one request; return the parsed JSON; raise :class:`ApiError` on 4xx/5xx."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.key:
            req.add_header("Authorization", f"Bearer {self.key}")
        try:
            with urllib.request.urlopen(req, timeout=15) as resp:
                text = resp.read()
        except urllib.error.HTTPError as err:
            raw = err.read()
            raise ApiError(err.code, json.loads(raw) if raw else {}) from None
        return json.loads(text) if text else None

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def post(self, path: str, body: Any = None) -> Any:
        return self.call("POST", path, body)

    def account(self, name: str) -> Rest:
        """Create a trader account and return a client holding its key."""
        created = self.post("/v1/accounts", {"name": name})
        client = Rest(self.base, created["api_key"])
        client.account_id = created["account_id"]  # type: ignore[attr-defined]
        return client

    def order(self, sku: str, side: str, price_cents: int, quantity: int = 1, **extra: Any) -> Any:
        """Place a limit order (or ``type="market"`` via extra)."""
        body = {
            "sku": sku,
            "side": side,
            "type": "limit",
            "price_cents": price_cents,
            "quantity": quantity,
            **extra,
        }
        return self.post("/v1/orders", body)


@dataclass
class Server:
    """A running ``exchange serve``: its URLs and process."""

    http_url: str
    feed_url: str
    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)

    def stop(self) -> None:
        """SIGTERM, then kill if it does not stop within 15 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def _exchange_command() -> list[str]:
    script = Path(sys.executable).parent / "exchange"
    if script.exists():
        return [str(script)]
    found = shutil.which("exchange")
    if found:
        return [found]
    return [sys.executable, "-c", "from api.cli import main; raise SystemExit(main())"]


def start_server(data_dir: Path, timeout: float = 60.0) -> Server:
    """Start ``exchange serve`` on free ports; return once both URLs are printed."""
    cmd = [
        *_exchange_command(),
        "serve",
        "--host",
        "127.0.0.1",
        "--http-port",
        "0",
        "--feed-port",
        "0",
        "--data-dir",
        str(data_dir),
        "--rate-limit",
        "0",
        "--no-fsync",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for name in (
        "EXCHANGE_HTTP_PORT",
        "EXCHANGE_FEED_PORT",
        "EXCHANGE_DATA_DIR",
        "EXCHANGE_DATABASE_URL",
    ):
        env.pop(name, None)
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: queue.Queue[str | None] = queue.Queue()
    output: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    http_url = feed_url = None
    deadline = time.monotonic() + timeout
    while http_url is None or feed_url is None:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            proc.kill()
            raise RuntimeError(
                f"server printed no URLs within {timeout} s: {''.join(output)}"
            ) from None
        if line is None:
            raise RuntimeError(f"server exited ({proc.wait()}): {''.join(output)}")
        text = line.strip()
        if text.startswith("http://") and http_url is None:
            http_url = text
        elif text.startswith("ws://") and feed_url is None:
            feed_url = text
    server = Server(http_url, feed_url, proc, output)
    # Ready means /readyz answers 200 (recovery done).
    rest = Rest(http_url)
    while True:
        try:
            rest.get("/readyz")
            break
        except (ApiError, OSError):
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"server never became ready: {''.join(output)}") from None
            time.sleep(0.05)
    return server
