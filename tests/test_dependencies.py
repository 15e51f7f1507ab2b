"""pyproject.toml bounds every dependency's major, and requirements.lock fits in the bounds."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def _requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    texts = [
        *project["build-system"]["requires"],
        *project["project"]["dependencies"],
        *(r for group in project["project"]["optional-dependencies"].values() for r in group),
    ]
    return [Requirement(t) for t in texts]


def _lock() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    return pins


def test_every_dependency_has_a_floor_and_a_ceiling() -> None:
    for req in _requirements():
        operators = {spec.operator for spec in req.specifier}
        assert ">=" in operators and "<" in operators, f"{req} must bound its major version"


def test_the_lock_pins_every_dependency_inside_its_range() -> None:
    pins = _lock()
    for req in _requirements():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not in requirements.lock"
        assert req.specifier.contains(pins[name]), f"locked {name}=={pins[name]} outside {req}"
    for extra in ("pip", "setuptools", "polars-runtime-32", "sqlalchemy"):
        assert extra in pins, f"{extra} (installed by make install) is not pinned"
