"""Settlement glue: the pure steps of :mod:`exchange.settlement` applied to the venue.

:class:`Clearing` owns the settlement state of every trade not yet delivered
or canceled (in the engine's snapshot as ``settling``) and the deadline
queue derived from it. It checks a ship or an authentication statically,
applies each step to the trade row, records the step's ledger entries, and
carries out what the final statuses mean:

- ``delivered``: the sale now counts toward the seller's fee level (at the
  delivery time); the buyer's portfolio gains the items (at the buyer's
  total per unit), the seller's loses its oldest ones of the SKU (realizing
  the seller's payout per unit);
- ``canceled``: the sale stops counting toward the seller's fee level and a
  :class:`~exchange.marketdata.TradeCanceled` goes out on the SKU's trades
  channel.

A :class:`~exchange.commands.Tick` at ``ts > ship_by`` cancels a trade
still awaiting shipment, with the seller's penalty; one at ``ts >
authenticate_by`` (ship time + the authenticate deadline) cancels a shipped
trade nobody authenticated, refunding the buyer with no penalty for the
seller (the platform missed it) (:meth:`Clearing.overdue`: ship deadlines
first, then authentication deadlines, each in deadline then trade id
order). :meth:`Clearing.next_due` tells the engine when the next is.

Nobody authenticates their own trade: a party to a trade (its buyer or its
seller) is refused ``forbidden`` whatever its role.
"""

from __future__ import annotations

from typing import Any

from .accounts import Account, Role
from .errors import ExchangeError
from .fees import SellerStats
from .marketdata import Sequencer
from .outcome import Outcome
from .portfolio import Portfolios
from .settlement import (
    DeadlineQueue,
    SettlementStatus,
    TradeState,
    Transition,
    authenticate,
    authentication_overdue,
    overdue,
    ship,
)
from .trades import TradeRecord, Trades

__all__ = ["Clearing"]

_DELIVERED = SettlementStatus.DELIVERED
_CANCELED = SettlementStatus.CANCELED
_SHIPPED = SettlementStatus.SHIPPED


