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
    assert stale_modules([str(package)]) == []
    _touch(tmp_path / "setup.py", 0)
    assert stale_modules([str(package)]) == ["edited.py"]
