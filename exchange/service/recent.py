"""Each SKU's recent trades that left the engine, for the feed's history.

The feed seeds a SKU's ticker and candles from ``venue.public_trades`` (the
SKU's newest trades, a sync read on the event loop). The engine holds only
trades still in settlement; one whose settlement ended leaves it at an
``Evict`` (issue 13) and lives on in the trade store, which the loop never
reads. :class:`RecentTrades` keeps, per SKU, the newest :data:`KEEP`
evicted trades in a compact tuple, so that the engine's live trades merged
with them are the SKU's newest trades exactly, for any ``limit`` up to
:data:`KEEP` (an evicted trade among the newest ``limit`` of the SKU is
among its newest ``KEEP`` evicted ones).

- Filled from the answer of each ``Evict`` the venue journals, and at open
  from the store (the newest :data:`KEEP` stored trades of each SKU that has
  traded, in a worker thread; those the engine holds are left out).
- Bounded: at most ``keep`` tuples per SKU that ever traded, lowest ids
  dropped first; memory depends on the catalog, not on the venue's age.
- Not in snapshots: it is a cache of the store, rebuilt at each open.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any

from sqlalchemy import select

from ..store import TRADES, TradeStore
from ..wire import public_trade

__all__ = ["KEEP", "RecentTrades", "load_recent"]

KEEP = 1000
"""Evicted trades kept per SKU: the feed's default ``history_limit``."""

_FIELDS = (
    "id",
    "time",
    "price_cents",
    "quantity",
    "taker_side",
    "buy_order_id",
    "sell_order_id",
    "settlement_status",
)
Row = tuple[int, int, int, int, str, int | None, int | None, str]


def _row(trade: dict[str, Any]) -> Row:
    return (
        trade["id"],
        trade["time"],
        trade["price_cents"],
        trade["quantity"],
        trade["taker_side"],
        trade["buy_order_id"],
        trade["sell_order_id"],
        trade["settlement_status"],
    )


def _public(sku: str, row: Row) -> dict[str, Any]:
    """A kept trade in the public wire shape (:func:`exchange.wire.public_trade`)."""
    tid, time, price, qty, taker_side, buy_id, sell_id, status = row
    return public_trade(tid, sku, price, qty, taker_side, buy_id, sell_id, time, status)


class RecentTrades:
    """Per SKU, the newest ``keep`` trades that left the engine (by id)."""

    __slots__ = ("_by_sku", "keep")

    def __init__(self, keep: int = KEEP) -> None:
        self.keep = keep
        self._by_sku: dict[str, list[Row]] = {}

    def add(self, trades: Iterable[dict[str, Any]]) -> None:
        """Keep trades (engine or store rows, ns times) that left the engine."""
        keep = self.keep
        for trade in trades:
            rows = self._by_sku.setdefault(trade["sku"], [])
            row = _row(trade)
            if not rows or row[0] > rows[-1][0]:
                rows.append(row)  # the usual case: newer than all kept
            elif all(r[0] != row[0] for r in rows):
                insort(rows, row)
            if len(rows) > keep:
                del rows[0]

    def merge(
        self, sku: str, live: list[dict[str, Any]], limit: int, before: int | None
    ) -> list[dict[str, Any]]:
        """The SKU's newest ``limit`` trades below ``before``, public wire
        shape: ``live`` (the engine's page) merged with the kept ones."""
        rows = self._by_sku.get(sku)
        if not rows:
            return live
        kept = (r for r in reversed(rows) if before is None or r[0] < before)
        merged = live + [_public(sku, r) for r in islice(kept, limit)]
        merged.sort(key=lambda t: t["id"], reverse=True)
        return merged[:limit]

    def size(self) -> int:
        """Trades kept (tests)."""
        return sum(len(rows) for rows in self._by_sku.values())


def load_recent(
    store: TradeStore, skus: Iterable[str], held: Callable[[int], bool], keep: int = KEEP
) -> RecentTrades:
    """A :class:`RecentTrades` from the store: per SKU its newest ``keep``
    trades the engine does not hold (sync: call it from a worker thread)."""
    recent = RecentTrades(keep)
    columns = [TRADES.c[name] for name in _FIELDS]
    with store.engine.connect() as conn:
        for sku in skus:
            # Through the (sku, time, id) index: times never fall as ids rise.
            stmt = (
                select(TRADES.c.sku, *columns)
                .where(TRADES.c.sku == sku)
                .order_by(TRADES.c.time.desc(), TRADES.c.id.desc())
                .limit(keep)
            )
            rows = [dict(r._mapping) for r in conn.execute(stmt)]
            recent.add(r for r in reversed(rows) if not held(r["id"]))
    return recent
