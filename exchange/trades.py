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


def _append(index: dict[str, list[int]], key: str, value: int) -> None:
    lst = index.get(key)
    if lst is None:
        index[key] = [value]
    else:
        lst.append(value)


class Trades:
    """Every trade and ledger entry, with their indexes and id counters."""

    def __init__(self) -> None:
        self.next_trade = 1
        self.next_ledger = 1
        self._trades: dict[int, dict[str, Any]] = {}
        self._ledger: dict[int, dict[str, Any]] = {}
        # Derived (rebuilt on restore, never snapshotted).
        self._by_account: dict[str, list[int]] = {}
        self._by_sku: dict[str, list[int]] = {}
        self._ledger_by_account: dict[str, list[int]] = {}

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
        # _index, inlined: this is the matching path.
        by_account = self._by_account
        for account_id in (buyer, seller):
            lst = by_account.get(account_id)
            if lst is None:
                by_account[account_id] = [tid]
            else:
                lst.append(tid)
        lst = self._by_sku.get(sku)
        if lst is None:
            self._by_sku[sku] = [tid]
        else:
            lst.append(tid)
        out.trades += 1
        out.traded_cents += fees.gross_cents
        out.fees_cents += fees.platform_fee_cents
        if out.want_ops:
            out.store_ops.append(("trade", dict(trade)))
        self.record(opened.entries, out)
        return trade, state

    def _index(self, trade: dict[str, Any]) -> None:
        tid = trade["id"]
        _append(self._by_account, trade["buyer_id"], tid)
        _append(self._by_account, trade["seller_id"], tid)
        _append(self._by_sku, trade["sku"], tid)

    def record(self, entries: Iterable[LedgerEntry], out: Outcome) -> None:
        """Give ledger entries their ids and keep them."""
        by_account = self._ledger_by_account
        for entry in entries:
            lid = self.next_ledger
            self.next_ledger = lid + 1
            row = entry.to_row(lid)
            self._ledger[lid] = row
            lst = by_account.get(entry.account_id)
            if lst is None:
                by_account[entry.account_id] = [lid]
            else:
                lst.append(lid)
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
        return self._by_account.get(account_id, [])

    def ids_of_sku(self, sku: str) -> list[int]:
        """The ids of the SKU's trades, oldest first."""
        return self._by_sku.get(sku, [])

    def ledger_of(self, account_id: str) -> Iterator[dict[str, Any]]:
        """The account's ledger rows, oldest first (the live rows)."""
        ledger = self._ledger
        return (ledger[i] for i in self._ledger_by_account.get(account_id, ()))

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
            _append(book._ledger_by_account, e["account_id"], e["id"])
        return book
