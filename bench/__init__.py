"""Benchmarks: ``python -m bench [names...]``; each prints machine-readable results.

The order book benchmark (:mod:`bench.book`) runs first and prints, as its
first line, a JSON object with ``book_vs_bare_ratio``.
"""

__all__: list[str] = []
