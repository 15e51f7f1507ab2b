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

__all__ = ["EngineHistory", "VenueHistory"]


def _newest(rows: list[dict[str, Any]], page: Page) -> list[dict[str, Any]]:
    """Rows (oldest first) in the page's id range, newest first, ``limit + 1``."""
    out = []
    for row in reversed(rows):
        if page.admits(row["id"]):
            out.append(row)
            if len(out) > page.limit:
                break
    return out


class EngineHistory:
    """The engine's side of the lists (:class:`exchange.history.LiveHistory`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def orders_page(
        self, account_id: str, page: Page, status: str | None, sku: str | None
    ) -> list[dict[str, Any]]:
        rows = self.engine.orders(account_id, status)
        if sku is not None:
            rows = [r for r in rows if r["sku"] == sku]
        return _newest(rows, page)

    def trades_page(
        self, account_id: str, page: Page, sku: str | None, settlement_status: str | None
    ) -> list[dict[str, Any]]:
        rows = self.engine.trades(account_id, settlement_status)
        if sku is not None:
            rows = [r for r in rows if r["sku"] == sku]
        return _newest(rows, page)

    def ledger_page(self, account_id: str, page: Page) -> list[dict[str, Any]]:
        return _newest(self.engine.ledger(account_id), page)

    def sku_trades_page(self, sku: str, page: Page) -> list[dict[str, Any]]:
        return self.engine.public_trades(sku, page.limit + 1, page.before)

    def holds_order(self, order_id: int) -> bool:
        return self.engine.order_row(order_id) is not None

    def holds_trade(self, trade_id: int) -> bool:
        return self.engine.trade_row(trade_id) is not None

    def holds_ledger(self, entry_id: int) -> bool:
        return entry_id <= self.engine.ledger_count()

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
