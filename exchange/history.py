"""History reads: paged lists that merge the engine's live rows with the store's.

CONTRACT (docs/history.md)

- Every list is newest first by id (ids rise with time), at most ``limit``
  rows (default :data:`DEFAULT_LIMIT`, at most :data:`MAX_LIMIT`), only ids
  below ``before`` when given; :func:`merge_page` answers the page and
  ``next_before``: the last id of the page when more rows may follow, else
  None.
- :func:`parse_page` turns query values (strings or ints) into a
  :class:`Page`, raising ``validation_error`` for anything else; the filter
  parsers do the same for ``status`` and ``settlement_status``.
- :class:`HistoryReader` is the store's side (synchronous: call it from a
  worker thread, never from the event loop): the same pages as SQL, as raw
  store rows (ns times), newest id first, ``limit + 1`` of them so the merge
  can tell whether another page follows. :func:`ensure_schema` adds what the
  reader needs to an existing store (the placed price and quantity of an
  order, and indexes by id) and is idempotent.
- The merge: a store row whose id the engine still holds is dropped (the
  engine's row is as new or newer); the engine must be read BEFORE the
  store, so a row evicted in between is in the store already.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Column, Index, delete, inspect, select, text
from sqlalchemy.sql.schema import Table

from .errors import ExchangeError
from .store import HOLDINGS, LEDGER, META, ORDERS, REALIZED, TRADES, TradeStore
from .trades import TradeRecord
from .wire import (
    stored_ledger_wire,
    stored_order_wire,
    stored_trade_public,
    stored_trade_view,
    trade_view,
)

__all__ = [
    "DEFAULT_LIMIT",
    "LIVE_ORDER_STATUSES",
    "LIVE_SETTLEMENT_STATUSES",
    "MAX_LIMIT",
    "ORDER_STATUSES",
    "SETTLEMENT_STATUSES",
    "HistoryReader",
    "HistoryService",
    "LiveHistory",
    "Page",
    "ensure_schema",
    "merge_page",
    "parse_order_status",
    "parse_page",
    "parse_settlement_status",
    "reset_live_tables",
]

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
ORDER_STATUSES = ("open", "filled", "canceled", "expired", "rejected")
LIVE_ORDER_STATUSES = frozenset({"open"})
"""Order statuses only the engine holds (the store keeps final states)."""
SETTLEMENT_STATUSES = ("awaiting_shipment", "shipped", "delivered", "canceled")
LIVE_SETTLEMENT_STATUSES = frozenset({"awaiting_shipment", "shipped"})
"""Settlement statuses of trades the engine always holds: a filter on one of
them is answered from the engine alone (a store row may be stale)."""
_MAX_ID = 2**63 - 1

log = logging.getLogger("exchange.history")


def _invalid(message: str) -> ExchangeError:
    return ExchangeError("validation_error", message)


@dataclass(frozen=True, slots=True)
class Page:
    """Which page of a list: at most ``limit`` rows with ids below ``before``."""

    limit: int = DEFAULT_LIMIT
    before: int | None = None

    def admits(self, row_id: int) -> bool:
        """Whether ``row_id`` lies in the page's id range."""
        return self.before is None or row_id < self.before


def _int_param(value: object, name: str) -> int | None:
    if value is None or value == "":
        return None
    if type(value) is int:
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) <= 20:
        return int(value)
    raise _invalid(f"Query parameter '{name}' must be an integer.")


def parse_page(limit: object = None, before: object = None) -> Page:
    """A :class:`Page` from query values (str or int; None or "" for absent).

    Raises:
        ExchangeError: ``validation_error`` naming the parameter.
    """
    n = _int_param(limit, "limit")
    if n is None:
        n = DEFAULT_LIMIT
    elif not 1 <= n <= MAX_LIMIT:
        raise _invalid(f"Query parameter 'limit' must be between 1 and {MAX_LIMIT}.")
    b = _int_param(before, "before")
    if b is not None and not 1 <= b <= _MAX_ID:
        raise _invalid("Query parameter 'before' must be a positive id.")
    return Page(n, b)


def _choice(value: object, name: str, allowed: Sequence[str]) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and value in allowed:
        return value
    raise _invalid(f"Query parameter '{name}' must be one of: {', '.join(allowed)}.")


def parse_order_status(value: object) -> str | None:
    """An order ``status`` filter, None for absent (``validation_error`` otherwise)."""
    return _choice(value, "status", ORDER_STATUSES)


def parse_settlement_status(value: object) -> str | None:
    """A ``settlement_status`` filter, None for absent (``validation_error`` otherwise)."""
    return _choice(value, "settlement_status", SETTLEMENT_STATUSES)


