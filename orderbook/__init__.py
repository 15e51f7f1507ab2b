"""orderbook: the pure, sans-I/O limit order book of one SKU.

Commands in (:mod:`orderbook.commands`), events out (:mod:`orderbook.events`);
rules and reason codes in :mod:`orderbook.rules`; the checksum the feed shares
in :mod:`orderbook.checksum`. Import from here::

    from orderbook import OrderBook, PlaceOrder, Side, SkuRules

Compiled or not
---------------
The package is plain typed Python, and ``pip install`` (so ``make``) also
compiles it with mypyc (``setup.py``) into C extension modules that sit
beside the sources and take precedence over them. :data:`COMPILED` says
which runs. With ``ORDERBOOK_PURE=1`` in the environment the sources run
even when compiled modules are present (tests run both ways). In a source
checkout, compiled modules older than their sources refuse to load, so an
edit is never silently ignored: ``make native`` rebuilds them.
"""

from __future__ import annotations

from ._build import select_build

select_build(str(__package__), __file__)

from . import book as _book_module
from .book import SNAPSHOT_FORMAT, OrderBook, OrderView
from .checksum import CHECKSUM_DEPTH, book_checksum
from .commands import AmendOrder, CancelOrder, Command, ExpireOrders, PlaceOrder
from .events import Accepted, Amended, Canceled, Event, Fill, LevelChanged, Rejected
from .rules import (
    CancelReason,
    OrderStatus,
    OrderType,
    RejectReason,
    Side,
    SkuRules,
    TimeInForce,
    check_place,
    check_price,
)

COMPILED: bool = not str(_book_module.__file__).endswith(".py")
"""Whether the book runs compiled by mypyc (False: the Python sources)."""

__all__ = [
    "CHECKSUM_DEPTH",
    "COMPILED",
    "SNAPSHOT_FORMAT",
    "Accepted",
    "AmendOrder",
    "Amended",
    "CancelOrder",
    "CancelReason",
    "Canceled",
    "Command",
    "Event",
    "ExpireOrders",
    "Fill",
    "LevelChanged",
    "OrderBook",
    "OrderStatus",
    "OrderType",
    "OrderView",
    "PlaceOrder",
    "RejectReason",
    "Rejected",
    "Side",
    "SkuRules",
    "TimeInForce",
    "book_checksum",
    "check_place",
    "check_price",
]
