"""The package builds quietly and ships the web page (pyproject.toml, setup.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_builds_without_warnings_and_holds_the_page(tmp_path: Path) -> None:
    # A copy, so the build's own folders (build/, *.egg-info) stay out of the checkout.
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for package in ("orderbook", "exchange", "feeds", "cluster", "api"):
        shutil.copytree(ROOT / package, source / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "ORDERBOOK_PURE": "1"},
    )
    assert built.returncode == 0, built.stderr[-2000:]
    output = built.stdout + built.stderr
    # The first install printed ~150 lines of these, one block per static folder.
    assert "Warning" not in output, output[-3000:]
    assert "absent from the `packages` configuration" not in output
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for static in (ROOT / "api" / "static").rglob("*"):
        if static.is_file():
            assert static.relative_to(ROOT).as_posix() in names
    assert "exchange/demo_catalog.json" in names
