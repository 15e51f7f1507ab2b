"""The compiled build: used where built, never stale, and bypassable."""

from __future__ import annotations

import importlib.machinery
import os
import subprocess
import sys
from pathlib import Path

import pytest

import orderbook
from orderbook._build import stale_modules

SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def test_ci_runs_the_compiled_book() -> None:
    """Under CI the suite must test what `make` builds, unless told to run the sources."""
    if not os.environ.get("CI") or os.environ.get("ORDERBOOK_PURE"):
        pytest.skip("outside CI, or the pure-Python run")
    assert orderbook.COMPILED, "make did not compile the order book (see setup.py)"


def test_pure_switch_runs_the_sources() -> None:
    code = "import orderbook, orderbook.book as b; print(orderbook.COMPILED, b.__file__)"
    env = {**os.environ, "ORDERBOOK_PURE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    ).stdout.split()
    assert out == ["False", str(Path(orderbook.__file__).parent / "book.py")]


def _touch(path: Path, mtime: float) -> None:
    path.write_text("")
    os.utime(path, (mtime, mtime))


def test_stale_modules_names_sources_newer_than_their_build(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    _touch(package / "fresh.py", 1_000)
    _touch(package / f"fresh{SUFFIX}", 2_000)
    _touch(package / "edited.py", 3_000)
    _touch(package / f"edited{SUFFIX}", 2_000)
    _touch(package / "plain.py", 3_000)  # never compiled
    # An installed copy (no setup.py beside it) has no sources to edit.
    assert stale_modules(package) == []
    _touch(tmp_path / "setup.py", 0)
    assert stale_modules(package) == ["edited.py"]


_DIGEST = """
import hashlib, json, sys
from bench.book import build_commands
from bench.workload import generate
from orderbook import COMPILED, OrderBook, SkuRules

workload = generate(20_000, seed=42)
books = [OrderBook(f"S{i}", SkuRules()) for i in range(workload.n_skus)]
digest = hashlib.sha256()
for sku, cmd in build_commands(workload.events):
    for event in books[sku].handle(cmd):
        digest.update(repr(event).encode())
for book in books:
    digest.update(json.dumps(book.snapshot(), sort_keys=True).encode())
print(COMPILED, digest.hexdigest())
"""


def test_compiled_and_sources_emit_the_same_events() -> None:
    """The same workload gives byte-identical events and snapshots either way."""
    if not orderbook.COMPILED:
        pytest.skip("the book is not compiled here")
    root = Path(__file__).resolve().parents[2]
    runs = []
    for pure in ("", "1"):
        env = {**os.environ, "ORDERBOOK_PURE": pure, "PYTHONPATH": str(root)}
        out = subprocess.run(
            [sys.executable, "-c", _DIGEST], env=env, check=True, capture_output=True, text=True
        ).stdout.split()
        runs.append(out)
    assert [compiled for compiled, _ in runs] == ["True", "False"]
    assert runs[0][1] == runs[1][1]
