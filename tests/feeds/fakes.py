"""A fake venue for feed tests: a catalog, an L2 mirror and an event source.

It produces :class:`BookUpdate` and :class:`TradePrint` events with correct
per-SKU sequences, per-channel ``prev_sequence`` and checksums, applies them
to its mirror first (as the venue does) and then calls subscribers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from exchange.marketdata import (
    BookUpdate,
    L2Mirror,
    MarketDataEvent,
    TradeCanceled,
    TradePrint,
    book_checksum,
)

__all__ = ["FakeVenue"]

Callback = Callable[[list[MarketDataEvent]], None]


class FakeVenue:
    """Implements the part of the venue contract the feed uses."""

    def __init__(self, skus: Iterable[str] = ("AAA-10", "BBB-9", "CCC-11")) -> None:
        self.catalog = set(skus)
        self.mirror = L2Mirror()
        self.callbacks: list[Callback] = []
        self.levels: dict[str, dict[str, dict[int, int]]] = {}
        self.seq: dict[str, int] = {}
        self.book_seq: dict[str, int] = {}
        self.trade_seq: dict[str, int] = {}
        self.trade_id = 0
        self.history: dict[str, list[dict[str, Any]]] = {}

    # --- the contract ------------------------------------------------------

    def subscribe(self, callback: Callback) -> None:
        self.callbacks.append(callback)

    def unsubscribe(self, callback: Callback) -> None:
        self.callbacks.remove(callback)

    def sku_exists(self, sku: str) -> bool:
        return sku in self.catalog

    def public_trades(self, sku: str, limit: int, before: int | None) -> list[dict[str, Any]]:
        return list(reversed(self.history.get(sku, [])))[:limit]

    # --- driving it --------------------------------------------------------

    def book_update(
        self, sku: str, changes: Iterable[tuple[str, int, int]], now: int | None = None
    ) -> BookUpdate:
        """Build (without publishing) the next book event of ``sku``."""
        book = self.levels.setdefault(sku, {"bid": {}, "ask": {}})
        changes = tuple(changes)
        for side, price, qty in changes:
            if qty:
                book[side][price] = qty
            else:
                book[side].pop(price, None)
        seq = self.seq.get(sku, 0) + 1
        self.seq[sku] = seq
        prev = self.book_seq.get(sku, 0)
        self.book_seq[sku] = seq
        asks = sorted(book["ask"].items())
        bids = sorted(book["bid"].items(), reverse=True)
        return BookUpdate(
            sku, seq, prev, changes, book_checksum(asks, bids), now or time.time_ns()
        )

    def trade_print(
        self, sku: str, price: int, qty: int, taker_side: str = "bid", now: int | None = None
    ) -> TradePrint:
        """Build (without publishing) the next trade event of ``sku``."""
        seq = self.seq.get(sku, 0) + 1
        self.seq[sku] = seq
        prev = self.trade_seq.get(sku, 0)
        self.trade_seq[sku] = seq
        self.trade_id += 1
        return TradePrint(sku, seq, prev, self.trade_id, price, qty, taker_side,
                          now or time.time_ns())

    def publish(self, events: list[MarketDataEvent]) -> None:
        """Release events: mirror first, then every subscriber, in order."""
        for event in events:
            self.mirror.apply(event)
        for callback in list(self.callbacks):
            callback(list(events))

    def set_levels(self, sku: str, *changes: tuple[str, int, int]) -> BookUpdate:
        """Publish one book batch."""
        event = self.book_update(sku, changes)
        self.publish([event])
        return event

    def trade(self, sku: str, price: int, qty: int, taker_side: str = "bid") -> TradePrint:
        """Publish one trade."""
        event = self.trade_print(sku, price, qty, taker_side)
        self.publish([event])
        return event

    def cancel_trade(self, trade: TradePrint, now: int | None = None) -> TradeCanceled:
        """Publish that ``trade`` was canceled in settlement (trades channel)."""
        sku = trade.sku
        seq = self.seq.get(sku, 0) + 1
        self.seq[sku] = seq
        prev = self.trade_seq.get(sku, 0)
        self.trade_seq[sku] = seq
        event = TradeCanceled(sku, seq, prev, trade.trade_id, trade.price_cents,
                              trade.quantity, now or time.time_ns())
        self.publish([event])
        return event

    def book_levels(self, sku: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """``(bids best first, asks best first)`` of the fake's own book."""
        book = self.levels.get(sku, {"bid": {}, "ask": {}})
        return (
            sorted(book["bid"].items(), reverse=True),
            sorted(book["ask"].items()),
        )