def merge_page(
    live: Iterable[dict[str, Any]],
    stored: Iterable[dict[str, Any]],
    page: Page,
    *,
    held: Callable[[int], bool],
    render: Callable[[dict[str, Any]], dict[str, Any]],
) -> tuple[list[dict[str, Any]], int | None]:
    """One page, newest id first, from the engine's rows and the store's.

    Args:
        live: wire rows from the engine (read first), each with ``id``.
        stored: raw store rows (read after ``live``).
        page: the page asked for; both sources should give ``limit + 1``.
        held: whether the engine (now) holds a row of that id: its store
            row is then dropped, the engine's being as new or newer.
        render: a store row in wire shape (called for the rows shown only).

    Returns:
        ``(rows, next_before)``.
    """
    by_id: dict[int, tuple[bool, dict[str, Any]]] = {}
    for row in live:
        if page.admits(row["id"]):
            by_id[row["id"]] = (True, row)
    for row in stored:
        rid = row["id"]
        if rid not in by_id and page.admits(rid) and not held(rid):
            by_id[rid] = (False, row)
    ids = sorted(by_id, reverse=True)[: page.limit + 1]
    more = len(ids) > page.limit
    del ids[page.limit :]
    out = []
    for rid in ids:
        is_live, row = by_id[rid]
        out.append(row if is_live else render(row))
    return out, (out[-1]["id"] if more and out else None)


# ------------------------------------------------------------------ schema

_PLACED_COLUMNS = ("placed_price_cents", "placed_quantity")
"""Order columns kept for idempotency: the price and quantity as placed
(an amend changes the live ones, and a repeat is compared with the body)."""


def _indexes() -> list[Index]:
    # Trades page through the existing (party or sku, time, id) indexes (see
    # HistoryReader._trades_paged): every extra trade index slows each write.
    return [
        Index("ix_orders_account_id", ORDERS.c.account_id, ORDERS.c.id),
        Index("ix_orders_account_key", ORDERS.c.account_id, ORDERS.c.client_order_id),
    ]


_INDEXES = _indexes()


def ensure_schema(store: TradeStore) -> None:
    """Add the history columns and indexes an older store lacks (idempotent)."""
    with store.engine.begin() as conn:
        have = {c["name"] for c in inspect(conn).get_columns(ORDERS.name)}
        for name in _PLACED_COLUMNS:
            if name not in have:
                conn.execute(text(f"ALTER TABLE {ORDERS.name} ADD COLUMN {name} BIGINT"))
    for index in _INDEXES:
        index.create(store.engine, checkfirst=True)


def reset_live_tables(store: TradeStore) -> None:
    """Empty what the engine's state rebuilds whole (holdings, realized gains,
    meta), keeping orders, trades and ledger: history evicted from the
    engine lives only there, and the engine's rows are upserted over the rest."""
    with store.engine.begin() as conn:
        for table in (HOLDINGS, REALIZED, META):
            conn.execute(delete(table))


# ------------------------------------------------------------------ reads


