"""Run benchmarks: ``python -m bench [names...] [options]``.

Without names, every module of :data:`BENCHES` that exists runs, in that
order, so the order book figure (``book``) always comes first. Names select
some of them; options after the names (``--events 200000``) go to each
selected benchmark's ``main``. A benchmark is ``bench/<name>.py`` with a
``main()`` that may take an ``argv`` list.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Sequence

__all__ = ["BENCHES", "main"]

BENCHES = ["book", "engine", "analytics", "load", "orderentry", "feed", "history", "cluster"]
ON_REQUEST = ["chaos"]
"""Run only when named (``make chaos``): minutes of faults, not a figure."""


def _available(name: str) -> bool:
    return importlib.util.find_spec(f"bench.{name}") is not None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected benchmarks; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    names: list[str] = []
    while args and not args[0].startswith("-"):
        names.append(args.pop(0))
    unknown = [n for n in names if n not in BENCHES + ON_REQUEST]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; "
              f"known: {', '.join(BENCHES + ON_REQUEST)}", file=sys.stderr)
        return 2
    selected = names or BENCHES
    status = 0
    for name in selected:
        if not _available(name):
            if names:
                print(f"benchmark {name!r} is not present (bench/{name}.py)", file=sys.stderr)
                return 2
            continue  # not written yet: skip quietly in the full run
        module = importlib.import_module(f"bench.{name}")
        entry = module.main
        code = entry(args) if inspect.signature(entry).parameters else entry()
        sys.stdout.flush()
        if isinstance(code, int) and code:  # a bench that checks something failed it
            status = code
    return status


if __name__ == "__main__":
    sys.exit(main())
