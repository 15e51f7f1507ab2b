"""Trades and the ledger: what matched, what it cost, who owes whom.

:class:`Trades` owns every trade (a :class:`TradeRecord`), its indexes by
account and by SKU, the ledger (:class:`LedgerRecord` entries) and their id
counters, and its part of the engine's snapshot (each record an array of its
values, in :data:`TRADE_KEYS` and :data:`LEDGER_KEYS` order). A trade is
opened from a book :class:`~orderbook.events.Fill` by :meth:`Trades.open`,
which prices it (:func:`exchange.settlement.open_trade`: fees at the seller's
level at the match) and records the entries of the match; its settlement
then goes on in :mod:`exchange.clearing`, which changes the trade's
``settlement_status`` and ``updated_at`` in place.

Records are slotted (times int ns, money int cents); outside the engine they
go out as store rows (``to_row``, the store's columns) or wire shapes
(:mod:`exchange.wire`). A ledger amount is signed from the account's side
(see :mod:`exchange.settlement`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any

from orderbook.events import Fill
from orderbook.rules import Side

from .eviction import LEDGER, TRADE, IdIndex, Retirements
from .fees import FeeSchedule, SellerStats
from .outcome import Outcome
from .settlement import LedgerEntry, SettlementStatus, TradeState, open_trade

__all__ = ["LEDGER_KEYS", "TRADE_KEYS", "LedgerRecord", "TradeRecord", "Trades"]

_BID = Side.BID
_AWAITING = SettlementStatus.AWAITING_SHIPMENT.value


@dataclass(slots=True)
class TradeRecord:
    """One match of a physical item, its fees (fixed at the match) and its
    settlement status (the only fields that change, with ``updated_at``)."""

    id: int
    sku: str
    style: str
    price_cents: int
    quantity: int
    taker_side: str
    buy_order_id: int
    sell_order_id: int
    buyer_id: str
    seller_id: str
    time: int
    settlement_status: str
    ship_by: int
    seller_level: int
    buyer_fee_cents: int
    transaction_fee_cents: int
    processing_fee_cents: int
    buyer_total_cents: int
    seller_payout_cents: int
    platform_fee_cents: int
    updated_at: int

    def values(self) -> list[Any]:
        """The fields' values in :data:`TRADE_KEYS` order (the snapshot's array)."""
        return [
            self.id,
            self.sku,
            self.style,
            self.price_cents,
            self.quantity,
            self.taker_side,
            self.buy_order_id,
            self.sell_order_id,
            self.buyer_id,
            self.seller_id,
            self.time,
            self.settlement_status,
            self.ship_by,
            self.seller_level,
            self.buyer_fee_cents,
            self.transaction_fee_cents,
            self.processing_fee_cents,
            self.buyer_total_cents,
            self.seller_payout_cents,
            self.platform_fee_cents,
            self.updated_at,
        ]

    def to_row(self) -> dict[str, Any]:
        """A fresh dict of the fields (the store's ``trades`` columns)."""
        return {
            "id": self.id,
            "sku": self.sku,
            "style": self.style,
            "price_cents": self.price_cents,
            "quantity": self.quantity,
            "taker_side": self.taker_side,
            "buy_order_id": self.buy_order_id,
            "sell_order_id": self.sell_order_id,
            "buyer_id": self.buyer_id,
            "seller_id": self.seller_id,
            "time": self.time,
            "settlement_status": self.settlement_status,
            "ship_by": self.ship_by,
            "seller_level": self.seller_level,
            "buyer_fee_cents": self.buyer_fee_cents,
            "transaction_fee_cents": self.transaction_fee_cents,
            "processing_fee_cents": self.processing_fee_cents,
            "buyer_total_cents": self.buyer_total_cents,
            "seller_payout_cents": self.seller_payout_cents,
            "platform_fee_cents": self.platform_fee_cents,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> TradeRecord:
        """The record of a store row (its extra columns ignored)."""
        return cls(*[row[k] for k in TRADE_KEYS])


@dataclass(slots=True)
class LedgerRecord:
    """One ledger entry of an account (never changes once recorded)."""

    id: int
    account_id: str
    trade_id: int
    kind: str
    amount_cents: int
    time: int
    description: str

    def values(self) -> list[Any]:
        """The fields' values in :data:`LEDGER_KEYS` order (the snapshot's array)."""
        return [
            self.id,
            self.account_id,
            self.trade_id,
            self.kind,
            self.amount_cents,
            self.time,
            self.description,
        ]

    def to_row(self) -> dict[str, Any]:
        """A fresh dict of the fields (the store's ``ledger`` columns)."""
        return {
            "id": self.id,
            "account_id": self.account_id,
            "trade_id": self.trade_id,
            "kind": self.kind,
            "amount_cents": self.amount_cents,
            "time": self.time,
            "description": self.description,
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> LedgerRecord:
        """The record of a store row (its extra columns ignored)."""
        return cls(*[row[k] for k in LEDGER_KEYS])

    @classmethod
    def of(cls, entry_id: int, entry: LedgerEntry) -> LedgerRecord:
        """The record of a settlement step's entry, with its id."""
        return cls(
            entry_id,
            entry.account_id,
            entry.trade_id,
            str(entry.kind),
            entry.amount_cents,
            entry.time,
            entry.description,
        )


TRADE_KEYS: tuple[str, ...] = tuple(f.name for f in fields(TradeRecord))
"""The fields of a trade, in order (the snapshot's arrays)."""

LEDGER_KEYS: tuple[str, ...] = tuple(f.name for f in fields(LedgerRecord))
"""The fields of a ledger entry, in order (the snapshot's arrays)."""


class Trades:
    """Every trade and ledger entry, with their indexes and id counters."""

    def __init__(self) -> None:
        self.next_trade = 1
        self.next_ledger = 1
        self._trades: dict[int, TradeRecord] = {}
        self._ledger: dict[int, LedgerRecord] = {}
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
    ) -> tuple[TradeRecord, TradeState]:
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
        trade = TradeRecord(
            tid,
            sku,
            style,
            ev.price_cents,
            ev.quantity,
            "bid" if ev.taker_side is _BID else "ask",
            buy_id,
            sell_id,
            buyer,
            seller,
            ts,
            _AWAITING,
            state.ship_by,
            level,
            fees.buyer_fee_cents,
            fees.transaction_fee_cents,
            fees.processing_fee_cents,
            fees.buyer_total_cents,
            fees.seller_payout_cents,
            fees.platform_fee_cents,
            ts,
        )
        self._trades[tid] = trade
        self._index(trade)
        out.trades += 1
        out.traded_cents += fees.gross_cents
        out.fees_cents += fees.platform_fee_cents
        if out.want_ops:
            out.store_ops.append(("trade", trade.to_row()))
        self.record(opened.entries, out)
        return trade, state

    def _index(self, trade: TradeRecord) -> None:
        tid = trade.id
        by_account = self._by_account
        by_account.add(trade.buyer_id, tid)
        if trade.seller_id != trade.buyer_id:
            by_account.add(trade.seller_id, tid)
        self._by_sku.add(trade.sku, tid)
        self._all.add(None, tid)

    def record(self, entries: Iterable[LedgerEntry], out: Outcome) -> None:
        """Give ledger entries their ids and keep them."""
        by_account = self._ledger_by_account
        for entry in entries:
            lid = self.next_ledger
            self.next_ledger = lid + 1
            record = LedgerRecord.of(lid, entry)
            self._ledger[lid] = record
            by_account.add(entry.account_id, lid)
            self.retired.add(out.seq, LEDGER, lid)
            if out.want_ops:
                out.store_ops.append(("ledger", record.to_row()))

    # ------------------------------------------------------------ queries

    def __getitem__(self, trade_id: int) -> TradeRecord:
        return self._trades[trade_id]

    def get(self, trade_id: object) -> TradeRecord | None:
        """The trade ``trade_id`` (the live record: do not change it), or None."""
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

    def ledger_of(self, account_id: str) -> Iterator[LedgerRecord]:
        """The account's ledger entries, oldest first."""
        ledger = self._ledger
        return (ledger[i] for i in self._ledger_by_account.ids(account_id))

    def page(
        self,
        account_id: str | None,
        before: int | None,
        limit: int,
        sku: str | None = None,
        settlement_status: str | None = None,
    ) -> list[TradeRecord]:
        """Up to ``limit`` held trades below ``before``, newest first: the
        account's (as buyer or seller), or every one when ``account_id`` is None."""
        trades = self._trades
        want = None
        if (sku is not None and account_id is not None) or settlement_status is not None:

            def want(tid: int) -> bool:
                t = trades[tid]
                return (sku is None or t.sku == sku) and (
                    settlement_status is None or t.settlement_status == settlement_status
                )

        if account_id is not None:
            ids = self._by_account.page(account_id, before, limit, want)
        elif sku is not None:
            ids = self._by_sku.page(sku, before, limit, want)
        else:
            ids = self._all.page(None, before, limit, want)
        return [trades[i] for i in ids]

    def ledger_page(self, account_id: str, before: int | None, limit: int) -> list[LedgerRecord]:
        """Up to ``limit`` of the account's held ledger entries below ``before``, newest first."""
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
        self._by_account.remove(trade.buyer_id, trade_id)
        if trade.seller_id != trade.buyer_id:
            self._by_account.remove(trade.seller_id, trade_id)
        self._by_sku.remove(trade.sku, trade_id)
        self._all.remove(None, trade_id)

    def evict_entry(self, entry_id: int) -> None:
        """Forget a ledger entry the store holds."""
        entry = self._ledger.pop(entry_id, None)
        if entry is not None:
            self._ledger_by_account.remove(entry.account_id, entry_id)

    def count(self) -> int:
        """Trades matched so far (trade ids run from 1 to this)."""
        return self.next_trade - 1

    def store_rows(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every trade and ledger entry, as fresh store rows."""
        for t in self._trades.values():
            yield ("trade", t.to_row())
        for e in self._ledger.values():
            yield ("ledger", e.to_row())

    # ------------------------------------------------------------ snapshot

    def to_snapshot(self, into: dict[str, Any]) -> None:
        """Write the snapshot's ``trades`` and ``ledger`` (arrays in key order)."""
        trades, ledger = self._trades, self._ledger
        into["trades"] = [trades[i].values() for i in sorted(trades)]
        into["ledger"] = [ledger[i].values() for i in sorted(ledger)]

    @classmethod
    def from_snapshot(cls, data: dict[str, Any], next_trade: int, next_ledger: int) -> Trades:
        """Inverse of :meth:`to_snapshot`; rebuilds the indexes."""
        book = cls()
        book.next_trade = next_trade
        book.next_ledger = next_ledger
        for values in data["trades"]:
            t = TradeRecord(*values)
            book._trades[t.id] = t
            book._index(t)
        for values in data["ledger"]:
            e = LedgerRecord(*values)
            book._ledger[e.id] = e
            book._ledger_by_account.add(e.account_id, e.id)
        return book