class HistoryReader:
    """Paged history queries over a :class:`TradeStore` (sync; a worker thread).

    Each ``*_page`` method returns up to ``page.limit + 1`` raw rows, newest
    id first, with ids below ``page.before``.
    """

    def __init__(self, store: TradeStore) -> None:
        self.store = store

    def _rows(self, stmt: Any) -> list[dict[str, Any]]:
        with self.store.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    @staticmethod
    def _paged(stmt: Any, table: Table, page: Page) -> Any:
        id_col: Column[Any] = table.c.id
        if page.before is not None:
            stmt = stmt.where(id_col < page.before)
        return stmt.order_by(id_col.desc()).limit(page.limit + 1)

    def orders_page(
        self, account_id: str, page: Page, *, status: str | None = None, sku: str | None = None
    ) -> list[dict[str, Any]]:
        """The account's stored (final) orders."""
        stmt = select(ORDERS).where(ORDERS.c.account_id == account_id)
        if status is not None:
            stmt = stmt.where(ORDERS.c.status == status)
        if sku is not None:
            stmt = stmt.where(ORDERS.c.sku == sku)
        return self._rows(self._paged(stmt, ORDERS, page))

    def _trades_paged(self, stmt: Any, page: Page) -> Any:
        """Trades newest first through a ``(party or sku, time, id)`` index.

        Times never fall as ids rise (the venue's clock never steps back),
        so ids below ``before`` all lie at or before the time of the newest
        stored trade below it: bounding ``time`` lets the index seek to the
        page instead of scanning the newer rows.
        """
        if page.before is not None:
            bound = (
                select(TRADES.c.time)
                .where(TRADES.c.id < page.before)
                .order_by(TRADES.c.id.desc())
                .limit(1)
                .scalar_subquery()
            )
            stmt = stmt.where(TRADES.c.id < page.before, TRADES.c.time <= bound)
        return stmt.order_by(TRADES.c.time.desc(), TRADES.c.id.desc()).limit(page.limit + 1)

    def trades_page(
        self,
        account_id: str | None,
        page: Page,
        *,
        sku: str | None = None,
        settlement_status: str | None = None,
    ) -> list[dict[str, Any]]:
        """Trades the account bought or sold (every trade when ``account_id`` is None)."""
        filters = []
        if sku is not None:
            filters.append(TRADES.c.sku == sku)
        if settlement_status is not None:
            filters.append(TRADES.c.settlement_status == settlement_status)
        if account_id is None:
            if sku is not None:
                return self._rows(self._trades_paged(select(TRADES).where(*filters), page))
            return self._rows(self._paged(select(TRADES).where(*filters), TRADES, page))
        # Two index range scans (buyer, seller) beat one OR scan on both engines.
        rows: dict[int, dict[str, Any]] = {}
        for column in (TRADES.c.buyer_id, TRADES.c.seller_id):
            stmt = select(TRADES).where(column == account_id, *filters)
            for row in self._rows(self._trades_paged(stmt, page)):
                rows[row["id"]] = row
        return [rows[i] for i in sorted(rows, reverse=True)[: page.limit + 1]]

    def ledger_page(self, account_id: str, page: Page) -> list[dict[str, Any]]:
        """The account's ledger entries."""
        stmt = select(LEDGER).where(LEDGER.c.account_id == account_id)
        return self._rows(self._paged(stmt, LEDGER, page))

    def order(self, order_id: int) -> dict[str, Any] | None:
        """One stored order by id, or None."""
        rows = self._rows(select(ORDERS).where(ORDERS.c.id == order_id))
        return rows[0] if rows else None

    def trade(self, trade_id: int) -> dict[str, Any] | None:
        """One stored trade by id, or None."""
        rows = self._rows(select(TRADES).where(TRADES.c.id == trade_id))
        return rows[0] if rows else None

    def order_by_key(self, account_id: str, client_order_id: str) -> dict[str, Any] | None:
        """The stored order the account placed with ``client_order_id``, or None."""
        stmt = select(ORDERS).where(
            ORDERS.c.account_id == account_id, ORDERS.c.client_order_id == client_order_id
        )
        rows = self._rows(stmt)
        return rows[0] if rows else None

    def first_fills(self, order: dict[str, Any]) -> list[dict[str, Any]]:
        """The trades an order made as taker when it was placed, oldest first.

        They carry the order's ``created_at`` as their time and the order's
        side as the taker's (the placing command's matches); found through
        the buyer/seller time index.
        """
        if order["side"] == "bid":
            party, own = TRADES.c.buyer_id, TRADES.c.buy_order_id
        else:
            party, own = TRADES.c.seller_id, TRADES.c.sell_order_id
        stmt = (
            select(TRADES)
            .where(
                party == order["account_id"],
                TRADES.c.time == order["created_at"],
                own == order["id"],
                TRADES.c.taker_side == order["side"],
            )
            .order_by(TRADES.c.id)
        )
        return self._rows(stmt)


# ------------------------------------------------------------------ service


class LiveHistory(Protocol):
    """What :class:`HistoryService` asks of the engine (on the event loop).

    Each ``*_page`` answers wire rows, newest first, at most ``page.limit +
    1``, with ids below ``page.before``; ``holds_*`` say whether the engine
    still has a row of that id.
    """

    def orders_page(
        self, account_id: str, page: Page, status: str | None, sku: str | None
    ) -> list[dict[str, Any]]: ...

    def trades_page(
        self,
        account_id: str,
        page: Page,
        sku: str | None,
        settlement_status: str | None,
    ) -> list[dict[str, Any]]: ...

    def ledger_page(self, account_id: str, page: Page) -> list[dict[str, Any]]: ...

    def sku_trades_page(self, sku: str, page: Page) -> list[dict[str, Any]]: ...

    def holds_order(self, order_id: int) -> bool: ...

    def holds_trade(self, trade_id: int) -> bool: ...

    def holds_ledger(self, entry_id: int) -> bool: ...

    def sees_all_trades(self, account_id: str) -> bool: ...

    def trade_row(self, trade_id: int) -> TradeRecord | None: ...


