"""The venue's paged lists: orders, trades, ledger, a SKU's trades (docs/history.md).

Each list reads the engine's rows first (on the loop), then the store's (in
a worker thread, with a timeout: 503 ``store_unavailable`` rather than a
hang), and merges them newest id first with ``next_before``
(:class:`exchange.history.HistoryService`).
"""

from __future__ import annotations

from typing import Any

from ..accounts import Account, Role
from ..engine import Engine
from ..history import HistoryReader, HistoryService, Page
from ..wire import ledger_wire, order_wire, trade_public, trade_view

__all__ = ["EngineHistory", "VenueHistory"]


class EngineHistory:
    """The engine's side of the lists (:class:`exchange.history.LiveHistory`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.orders = engine.order_registry
        self.trades = engine.trade_book

    def orders_page(
        self, account_id: str, page: Page, status: str | None, sku: str | None
    ) -> list[dict[str, Any]]:
        rows = self.orders.page(account_id, page.before, page.limit + 1, status, sku)
        return [order_wire(o) for o in rows]

    def trades_page(
        self, account_id: str, page: Page, sku: str | None, settlement_status: str | None
    ) -> list[dict[str, Any]]:
        party = None if self.sees_all_trades(account_id) else account_id
        rows = self.trades.page(party, page.before, page.limit + 1, sku, settlement_status)
        return [trade_view(t, account_id) for t in rows]

    def ledger_page(self, account_id: str, page: Page) -> list[dict[str, Any]]:
        rows = self.trades.ledger_page(account_id, page.before, page.limit + 1)
        return [ledger_wire(e) for e in rows]

    def sku_trades_page(self, sku: str, page: Page) -> list[dict[str, Any]]:
        rows = self.trades.page(None, page.before, page.limit + 1, sku=sku)
        return [trade_public(t) for t in rows]

    def holds_order(self, order_id: int) -> bool:
        return self.orders.holds(order_id)

    def holds_trade(self, trade_id: int) -> bool:
        return self.trades.holds(trade_id)

    def holds_ledger(self, entry_id: int) -> bool:
        return self.trades.holds_entry(entry_id)

    def sees_all_trades(self, account_id: str) -> bool:
        account = self.engine.accounts.get(account_id)
        return account is not None and account.role in (Role.AUTHENTICATOR, Role.ADMIN)


class VenueHistory:
    """The paged-list methods of :class:`exchange.service.venue.Venue`."""

    engine: Engine
    _released_trade: int

    def _store_or_none(self) -> Any:
        raise NotImplementedError

    def _history(self) -> HistoryService:
        store = self._store_or_none()
        return HistoryService(
            EngineHistory(self.engine), None if store is None else HistoryReader(store)
        )

    async def orders_page(
        self, account: Account, page: Page, *, status: str | None = None, sku: str | None = None
    ) -> dict[str, Any]:
        """``{"orders", "next_before"}``: the account's orders, newest first."""
        return await self._history().orders(account.id, page, status=status, sku=sku)

    async def trades_page(
        self,
        account: Account,
        page: Page,
        *,
        sku: str | None = None,
        settlement_status: str | None = None,
    ) -> dict[str, Any]:
        """``{"trades", "next_before"}``: the account's fills (an authenticator's
        or admin's: every trade), newest first."""
        return await self._history().trades(
            account.id, page, sku=sku, settlement_status=settlement_status
        )

    async def ledger_page(self, account: Account, page: Page) -> dict[str, Any]:
        """``{"entries", "next_before"}``: the account's ledger, newest first."""
        return await self._history().ledger(account.id, page)

    async def sku_trades_page(self, sku: str, page: Page) -> dict[str, Any]:
        """``{"sku", "trades", "next_before"}``: released public trades, newest first."""
        return await self._history().sku_trades(sku, page, upto_id=self._released_trade)
