"""orderbook: the pure, sans-I/O limit order book of one SKU.

Commands in (:mod:`orderbook.commands`), events out (:mod:`orderbook.events`);
rules and reason codes in :mod:`orderbook.rules`; the checksum the feed shares
in :mod:`orderbook.checksum`. Import from here::

    from orderbook import OrderBook, PlaceOrder, Side, SkuRules
"""

from __future__ import annotations

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

__all__ = [
    "CHECKSUM_DEPTH",
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