class HistoryService:
    """The venue's paged lists: the engine's rows first, then the store's.

    Args:
        live: the engine (read on the event loop).
        reader: the store's reader, or None for a venue without a store.
        timeout: the longest a store read may take before the answer is
            503 ``store_unavailable`` (never a hang).
    """

    def __init__(
        self, live: LiveHistory, reader: HistoryReader | None, *, timeout: float = 2.0
    ) -> None:
        self.live = live
        self.reader = reader
        self.timeout = timeout

    async def _stored(self, read: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        if self.reader is None:
            return []
        try:
            return await asyncio.wait_for(asyncio.to_thread(read), self.timeout)
        except TimeoutError:
            raise ExchangeError(
                "store_unavailable",
                "The trade store did not answer in time; retry in a moment.",
                status=503,
            ) from None
        except Exception as exc:
            log.warning("history: a store read failed: %s", exc)
            raise ExchangeError(
                "store_unavailable",
                "The trade store cannot be read right now; retry in a moment.",
                status=503,
            ) from None

    async def orders(
        self, account_id: str, page: Page, *, status: str | None = None, sku: str | None = None
    ) -> dict[str, Any]:
        """``{"orders", "next_before"}``: the account's orders, newest first."""
        live = self.live.orders_page(account_id, page, status, sku)
        stored: list[dict[str, Any]] = []
        if status not in LIVE_ORDER_STATUSES and self.reader is not None:
            reader = self.reader
            stored = await self._stored(
                lambda: reader.orders_page(account_id, page, status=status, sku=sku)
            )
        rows, nxt = merge_page(
            live, stored, page, held=self.live.holds_order, render=stored_order_wire
        )
        return {"orders": rows, "next_before": nxt}

    async def trades(
        self,
        account_id: str,
        page: Page,
        *,
        sku: str | None = None,
        settlement_status: str | None = None,
    ) -> dict[str, Any]:
        """``{"trades", "next_before"}``: the account's fills (an authenticator's:
        every trade), newest first."""
        live = self.live.trades_page(account_id, page, sku, settlement_status)
        stored: list[dict[str, Any]] = []
        if settlement_status not in LIVE_SETTLEMENT_STATUSES and self.reader is not None:
            reader = self.reader
            party = None if self.live.sees_all_trades(account_id) else account_id
            stored = await self._stored(
                lambda: reader.trades_page(
                    party, page, sku=sku, settlement_status=settlement_status
                )
            )
        rows, nxt = merge_page(
            live,
            stored,
            page,
            held=self.live.holds_trade,
            render=lambda row: stored_trade_view(row, account_id),
        )
        return {"trades": rows, "next_before": nxt}

    async def ledger(self, account_id: str, page: Page) -> dict[str, Any]:
        """``{"entries", "next_before"}``: the account's ledger, newest first."""
        live = self.live.ledger_page(account_id, page)
        stored: list[dict[str, Any]] = []
        if self.reader is not None:
            reader = self.reader
            stored = await self._stored(lambda: reader.ledger_page(account_id, page))
        rows, nxt = merge_page(
            live, stored, page, held=self.live.holds_ledger, render=stored_ledger_wire
        )
        return {"entries": rows, "next_before": nxt}

    async def sku_trades(self, sku: str, page: Page, *, upto_id: int) -> dict[str, Any]:
        """``{"sku", "trades", "next_before"}``: a SKU's public trades up to
        ``upto_id`` (the last released), newest first."""
        if page.before is None or page.before > upto_id + 1:
            page = Page(page.limit, upto_id + 1)
        live = self.live.sku_trades_page(sku, page)
        stored: list[dict[str, Any]] = []
        if self.reader is not None:
            reader = self.reader
            stored = await self._stored(lambda: reader.trades_page(None, page, sku=sku))
        rows, nxt = merge_page(
            live, stored, page, held=self.live.holds_trade, render=stored_trade_public
        )
        return {"sku": sku, "trades": rows, "next_before": nxt}

    async def order_by_key(self, account_id: str, client_order_id: str) -> dict[str, Any] | None:
        """The stored order the account placed with ``client_order_id``, or None."""
        reader = self.reader
        if reader is None:
            return None
        rows = await self._stored(
            lambda: [r for r in [reader.order_by_key(account_id, client_order_id)] if r]
        )
        return rows[0] if rows else None

    async def fills_of(
        self, order: dict[str, Any], fill_ids: Sequence[int] | None
    ) -> list[dict[str, Any]]:
        """The fills of an order's first placement as its owner sees them:
        ``fill_ids`` from the engine where it holds them, else from the store
        (``fill_ids`` None: found in the store by the order's own time)."""
        account_id = order["account_id"]
        reader = self.reader
        if fill_ids is None:
            if reader is None:
                return []
            rows = await self._stored(lambda: reader.first_fills(order))
            return [stored_trade_view(r, account_id) for r in rows]
        by_id = {t: self.live.trade_row(t) for t in fill_ids}
        missing = [t for t, row in by_id.items() if row is None]
        if missing and reader is not None:
            found = await self._stored(lambda: [r for t in missing if (r := reader.trade(t))])
            by_id.update((r["id"], TradeRecord.from_row(r)) for r in found)
        return [trade_view(row, account_id) for row in by_id.values() if row is not None]
