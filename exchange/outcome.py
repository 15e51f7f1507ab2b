"""What applying one command produced: :class:`Outcome`, and the store ops in it.

A store op is ``(kind, row)``: ``kind`` one of ``order``, ``trade``,
``ledger``, ``holding``, ``holding_delete`` and ``realized``; ``row`` a full
row of that table as a dict of column -> value (ints for money and times in
ns), a copy that the engine never mutates afterwards, so the store writer
thread may read it while the engine goes on. ``holding_delete`` rows are
``{"id": holding_id}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import ExchangeError
from .marketdata import MarketDataEvent

__all__ = ["Outcome", "StoreOp"]

StoreOp = tuple[str, dict[str, Any]]


@dataclass(slots=True)
class Outcome:
    """What applying one command produced.

    Attributes:
        seq: the command's journal seq.
        ts: its time (ns).
        response: the answer for the caller (a JSON-able dict), None for none.
        status: HTTP-ish status of ``response`` (201 new order, 200 other).
        error: a refusal only the book could see (the command changed nothing).
        md: market-data events in publication order.
        md_orders: parallel to ``md``: for a BookUpdate, ``(side, price) ->
            order count`` of every changed level (for the L2 mirror), else None.
        store_ops: rows for the trade store.
        order_status: final status of a newly placed order (metrics), or None.
        order_reason: its cancel/reject reason, or None.
        trades: trades matched by this command.
        traded_cents: their gross value.
        fees_cents: platform fees they earned.
        live: whether answers and market-data events are built (see
            :attr:`exchange.engine.Engine.live`).
        want_ops: whether order, trade and ledger store ops are built (see
            :attr:`exchange.engine.Engine.store_ops_after`).
    """

    seq: int
    ts: int
    response: dict[str, Any] | None = None
    status: int = 200
    error: ExchangeError | None = None
    md: list[MarketDataEvent] = field(default_factory=list)
    md_orders: list[dict[tuple[str, int], int] | None] = field(default_factory=list)
    store_ops: list[StoreOp] = field(default_factory=list)
    order_status: str | None = None
    order_reason: str | None = None
    trades: int = 0
    traded_cents: int = 0
    fees_cents: int = 0
    live: bool = True
    want_ops: bool = True
