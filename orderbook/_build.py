"""Which build of the package runs: the compiled modules, or the sources.

Import machinery, not the book: it reads one environment variable and stats
files once, when the package is imported, never while matching (the
architecture test exempts it from the sans-I/O rule for that). It is never
compiled itself (see ``setup.py``): it runs before any compiled module loads.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["prefer_sources", "select_build", "stale_modules"]


def select_build(package: str, init_file: str) -> None:
    """Called by the package's ``__init__`` before it imports any submodule.

    With ``ORDERBOOK_PURE`` set, the submodules load from their sources;
    otherwise compiled modules older than their sources are refused.

    Raises:
        ImportError: a stale compiled module, naming ``make native``.
    """
    directory = Path(init_file).parent
    if os.environ.get("ORDERBOOK_PURE"):
        prefer_sources(package, directory)
    elif stale := stale_modules(directory):
        raise ImportError(
            f"{package}: compiled modules are older than their sources ({', '.join(stale)}): "
            "rebuild them with `make native`, or set ORDERBOOK_PURE=1 to run the sources"
        )


def stale_modules(package: Path) -> list[str]:
    """Compiled modules in the package directory older than their ``.py``.

    Only in a source checkout (a ``setup.py`` beside the package): an
    installed copy has no sources to edit.
    """
    if not (package.parent / "setup.py").is_file():
        return []
    stale = []
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        for compiled in package.glob(f"*{suffix}"):
            source = package / (compiled.name[: -len(suffix)] + ".py")
            if source.is_file() and source.stat().st_mtime > compiled.stat().st_mtime:
                stale.append(source.name)
    return sorted(stale)


class _SourceFinder:
    """Finds ``<package>.<module>`` in its ``.py`` file, never a compiled one."""

    def __init__(self, package: str, directory: Path) -> None:
        self.prefix = package + "."
        self.directory = directory

    def find_spec(
        self, name: str, path: object = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not name.startswith(self.prefix):
            return None
        source = self.directory / (name[len(self.prefix) :] + ".py")
        if not source.is_file():
            return None
        return importlib.util.spec_from_file_location(name, source)


def prefer_sources(package: str, directory: Path) -> None:
    """Make the submodules of ``package`` (in ``directory``) load from source from now on."""
    sys.meta_path.insert(0, _SourceFinder(package, directory))
