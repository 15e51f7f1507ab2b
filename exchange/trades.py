"""Trades and the ledger: what matched, what it cost, who owes whom.

:class:`Trades` owns every trade (a row of :data:`TRADE_KEYS`), its indexes
by account and by SKU, the ledger (rows of :data:`LEDGER_KEYS`) and their id
counters, and its part of the engine's snapshot. A trade is opened from a
book :class:`~orderbook.events.Fill` by :meth:`Trades.open`, which prices it
(:func:`exchange.settlement.open_trade`: fees at the seller's level at the
match) and records the entries of the match; its settlement then goes on in
:mod:`exchange.clearing`.

Trade rows (times int ns, money int cents): ``{id, sku, style, price_cents,
quantity, taker_side, buy_order_id, sell_order_id, buyer_id, seller_id,
time, settlement_status, ship_by, seller_level, buyer_fee_cents,
transaction_fee_cents, processing_fee_cents, buyer_total_cents,
seller_payout_cents, platform_fee_cents, updated_at}``. Ledger rows:
``{id, account_id, trade_id, kind, amount_cents, time, description}``, the
amount signed from the account's side (see :mod:`exchange.settlement`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from orderbook.events import Fill
from orderbook.rules import Side

from .eviction import LEDGER, TRADE, IdIndex, Retirements
from .fees import FeeSchedule, SellerStats
from .outcome import Outcome
from .settlement import LedgerEntry, SettlementStatus, TradeState, open_trade

__all__ = ["LEDGER_KEYS", "TRADE_KEYS", "Trades"]

_BID = Side.BID
_AWAITING = SettlementStatus.AWAITING_SHIPMENT.value

TRADE_KEYS = (
    "id",
    "sku",
    "style",
    "price_cents",
    "quantity",
    "taker_side",
    "buy_order_id",
    "sell_order_id",
    "buyer_id",
    "seller_id",
    "time",
    "settlement_status",
    "ship_by",
    "seller_level",
    "buyer_fee_cents",
    "transaction_fee_cents",
    "processing_fee_cents",
    "buyer_total_cents",
    "seller_payout_cents",
    "platform_fee_cents",
    "updated_at",
)
"""The fields of a trade row, in order (the snapshot's arrays)."""

LEDGER_KEYS = ("id", "account_id", "trade_id", "kind", "amount_cents", "time", "description")
"""The fields of a ledger row, in order (the snapshot's arrays)."""


class Trades:
    """Every trade and ledger entry, with their indexes and id counters."""

    def __init__(self) -> None:
        self.next_trade = 1
        self.next_ledger = 1
        self._trades: dict[int, dict[str, Any]] = {}
        self._ledger: dict[int, dict[str, Any]] = {}
        # Derived (rebuilt on restore, never snapshotted).
        held = self._trades.__contains__
        self._by_account = IdIndex(held)
        self._by_sku = IdIndex(held)
        self._all = IdIndex(held)
        self._ledger_by_account = IdIndex(self._ledger.__contains__)
        self.retired = Retirements()
        """Shared with the orders: trades whose settlement ended and ledger
        entries, queued for eviction in journal order."""

    def open(
        self,
        sku: str,
        style: str,
        ev: Fill,
        ts: int,
        out: Outcome,
        seller_stats: SellerStats,
        schedule: FeeSchedule,
        ship_deadline_ns: int,
    ) -> tuple[dict[str, Any], TradeState]:
        """Open the trade of one fill, record its match entries; its settlement state.

        The seller's fee level is read at the match (it sets the fee); the
        sale itself counts toward levels only once delivered.
        """
        tid = self.next_trade
        self.next_trade = tid + 1
        if ev.taker_side is _BID:
            buy_id, sell_id = ev.taker_order_id, ev.maker_order_id
            buyer, seller = ev.taker_owner, ev.maker_owner
        else:
            buy_id, sell_id = ev.maker_order_id, ev.taker_order_id
            buyer, seller = ev.maker_owner, ev.taker_owner
        level = seller_stats.level(seller, ts)
        opened = open_trade(
            trade_id=tid,
            sku=sku,
            buyer_id=buyer,
            seller_id=seller,
            price_cents=ev.price_cents,
            quantity=ev.quantity,
            seller_level=level,
            now=ts,
            schedule=schedule,
            ship_deadline_ns=ship_deadline_ns,
        )
        state = opened.state
        fees = state.fees
        trade: dict[str, Any] = {
            "id": tid,
            "sku": sku,
            "style": style,
            "price_cents": ev.price_cents,
            "quantity": ev.quantity,
            "taker_side": "bid" if ev.taker_side is _BID else "ask",
            "buy_order_id": buy_id,
            "sell_order_id": sell_id,
            "buyer_id": buyer,
            "seller_id": seller,
            "time": ts,
            "settlement_status": _AWAITING,
            "ship_by": state.ship_by,
            "seller_level": level,
            "buyer_fee_cents": fees.buyer_fee_cents,
            "transaction_fee_cents": fees.transaction_fee_cents,
            "processing_fee_cents": fees.processing_fee_cents,
            "buyer_total_cents": fees.buyer_total_cents,
            "seller_payout_cents": fees.seller_payout_cents,
            "platform_fee_cents": fees.platform_fee_cents,
            "updated_at": ts,
        }
        self._trades[tid] = trade
        self._index(trade)
        out.trades += 1
        out.traded_cents += fees.gross_cents
        out.fees_cents += fees.platform_fee_cents
        if out.want_ops:
            out.store_ops.append(("trade", dict(trade)))
        self.record(opened.entries, out)
        return trade, state

    def _index(self, trade: dict[str, Any]) -> None:
        tid = trade["id"]
        by_account = self._by_account
        by_account.add(trade["buyer_id"], tid)
        if trade["seller_id"] != trade["buyer_id"]:
            by_account.add(trade["seller_id"], tid)
        self._by_sku.add(trade["sku"], tid)
        self._all.add(None, tid)

    def record(self, entries: Iterable[LedgerEntry], out: Outcome) -> None:
        """Give ledger entries their ids and keep them."""
        by_account = self._ledger_by_account
        for entry in entries:
            lid = self.next_ledger
            self.next_ledger = lid + 1
            row = entry.to_row(lid)
            self._ledger[lid] = row
            by_account.add(entry.account_id, lid)
            self.retired.add(out.seq, LEDGER, lid)
            if out.want_ops:
                out.store_ops.append(("ledger", dict(row)))

    # ------------------------------------------------------------ queries

    def __getitem__(self, trade_id: int) -> dict[str, Any]:
        return self._trades[trade_id]

    def get(self, trade_id: object) -> dict[str, Any] | None:
        """The trade row ``trade_id`` (the live row: do not change it), or None."""
        return self._trades.get(trade_id) if type(trade_id) is int else None

    def all_ids(self) -> Iterable[int]:
        """Every trade id, oldest first."""
        return self._trades.keys()

    def ids_of(self, account_id: str) -> list[int]:
        """The ids of the account's trades (as buyer or seller), oldest first."""
        return list(self._by_account.ids(account_id))

    def ids_of_sku(self, sku: str) -> list[int]:
        """The ids of the SKU's trades, oldest first."""
        return list(self._by_sku.ids(sku))

    def ledger_of(self, account_id: str) -> Iterator[dict[str, Any]]:
        """The account's ledger rows, oldest first (the live rows)."""
        ledger = self._ledger
        return (ledger[i] for i in self._ledger_by_account.ids(account_id))

    def page(
        self,
        account_id: str | None,
        before: int | None,
        limit: int,
        sku: str | None = None,
        settlement_status: str | None = None,
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` held trades below ``before``, newest first: the
        account's (as buyer or seller), or every one when ``account_id`` is None."""
        trades = self._trades
        want = None
        if (sku is not None and account_id is not None) or settlement_status is not None:

            def want(tid: int) -> bool:
                t = trades[tid]
                return (sku is None or t["sku"] == sku) and (
                    settlement_status is None or t["settlement_status"] == settlement_status
                )

        if account_id is not None:
            ids = self._by_account.page(account_id, before, limit, want)
        elif sku is not None:
            ids = self._by_sku.page(sku, before, limit, want)
        else:
            ids = self._all.page(None, before, limit, want)
        return [trades[i] for i in ids]

    def ledger_page(self, account_id: str, before: int | None, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` of the account's held ledger rows below ``before``, newest first."""
        ledger = self._ledger
        return [ledger[i] for i in self._ledger_by_account.page(account_id, before, limit)]

    def holds(self, trade_id: int) -> bool:
        """Whether the trade is still in memory."""
        return trade_id in self._trades

    def holds_entry(self, entry_id: int) -> bool:
        """Whether the ledger entry is still in memory."""
        return entry_id in self._ledger

    def retire(self, trade_id: int, seq: int) -> None:
        """The trade's settlement ended at ``seq``: queue it for eviction."""
        self.retired.add(seq, TRADE, trade_id)

    def evict_trade(self, trade_id: int) -> None:
        """Forget a trade whose settlement ended and that the store holds."""
        trade = self._trades.pop(trade_id, None)
        if trade is None:
            return
        self._by_account.remove(trade["buyer_id"], trade_id)
        if trade["seller_id"] != trade["buyer_id"]:
            self._by_account.remove(trade["seller_id"], trade_id)
        self._by_sku.remove(trade["sku"], trade_id)
        self._all.remove(None, trade_id)

    def evict_entry(self, entry_id: int) -> None:
        """Forget a ledger entry the store holds."""
        entry = self._ledger.pop(entry_id, None)
        if entry is not None:
            self._ledger_by_account.remove(entry["account_id"], entry_id)

    def count(self) -> int:
        """Trades matched so far (trade ids run from 1 to this)."""
        return self.next_trade - 1

    def store_rows(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every trade and ledger row, as fresh copies."""
        for t in self._trades.values():
            yield ("trade", dict(t))
        for e in self._ledger.values():
            yield ("ledger", dict(e))

    # ------------------------------------------------------------ snapshot

    def to_snapshot(self, into: dict[str, Any]) -> None:
        """Write the snapshot's ``trades`` and ``ledger`` (arrays in key order)."""
        trades, ledger = self._trades, self._ledger
        into["trades"] = [[trades[i][k] for k in TRADE_KEYS] for i in sorted(trades)]
        into["ledger"] = [[ledger[i][k] for k in LEDGER_KEYS] for i in sorted(ledger)]

    @classmethod
    def from_snapshot(cls, data: dict[str, Any], next_trade: int, next_ledger: int) -> Trades:
        """Inverse of :meth:`to_snapshot`; rebuilds the indexes."""
        book = cls()
        book.next_trade = next_trade
        book.next_ledger = next_ledger
        for values in data["trades"]:
            t = dict(zip(TRADE_KEYS, values, strict=True))
            book._trades[t["id"]] = t
            book._index(t)
        for values in data["ledger"]:
            e = dict(zip(LEDGER_KEYS, values, strict=True))
            book._ledger[e["id"]] = e
            book._ledger_by_account.add(e["account_id"], e["id"])
        return book
