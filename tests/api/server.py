"""Run ``exchange serve`` as a subprocess on free ports, for CLI-level tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def exchange_cmd(*args: str) -> list[str]:
    """The command line of ``exchange ARGS`` with this interpreter."""
    return [sys.executable, "-m", "api.cli", *args]


def run_exchange(*args: str, timeout: float = 60, env: dict[str, str] | None = None
                 ) -> subprocess.CompletedProcess[str]:
    """Run one ``exchange`` command to completion."""
    return subprocess.run(
        exchange_cmd(*args), capture_output=True, text=True, timeout=timeout, cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


@dataclass
class Server:
    """A running ``exchange serve``: its process and the URLs it printed."""

    proc: subprocess.Popen[str]
    http_url: str
    ws_url: str
    stderr: list[str]

    @property
    def http_port(self) -> int:
        return int(self.http_url.rsplit(":", 1)[1])

    @property
    def ws_port(self) -> int:
        return int(self.ws_url.rsplit(":", 1)[1])


def read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The next line ``proc`` prints on stdout (it is killed after ``timeout`` seconds)."""
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(proc.stdout.readline()))  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    if not result:
        proc.kill()
        raise AssertionError("exchange serve printed nothing in time")
    return result[0].strip()


@contextmanager
def serve(data_dir: Path, *extra: str, command: str = "serve", timeout: float = 60
          ) -> Iterator[Server]:
    """Start ``exchange serve`` on ports 0 with fsync and rate limits off; stop it after."""
    args = [command, "--http-port", "0", "--feed-port", "0", "--data-dir", str(data_dir),
            "--no-fsync", "--rate-limit", "0", *extra]
    proc = subprocess.Popen(
        exchange_cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=ROOT,
    )
    try:
        http_url = read_line(proc, timeout)
        ws_url = read_line(proc, timeout)
        if not http_url.startswith("http://"):
            proc.kill()
            raise AssertionError(f"unexpected first line {http_url!r}: {proc.stderr.read()}")  # type: ignore[union-attr]
        yield Server(proc, http_url, ws_url, [])
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    """Stop ``proc`` with ``sig`` (SIGKILL after ``timeout`` seconds) unless it exited."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
