"""The shape of the tree: imports go one way, and every module imports alone."""

from __future__ import annotations

import ast
import importlib
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ["orderbook", "exchange", "feeds", "cluster", "api"]
# package -> packages of ours it must never import
FORBIDDEN = {
    "orderbook": {"exchange", "feeds", "api"},
    "exchange": {"feeds", "cluster", "api"},
    "feeds": {"cluster", "api"},
    "cluster": {"api"},
}
SANS_IO = {"asyncio", "time", "datetime", "socket", "os", "threading", "random"}


def _modules(package: str) -> list[pathlib.Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _imports(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_go_one_way(package: str) -> None:
    for path in _modules(package):
        bad = _imports(path) & FORBIDDEN[package]
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_orderbook_is_sans_io() -> None:
    for path in _modules("orderbook"):
        if path.name == "_build.py":
            continue  # import machinery: picks the compiled or source modules at import
        bad = _imports(path) & SANS_IO
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


@pytest.mark.parametrize(
    "module",
    sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts)
        for pkg in PACKAGES
        for p in _modules(pkg)
        if p.name != "__main__.py"
    ),
)
def test_module_imports_alone(module: str) -> None:
    """Each module imports in a fresh interpreter (no circular imports)."""
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr


def test_packages_export_their_interface() -> None:
    for package in PACKAGES:
        mod = importlib.import_module(package)
        for name in getattr(mod, "__all__", []):
            assert hasattr(mod, name), f"{package}.__all__ names missing {name}"
