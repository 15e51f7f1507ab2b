"""exchange: the venue (engine, catalog, accounts, fees, journal, store, settlement).

The interface is re-exported here and imported lazily (PEP 562), so that
``import exchange.journal`` in a fast-starting child process does not pull in
polars and SQLAlchemy. ``from exchange import Venue`` works as usual.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "Account",
    "BookUpdate",
    "Engine",
    "ExchangeError",
    "L2Mirror",
    "MarketDataEvent",
    "Outcome",
    "Role",
    "TradeCanceled",
    "TradePrint",
    "Venue",
    "VenueConfig",
    "book_checksum",
    "open_offline",
]

_WHERE = {
    "Account": "accounts",
    "Role": "accounts",
    "BookUpdate": "marketdata",
    "L2Mirror": "marketdata",
    "MarketDataEvent": "marketdata",
    "TradeCanceled": "marketdata",
    "TradePrint": "marketdata",
    "book_checksum": "marketdata",
    "Engine": "engine",
    "Outcome": "engine",
    "ExchangeError": "errors",
    "Venue": "service",
    "VenueConfig": "service",
    "open_offline": "service",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'exchange' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"exchange.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
