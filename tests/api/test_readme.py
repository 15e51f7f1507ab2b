"""The README's quick start is a test: its commands run against a real server.

The shell blocks (```sh) of the "Quick start" section run in order in one bash
session (so ``$SELLER`` and ``$BUYER`` carry over) with ``set -euo pipefail``:
every curl uses ``--fail-with-body``, so any HTTP error fails the run. The
server is ``exchange serve`` on free ports; the test substitutes them for the
README's 8080 and 8765. The Python snippet runs too, against the feed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from .server import ROOT, serve

README = ROOT / "README.md"


def quick_start() -> str:
    text = README.read_text()
    start = text.index("## Quick start")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def blocks(section: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)


def json_values(text: str) -> list[Any]:
    """The JSON documents printed one after another (curl adds no newline)."""
    decoder = json.JSONDecoder()
    values, pos = [], 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        value, pos = decoder.raw_decode(text, pos)
        values.append(value)
    return values


def test_quick_start_runs(tmp_path: Path) -> None:
    section = quick_start()
    shell = blocks(section, "sh")
    assert len(shell) >= 5
    consoles = "".join(blocks(section, "console"))
    assert "make run" in consoles and "exchange watch DZ5485-612-10" in consoles
    (snippet,) = blocks(section, "python")

    with serve(tmp_path / "data") as server:
        http = server.http_url.removeprefix("http://")
        ws = server.ws_url.removeprefix("ws://")

        def local(text: str) -> str:
            return text.replace("127.0.0.1:8080", http).replace("127.0.0.1:8765", ws)

        outputs = []
        script = "set -euo pipefail\n"
        for i, block in enumerate(shell):
            script += local(block) + f"\necho '@@block {i}'\n"
        result = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        outputs = re.split(r"@@block \d+\n", result.stdout)
        assert len(outputs) == len(shell) + 1

        keys, products, ask, bid, seen = outputs[:5]
        assert re.search(r"seller key: \S+  buyer key: \S+", keys)
        assert "DZ5485-612" in products and '"tick_size_cents":100' in products
        assert json.loads(ask)["order"]["status"] == "open"
        placed = json.loads(bid)
        assert placed["order"]["status"] == "filled"
        assert placed["fills"][0]["price_cents"] == 45_000
        mine, public, book = json_values(seen)
        assert mine["trades"][0]["settlement_status"] == "awaiting_shipment"
        assert public["trades"][0]["price_cents"] == 45_000
        assert book["asks"] == []

        feed = subprocess.run([sys.executable, "-c", local(snippet)], capture_output=True,
                              text=True, timeout=30)
        assert feed.returncode == 0, feed.stderr
        messages = [json.loads(line) for line in feed.stdout.splitlines()]
        assert len(messages) == 3
        assert "snapshot" in [m["type"] for m in messages]
