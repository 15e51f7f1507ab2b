"""Wire rendering: the JSON-able shapes the venue answers with, in one place.

Times go out as RFC 3339 UTC with milliseconds and ``Z``
(:func:`exchange.clock.rfc3339`); money as int cents. The shapes:

Each renders one of the engine's records (:class:`~exchange.orders.OrderRecord`,
:class:`~exchange.trades.TradeRecord`, :class:`~exchange.trades.LedgerRecord`);
a store row (the trade store's, or a store op's) goes through the
``stored_*`` functions, which make it a record first (``from_row``).

- order ``{id, client_order_id, sku, side, type, time_in_force, post_only,
  price_cents, quantity, filled_quantity, remaining_quantity, status,
  cancel_reason, created_at, updated_at, expires_at}``;
  ``remaining_quantity`` is what still works on the book (``quantity -
  filled_quantity`` while open, else 0).
- public trade ``{id, sku, price_cents, quantity, taker_side, buy_order_id,
  sell_order_id, time, settlement_status}``; a party's view of it (a fill)
  adds ``ship_by``, ``side``, ``role`` (maker|taker) and its own fee fields.
- holding: :meth:`exchange.portfolio.Holding.to_row` without the account id.
- ledger entry ``{id, trade_id, kind, amount_cents, time, description}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .clock import rfc3339
from .orders import OrderRecord
from .portfolio import Holding
from .trades import LedgerRecord, TradeRecord

__all__ = [
    "account_wire",
    "holding_wire",
    "ledger_wire",
    "order_wire",
    "public_trade",
    "stored_ledger_wire",
    "stored_order_wire",
    "stored_trade_public",
    "stored_trade_view",
    "trade_public",
    "trade_view",
]


def order_wire(order: OrderRecord) -> dict[str, Any]:
    """The wire shape of an order (times as RFC 3339)."""
    status = order.status
    created = order.created_at
    created_s = rfc3339(created)
    updated = order.updated_at
    expires = order.expires_at
    quantity = order.quantity
    filled = order.filled_quantity
    return {
        "id": order.id,
        "client_order_id": order.client_order_id,
        "sku": order.sku,
        "side": order.side,
        "type": order.type,
        "time_in_force": order.time_in_force,
        "post_only": order.post_only,
        "price_cents": order.price_cents,
        "quantity": quantity,
        "filled_quantity": filled,
        "remaining_quantity": quantity - filled if status == "open" else 0,
        "status": status,
        "cancel_reason": order.cancel_reason,
        "created_at": created_s,
        # Most answers are about an order changed by the command that made it.
        "updated_at": created_s if updated == created else rfc3339(updated),
        "expires_at": None if expires is None else rfc3339(expires),
    }


def public_trade(
    trade_id: int,
    sku: str,
    price_cents: int,
    quantity: int,
    taker_side: str,
    buy_order_id: int | None,
    sell_order_id: int | None,
    time: int,
    settlement_status: str,
) -> dict[str, Any]:
    """The public wire shape of a trade from its public fields (``time`` in ns)."""
    return {
        "id": trade_id,
        "sku": sku,
        "price_cents": price_cents,
        "quantity": quantity,
        "taker_side": taker_side,
        "buy_order_id": buy_order_id,
        "sell_order_id": sell_order_id,
        "time": rfc3339(time),
        "settlement_status": settlement_status,
    }


def trade_public(trade: TradeRecord) -> dict[str, Any]:
    """The public wire shape of a trade (no account ids, no fees)."""
    return public_trade(
        trade.id,
        trade.sku,
        trade.price_cents,
        trade.quantity,
        trade.taker_side,
        trade.buy_order_id,
        trade.sell_order_id,
        trade.time,
        trade.settlement_status,
    )


def trade_view(trade: TradeRecord, account_id: str | None) -> dict[str, Any]:
    """A trade as ``account_id`` sees it: its side, role and fees when a party.

    Anyone else (an authenticator) sees the public fields plus ``ship_by``.
    """
    out = trade_public(trade)
    out["ship_by"] = rfc3339(trade.ship_by)
    if account_id == trade.buyer_id:
        out["side"] = "bid"
        out["role"] = "taker" if trade.taker_side == "bid" else "maker"
        out["fee_cents"] = trade.buyer_fee_cents
        out["buyer_fee_cents"] = trade.buyer_fee_cents
        out["buyer_total_cents"] = trade.buyer_total_cents
    elif account_id == trade.seller_id:
        out["side"] = "ask"
        out["role"] = "taker" if trade.taker_side == "ask" else "maker"
        out["fee_cents"] = trade.transaction_fee_cents + trade.processing_fee_cents
        out["seller_level"] = trade.seller_level
        out["transaction_fee_cents"] = trade.transaction_fee_cents
        out["processing_fee_cents"] = trade.processing_fee_cents
        out["seller_payout_cents"] = trade.seller_payout_cents
    return out


def holding_wire(holding: Holding) -> dict[str, Any]:
    """The wire shape of a holding (times as RFC 3339)."""
    row = holding.to_row()
    del row["account_id"]
    row["acquired_at"] = rfc3339(holding.acquired_at)
    return row


def ledger_wire(entry: LedgerRecord) -> dict[str, Any]:
    """The wire shape of a ledger entry: its fields but the account id, time as RFC 3339."""
    return {
        "id": entry.id,
        "trade_id": entry.trade_id,
        "kind": entry.kind,
        "amount_cents": entry.amount_cents,
        "time": rfc3339(entry.time),
        "description": entry.description,
    }


def stored_order_wire(row: Mapping[str, Any]) -> dict[str, Any]:
    """The wire shape of an order's store row."""
    return order_wire(OrderRecord.from_row(row))


def stored_trade_public(row: Mapping[str, Any]) -> dict[str, Any]:
    """The public wire shape of a trade's store row."""
    return trade_public(TradeRecord.from_row(row))


def stored_trade_view(row: Mapping[str, Any], account_id: str | None) -> dict[str, Any]:
    """:func:`trade_view` of a trade's store row."""
    return trade_view(TradeRecord.from_row(row), account_id)


def stored_ledger_wire(row: Mapping[str, Any]) -> dict[str, Any]:
    """The wire shape of a ledger entry's store row."""
    return ledger_wire(LedgerRecord.from_row(row))


def account_wire(account_id: str, name: str, role: str, created_at: int) -> dict[str, Any]:
    """The answer to creating an account."""
    return {
        "account_id": account_id,
        "name": name,
        "role": role,
        "created_at": rfc3339(created_at),
    }