class Clearing:
    """Trades in settlement, their deadlines, and what each step does.

    Args:
        trades: the trades and ledger the steps update.
        seller_stats: the sales that count toward fee levels.
        portfolios: where delivered items go.
        sequencer: market data, for :class:`~exchange.marketdata.TradeCanceled`.
    """

    def __init__(
        self,
        trades: Trades,
        seller_stats: SellerStats,
        portfolios: Portfolios,
        sequencer: Sequencer,
    ) -> None:
        self.trades = trades
        self.seller_stats = seller_stats
        self.portfolios = portfolios
        self.sequencer = sequencer
        self._settling: dict[int, TradeState] = {}
        # Derived from _settling: ship deadlines of trades awaiting shipment,
        # authentication deadlines of shipped ones.
        self._deadlines = DeadlineQueue()
        self._auth_deadlines = DeadlineQueue()

    def track(self, state: TradeState) -> None:
        """Follow a newly opened trade's settlement."""
        self._settling[state.trade_id] = state
        self._deadlines.push(state.trade_id, state.ship_by)

    # ------------------------------------------------------------ checks

    def _state(self, trade_id: int) -> TradeState:
        state = self._settling.get(trade_id)
        if state is None:
            trade = self.trades[trade_id]
            raise ExchangeError(
                "invalid_settlement_transition",
                f"Trade {trade_id} is {trade.settlement_status}; its settlement is over.",
            )
        return state

    def check_ship(self, account_id: str, trade_id: object, now: int) -> None:
        """Only the seller ships, in time (another's trade is ``not_found``)."""
        trade = self.trades.get(trade_id)
        if trade is None or trade.seller_id != account_id:
            raise ExchangeError("not_found", f"You sold no trade {trade_id}.")
        ship(self._state(trade.id), now)

    def check_authenticate(
        self, account: Account, trade_id: object, passed: object, now: int
    ) -> None:
        """Only an authenticator (or admin) that is no party to it authenticates a shipped trade."""
        if account.role not in (Role.AUTHENTICATOR, Role.ADMIN):
            raise ExchangeError("forbidden", "Only an authenticator may authenticate trades.")
        if type(passed) is not bool:
            raise ExchangeError("validation_error", "passed must be true or false.")
        trade = self.trades.get(trade_id)
        if trade is None:
            raise ExchangeError("not_found", f"There is no trade {trade_id}.")
        if account.id == trade.buyer_id or account.id == trade.seller_id:
            raise ExchangeError(
                "forbidden",
                f"You are a party to trade {trade.id}: its authentication is someone else's.",
            )
        authenticate(self._state(trade.id), passed, now)

    # ------------------------------------------------------------ steps

    def ship(self, trade_id: int, authenticate_deadline_ns: int, out: Outcome) -> TradeRecord:
        """The seller shipped (to be authenticated within the deadline): the trade after."""
        trade = self.trades[trade_id]
        step = ship(self._settling[trade_id], out.ts, authenticate_deadline_ns)
        self._settle(trade, step, out)
        return trade

    def authenticate(self, trade_id: int, passed: bool, out: Outcome) -> TradeRecord:
        """An authenticator passed or failed the trade: the trade after the step."""
        trade = self.trades[trade_id]
        self._settle(trade, authenticate(self._settling[trade_id], passed, out.ts), out)
        return trade

    def overdue(self, out: Outcome) -> None:
        """Cancel every trade whose ship or authentication deadline passed before ``out.ts``."""
        ts = out.ts
        for tid in self._deadlines.due(ts):
            self._settle(self.trades[tid], overdue(self._settling[tid], ts), out)
        for tid in self._auth_deadlines.due(ts):
            step = authentication_overdue(self._settling[tid], ts)
            self._settle(self.trades[tid], step, out)

    def next_due(self) -> int | None:
        """The earliest time a Tick would cancel an overdue trade, or None."""
        ship_by = self._deadlines.next_deadline()
        auth_by = self._auth_deadlines.next_deadline()
        deadline = (
            ship_by if auth_by is None else auth_by if ship_by is None else min(ship_by, auth_by)
        )
        # A trade is overdue only once ts > the deadline (acting at it is on time).
        return None if deadline is None else deadline + 1

    def _settle(self, trade: TradeRecord, step: Transition, out: Outcome) -> None:
        """Apply one settlement step to the trade and record its entries."""
        state = step.state
        status = state.status
        tid = trade.id
        trade.settlement_status = status.value
        trade.updated_at = out.ts
        self._deadlines.discard(tid)
        self._auth_deadlines.discard(tid)
        if status is _DELIVERED or status is _CANCELED:
            del self._settling[tid]
            self.trades.retire(tid, out.seq)
            if status is _CANCELED:
                # A canceled trade is not a sale: it no longer counts for levels.
                self.seller_stats.remove_sale(trade.seller_id, tid)
                self.sequencer.trade_canceled(
                    trade.sku,
                    tid,
                    trade.price_cents,
                    trade.quantity,
                    out.ts,
                    out,
                    out.live,
                )
            else:
                self._deliver(trade, out)
        else:
            self._settling[tid] = state
            if status is _SHIPPED:
                self._auth_deadlines.push(tid, state.authenticate_by)
        self.trades.record(step.entries, out)
        if out.want_ops:
            out.store_ops.append(("trade", trade.to_row()))

    def _deliver(self, trade: TradeRecord, out: Outcome) -> None:
        """Count the sale; move the items into the buyer's portfolio and out of the seller's."""
        ts = out.ts
        qty = trade.quantity
        seller, tid = trade.seller_id, trade.id
        # A sale counted at its match (a snapshot from before this rule) stays counted.
        if not self.seller_stats.has_sale(seller, tid):
            gross = trade.price_cents * qty
            self.seller_stats.record_sale(seller, tid, ts, qty, gross)
        # Costs and proceeds per unit are whole cents: fees are per unit.
        holdings = self.portfolios.on_delivered_purchase(
            trade.buyer_id,
            trade.sku,
            trade.buyer_total_cents // qty,
            qty,
            trade.id,
            ts,
        )
        for holding in holdings:
            out.store_ops.append(("holding", holding.to_row()))
        _, gains = self.portfolios.on_delivered_sale(
            trade.seller_id, trade.sku, trade.seller_payout_cents // qty, qty, ts
        )
        for gain in gains:
            out.store_ops.append(("holding_delete", {"id": gain.holding_id}))
            out.store_ops.append(("realized", gain.to_row()))

    # ------------------------------------------------------------ snapshot

    def to_snapshot(self) -> list[dict[str, Any]]:
        """The snapshot's ``settling`` part."""
        return [self._settling[i].to_dict() for i in sorted(self._settling)]

    def load_snapshot(self, items: list[dict[str, Any]], authenticate_deadline_ns: int) -> None:
        """Inverse of :meth:`to_snapshot` (the deadlines are derived).

        A shipped trade without ``authenticate_by`` (a version 2 snapshot)
        gets its ship time plus ``authenticate_deadline_ns``.
        """
        for item in items:
            state = TradeState.from_dict(item)
            if state.status is _SHIPPED and not state.authenticate_by:
                state = state._replace(authenticate_by=state.updated_at + authenticate_deadline_ns)
            self._settling[state.trade_id] = state
            if state.status is SettlementStatus.AWAITING_SHIPMENT:
                self._deadlines.push(state.trade_id, state.ship_by)
            elif state.status is _SHIPPED:
                self._auth_deadlines.push(state.trade_id, state.authenticate_by)
