"""A start whose wall clock is far ahead of the journal: one line, unless confirmed."""

from __future__ import annotations

import json
import signal
import urllib.request
from pathlib import Path

from .server import run_exchange, serve


def test_a_start_far_ahead_of_the_journal_is_refused_unless_confirmed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with serve(data) as server:
        request = urllib.request.Request(
            server.http_url + "/v1/accounts", data=json.dumps({"name": "A"}).encode(),
            method="POST", headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(20) == 0
    # A limit of 0 h makes the seconds since the last record a jump too far.
    refused = run_exchange("serve", "--http-port", "0", "--feed-port", "0", "--no-fsync",
                           "--data-dir", str(data), "--max-clock-jump-hours", "0")
    assert refused.returncode == 1
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert "ahead of the journal's last record" in lines[0]
    assert "--accept-clock-jump" in lines[0]
    with serve(data, "--max-clock-jump-hours", "0", "--accept-clock-jump") as server, \
            urllib.request.urlopen(server.http_url + "/readyz", timeout=10) as response:
        assert response.status == 200
    # The demo's data directory is play data: `make run` days later just starts.
    with serve(data, "--max-clock-jump-hours", "0", "--orders-per-second", "0",
               command="demo") as server, \
            urllib.request.urlopen(server.http_url + "/readyz", timeout=10) as response:
        assert response.status == 200
