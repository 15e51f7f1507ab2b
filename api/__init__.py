"""api: the REST API, its OpenAPI document, metrics, and the ``exchange`` command.

- :func:`make_app` builds the aiohttp application over a venue;
- :func:`build_openapi` is the OpenAPI 3.1 document it serves;
- :func:`main` is the ``exchange`` command line (the composition root that
  starts the venue, the REST server and the feed server together).

Names are imported lazily (PEP 562) so that ``import api.cli`` for a quick
``exchange --help`` does not load aiohttp and polars.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["build_openapi", "main", "make_app"]

_WHERE = {
    "build_openapi": "openapi",
    "main": "cli",
    "make_app": "app",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'api' has no attribute {name!r}")
    return getattr(importlib.import_module(f"api.{module}"), name)
