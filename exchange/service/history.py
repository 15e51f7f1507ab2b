"""The venue's paged lists: orders, trades, ledger, a SKU's trades (docs/history.md).

Each list reads the engine's rows first (on the loop), then the store's (in
a worker thread, with a timeout: 503 ``store_unavailable`` rather than a
hang), and merges them newest id first with ``next_before``
(:class:`exchange.history.HistoryService`).
"""

from __future__ import annotations

import logging
from typing import Any

from ..accounts import Account, Role
from ..commands import Evict, PlaceOrder
from ..engine import Engine
from ..errors import ExchangeError
from ..history import HistoryReader, HistoryService, Page
from ..orders import OrderRecord, check_repeat
from ..trades import TradeRecord
from ..wire import ledger_wire, order_wire, stored_order_wire, trade_public, trade_view
from .recent import RecentTrades
from .requests import parse_place

__all__ = ["EngineHistory", "VenueHistory"]

log = logging.getLogger("exchange.venue")


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

    def trade_row(self, trade_id: int) -> TradeRecord | None:
        return self.trades.get(trade_id)

    def sees_all_trades(self, account_id: str) -> bool:
        account = self.engine.accounts.get(account_id)
        return account is not None and account.role in (Role.AUTHENTICATOR, Role.ADMIN)


class VenueHistory:
    """The paged lists, repeats of evicted keys and eviction of
    :class:`exchange.service.venue.Venue`."""

    engine: Engine
    _released_trade: int
    _recent: RecentTrades

    def _store_or_none(self) -> Any:
        raise NotImplementedError

    def _accepting(self) -> int:
        raise NotImplementedError

    def store_status(self) -> dict[str, Any]:
        raise NotImplementedError

    async def submit(self, cmd: Any, now: int | None = None) -> Any:
        raise NotImplementedError

    @property
    def ready(self) -> bool:
        raise NotImplementedError

    async def _placement(
        self, account: Account, body: object
    ) -> tuple[PlaceOrder, int, dict[str, Any] | None]:
        """``(cmd, now, answer)`` for a placement: ``answer`` is the 200 answer
        of a repeated ``client_order_id`` (from the engine's window, or from
        the store for keys that left memory: looked up in a worker thread
        before anything is journaled), None for a new key.

        Raises:
            ExchangeError: ``client_order_id_reused`` for another body, or
                503 ``store_unavailable`` when the store cannot say.
        """
        now = self._accepting()
        cmd = parse_place(account.id, body, now)
        answer = self.engine.idempotent_replay(cmd, now)
        coid = cmd.client_order_id
        if answer is None and coid is not None and self.engine.has_evicted_keys(account.id):
            history = self._history()
            row = await history.order_by_key(account.id, coid)
            if row is not None:
                placed = (row["placed_price_cents"], row["placed_quantity"])
                if row["placed_quantity"] is None:  # a row written before placed columns
                    placed = (row["price_cents"], row["quantity"])
                stored = OrderRecord.from_row(row)
                check_repeat(stored, placed, cmd, now)
                fills = await history.fills_of(row, None)
                return cmd, now, {"order": order_wire(stored), "fills": fills}
            # Time passed while the store answered: a fresh now, and the
            # engine asked again (a twin request may have placed the key).
            now = self._accepting()
            cmd = parse_place(account.id, body, now)
            answer = self.engine.idempotent_replay(cmd, now)
        if answer is not None and answer["fills"] is None:
            order = dict(answer["order"], account_id=account.id)
            fills = await self._history().fills_of(order, answer.pop("fill_ids"))
            answer["fills"] = fills
        return cmd, now, answer

    async def find_order(self, account: Account, order_id: int) -> dict[str, Any]:
        """One of the account's orders, from the engine or, once it left
        memory, from the store (another's, or none: ``not_found``)."""
        if self.engine.order_registry.holds(order_id):
            return self.engine.order(account.id, order_id)
        row = await self._stored_order(account, order_id)
        if row is None:
            raise ExchangeError("not_found", f"You have no order {order_id}.")
        return stored_order_wire(row)

    async def _stored_order(self, account: Account, order_id: object) -> dict[str, Any] | None:
        """The account's order from the store, when the engine no longer holds it."""
        if type(order_id) is not int or self.engine.order_registry.holds(order_id):
            return None
        store = self._store_or_none()
        if store is None:
            return None
        reader = HistoryReader(store)
        rows = await self._history()._stored(lambda: [r for r in [reader.order(order_id)] if r])
        return rows[0] if rows and rows[0]["account_id"] == account.id else None

    async def refuse_ended_order(self, account: Account, order_id: object) -> None:
        """``order_not_open`` for an order of the account that ended and left
        memory (the engine alone would say ``not_found``)."""
        row = await self._stored_order(account, order_id)
        if row is not None:
            raise ExchangeError(
                "order_not_open", f"Order {order_id} is {row['status']}, not open."
            )

    async def refuse_settled_trade(self, account: Account, trade_id: object) -> None:
        """``invalid_settlement_transition`` for a trade whose settlement ended
        and that left memory, when the account may see it."""
        if type(trade_id) is not int or self.engine.trade_book.holds(trade_id):
            return
        store = self._store_or_none()
        if store is None:
            return
        reader = HistoryReader(store)
        rows = await self._history()._stored(lambda: [r for r in [reader.trade(trade_id)] if r])
        if not rows:
            return
        trade = rows[0]
        if account.id in (trade["buyer_id"], trade["seller_id"]) or account.role in (
            Role.AUTHENTICATOR,
            Role.ADMIN,
        ):
            raise ExchangeError(
                "invalid_settlement_transition",
                f"Trade {trade_id} is {trade['settlement_status']}; its settlement is over.",
            )

    async def evict_if_due(self) -> bool:
        """Journal an :class:`Evict` at the store's durable position when the
        engine holds final history at or below it. Returns whether it did."""
        store = self._store_or_none()
        oldest = self.engine.oldest_final_seq()
        if store is None or oldest is None or not self.ready:
            return False
        # The supervised writer reports the position it committed (every outbox
        # record up to it is in the store): no read of a store that may be
        # locked or down, and no worker thread stuck behind it each tick.
        status = self.store_status()
        if not status.get("enabled"):
            return False
        upto = min(int(status["position"]), self.engine.last_seq)
        if upto < oldest or upto <= self.engine.evicted_seq:
            return False
        try:
            out = await self.submit(Evict(upto))
        except ExchangeError:
            return False
        self._recent.add(out.response["trades"])
        return True

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
