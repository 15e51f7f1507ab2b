"""Settlement of a trade of a physical item: ship, authenticate, deliver.

Statuses and the moves between them are a table (:data:`TRANSITIONS`)::

    awaiting_shipment --ship-----------> shipped --auth_passed--> delivered
    awaiting_shipment --ship_overdue---> canceled
    shipped           --auth_failed----> canceled
    shipped           --auth_overdue---> canceled

``delivered`` and ``canceled`` are final. Any other move raises
``ExchangeError("invalid_settlement_transition")`` and changes nothing.
The seller must ship by ``ship_by`` = match time + the ship deadline (48 h by
default), inclusive: shipping at ``now <= ship_by`` is on time; from
``now > ship_by`` the trade is overdue, shipping is refused with
``ship_deadline_passed`` (409), and :func:`overdue` cancels it. Shipping sets
``authenticate_by`` = ship time + the authenticate deadline (72 h by
default); a trade still not authenticated when ``now > authenticate_by`` is
canceled by :func:`authentication_overdue`.

The functions are pure: they take a :class:`TradeState` and ``now`` and
return a :class:`Transition` (the new state and the ledger entries to record)
without touching anything. The exchange moves no money itself; the ledger
records who owes what. Amounts are signed from the account's side:
negative = the account pays, positive = it receives. The platform's own side
is recorded under the account id :data:`PLATFORM_ACCOUNT`.

Which entries, when (``T`` = buyer total, ``P`` = seller payout, ``F`` =
platform fee, ``N`` = penalty; ``T = P + F``):

==================  ====================================================
at match            buyer ``charge -T``; platform ``fee +F``
on ``delivered``    seller ``payout +P``
on ``canceled``     buyer ``refund +T``; platform ``fee -F`` (reversed);
                    seller ``penalty -N``; platform ``penalty +N``
on ``canceled``     buyer ``refund +T``; platform ``fee -F`` (reversed);
(auth overdue)      no penalty: the platform's authenticator missed its
                    deadline, not the seller, who shipped in time
==================  ====================================================

So the entries of a trade sum to ``-P`` while it is open (the payout held for
the seller) and to exactly 0 once it is delivered or canceled. The penalty is
the platform's (as on StockX); the buyer gets the full refund. A canceled
trade stops counting as a sale: the engine also calls
:meth:`exchange.fees.SellerStats.remove_sale`.

:class:`DeadlineQueue` finds overdue trades cheaply: a heap of
``(ship_by, trade_id)`` cleaned lazily; :meth:`DeadlineQueue.due` is O(1)
when nothing is due.

The values (:class:`LedgerEntry`, :class:`TradeState`, :class:`Transition`)
are immutable ``NamedTuple`` classes rather than frozen dataclasses:
several are built per trade on the matching path, and a ``NamedTuple``
builds about five times faster (this module runs interpreted; the compiled
``orderbook/events.py`` uses native classes instead).
"""

from __future__ import annotations

import enum
import heapq
from typing import Any, NamedTuple

from .errors import ExchangeError
from .fees import (
    DEFAULT_SCHEDULE,
    FeeSchedule,
    TradeFees,
    compute_trade_fees,
    format_cents,
    penalty_cents,
)

__all__ = [
    "DEFAULT_AUTHENTICATE_DEADLINE_NS",
    "DEFAULT_SHIP_DEADLINE_NS",
    "FINAL_STATUSES",
    "HOUR_NS",
    "PLATFORM_ACCOUNT",
    "TRANSITIONS",
    "DeadlineQueue",
    "LedgerEntry",
    "LedgerKind",
    "SettlementEvent",
    "SettlementStatus",
    "TradeState",
    "Transition",
    "authenticate",
    "authentication_overdue",
    "is_overdue",
    "open_trade",
    "overdue",
    "ship",
]

HOUR_NS = 3_600 * 1_000_000_000
DEFAULT_SHIP_DEADLINE_NS = 48 * HOUR_NS
DEFAULT_AUTHENTICATE_DEADLINE_NS = 72 * HOUR_NS
PLATFORM_ACCOUNT = "platform"


class SettlementStatus(enum.StrEnum):
    """Where a trade is in settlement (``settlement_status`` on the wire)."""

    AWAITING_SHIPMENT = "awaiting_shipment"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELED = "canceled"


class SettlementEvent(enum.StrEnum):
    """What can happen to a trade in settlement."""

    SHIP = "ship"
    SHIP_OVERDUE = "ship_overdue"
    AUTH_PASSED = "auth_passed"
    AUTH_FAILED = "auth_failed"
    AUTH_OVERDUE = "auth_overdue"


class LedgerKind(enum.StrEnum):
    """The kind of a ledger entry (``kind`` on the wire)."""

    CHARGE = "charge"
    PAYOUT = "payout"
    FEE = "fee"
    REFUND = "refund"
    PENALTY = "penalty"


_S = SettlementStatus
_E = SettlementEvent

TRANSITIONS: dict[tuple[SettlementStatus, SettlementEvent], SettlementStatus] = {
    (_S.AWAITING_SHIPMENT, _E.SHIP): _S.SHIPPED,
    (_S.AWAITING_SHIPMENT, _E.SHIP_OVERDUE): _S.CANCELED,
    (_S.SHIPPED, _E.AUTH_PASSED): _S.DELIVERED,
    (_S.SHIPPED, _E.AUTH_FAILED): _S.CANCELED,
    (_S.SHIPPED, _E.AUTH_OVERDUE): _S.CANCELED,
}

FINAL_STATUSES = frozenset({_S.DELIVERED, _S.CANCELED})

# Words for the refusal sentence, per event.
_DOING = {
    _E.SHIP: "be marked shipped",
    _E.SHIP_OVERDUE: "be canceled for a missed ship deadline",
    _E.AUTH_PASSED: "pass authentication",
    _E.AUTH_FAILED: "fail authentication",
    _E.AUTH_OVERDUE: "be canceled for a missed authentication deadline",
}


class LedgerEntry(NamedTuple):
    """One line of an account's ledger, tied to a trade.

    ``amount_cents`` is signed: negative = the account pays, positive = it
    receives. ``time`` is ns since the epoch. Ids are the engine's (a
    counter), given when the entry is stored (:meth:`to_row`).
    """

    account_id: str
    trade_id: int
    kind: LedgerKind
    amount_cents: int
    time: int
    description: str

    def to_row(self, entry_id: int) -> dict[str, Any]:
        """The store's ``ledger`` row with id ``entry_id`` (:data:`exchange.trades.LEDGER_KEYS`)."""
        return {
            "id": entry_id,
            "account_id": self.account_id,
            "trade_id": self.trade_id,
            "kind": str(self.kind),
            "amount_cents": self.amount_cents,
            "time": self.time,
            "description": self.description,
        }


class TradeState(NamedTuple):
    """What settlement needs to know about one trade.

    Attributes:
        trade_id, sku, buyer_id, seller_id, price_cents, quantity: the match.
        matched_at: the match time (ns).
        ship_by: the last moment (ns, inclusive) the seller may ship.
        status: the settlement status.
        fees: the trade's fees, fixed at the match.
        penalty_cents: the seller's penalty if the trade is canceled, fixed
            at the match (a later schedule change does not alter it).
        updated_at: the time of the last transition (ns).
        authenticate_by: once shipped, the last moment (ns, inclusive) for
            its authentication; 0 before.
    """

    trade_id: int
    sku: str
    buyer_id: str
    seller_id: str
    price_cents: int
    quantity: int
    matched_at: int
    ship_by: int
    status: SettlementStatus
    fees: TradeFees
    penalty_cents: int
    updated_at: int
    authenticate_by: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able copy (for snapshots); ``authenticate_by`` only once set."""
        data = {
            "trade_id": self.trade_id,
            "sku": self.sku,
            "buyer_id": self.buyer_id,
            "seller_id": self.seller_id,
            "price_cents": self.price_cents,
            "quantity": self.quantity,
            "matched_at": self.matched_at,
            "ship_by": self.ship_by,
            "status": str(self.status),
            "fees": self.fees.to_dict(),
            "penalty_cents": self.penalty_cents,
            "updated_at": self.updated_at,
        }
        if self.authenticate_by:
            data["authenticate_by"] = self.authenticate_by
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TradeState:
        """The inverse of :meth:`to_dict`."""
        return cls(
            trade_id=data["trade_id"],
            sku=data["sku"],
            buyer_id=data["buyer_id"],
            seller_id=data["seller_id"],
            price_cents=data["price_cents"],
            quantity=data["quantity"],
            matched_at=data["matched_at"],
            ship_by=data["ship_by"],
            status=SettlementStatus(data["status"]),
            fees=TradeFees.from_dict(data["fees"]),
            penalty_cents=data["penalty_cents"],
            updated_at=data["updated_at"],
            authenticate_by=data.get("authenticate_by", 0),
        )


class Transition(NamedTuple):
    """The result of a settlement step: the new state and the entries to record."""

    state: TradeState
    entries: tuple[LedgerEntry, ...]

    @property
    def status(self) -> SettlementStatus:
        """The trade's status after the step."""
        return self.state.status


def _move(state: TradeState, event: SettlementEvent, now: int) -> TradeState:
    new = TRANSITIONS.get((state.status, event))
    if new is None:
        raise ExchangeError(
            "invalid_settlement_transition",
            f"Trade {state.trade_id} is {state.status}; it cannot {_DOING[event]}.",
        )
    return state._replace(status=new, updated_at=now)


def _trade_words(state: TradeState) -> str:
    return f"{state.quantity} x {state.sku} at {format_cents(state.price_cents)}"


def open_trade(
    *,
    trade_id: int,
    sku: str,
    buyer_id: str,
    seller_id: str,
    price_cents: int,
    quantity: int,
    seller_level: int,
    now: int,
    schedule: FeeSchedule = DEFAULT_SCHEDULE,
    ship_deadline_ns: int = DEFAULT_SHIP_DEADLINE_NS,
) -> Transition:
    """Open settlement for a new match: fees, deadline and the match-time entries.

    Returns a state ``awaiting_shipment`` with ``ship_by = now +
    ship_deadline_ns`` and two entries: the buyer's ``charge`` of minus the
    buyer total, and the platform's ``fee`` of plus the platform fee.
    """
    fees = compute_trade_fees(schedule, price_cents, quantity, seller_level)
    state = TradeState(
        trade_id,
        sku,
        buyer_id,
        seller_id,
        price_cents,
        quantity,
        now,  # matched_at
        now + ship_deadline_ns,  # ship_by
        SettlementStatus.AWAITING_SHIPMENT,
        fees,
        penalty_cents(schedule, fees.gross_cents),
        now,  # updated_at
    )
    words = _trade_words(state)
    entries = (
        LedgerEntry(
            buyer_id,
            trade_id,
            LedgerKind.CHARGE,
            -fees.buyer_total_cents,
            now,
            f"Purchase of {words}, plus buyer fee {format_cents(fees.buyer_fee_cents)}",
        ),
        LedgerEntry(
            PLATFORM_ACCOUNT,
            trade_id,
            LedgerKind.FEE,
            fees.platform_fee_cents,
            now,
            # The amounts are on the trade; a short text keeps the match path fast.
            f"Fees on trade {trade_id} (seller level {fees.seller_level})",
        ),
    )
    return Transition(state, entries)


def is_overdue(state: TradeState, now: int) -> bool:
    """Whether the trade still awaits shipment after its deadline."""
    return state.status is SettlementStatus.AWAITING_SHIPMENT and now > state.ship_by


def ship(
    state: TradeState,
    now: int,
    authenticate_deadline_ns: int = DEFAULT_AUTHENTICATE_DEADLINE_NS,
) -> Transition:
    """The seller marks the trade shipped (no ledger entries).

    The new state's ``authenticate_by`` is ``now + authenticate_deadline_ns``.

    Raises:
        ExchangeError: ``invalid_settlement_transition`` unless the trade
            awaits shipment; ``ship_deadline_passed`` (409) when ``now`` is
            after ``ship_by`` (the trade is then canceled by :func:`overdue`).
    """
    new = _move(state, SettlementEvent.SHIP, now)
    if now > state.ship_by:
        raise ExchangeError(
            "ship_deadline_passed",
            f"Trade {state.trade_id} had to ship by its deadline, which has passed.",
            status=409,
        )
    return Transition(new._replace(authenticate_by=now + authenticate_deadline_ns), ())


def authenticate(state: TradeState, passed: bool, now: int) -> Transition:
    """An authenticator passes or fails a shipped trade.

    Passed: ``delivered``, and the seller's ``payout`` of plus the seller
    payout. Failed: ``canceled`` with the cancellation entries (see the
    module docstring).

    Raises:
        ExchangeError: ``invalid_settlement_transition`` unless the trade is
            ``shipped``.
    """
    if passed:
        new = _move(state, SettlementEvent.AUTH_PASSED, now)
        fees = state.fees
        payout = LedgerEntry(
            state.seller_id,
            state.trade_id,
            LedgerKind.PAYOUT,
            fees.seller_payout_cents,
            now,
            f"Sale of {_trade_words(state)}, less transaction fee "
            f"{format_cents(fees.transaction_fee_cents)} (level {fees.seller_level}) "
            f"and processing fee {format_cents(fees.processing_fee_cents)}",
        )
        return Transition(new, (payout,))
    new = _move(state, SettlementEvent.AUTH_FAILED, now)
    return Transition(new, _cancel_entries(state, now, "failed authentication"))


def overdue(state: TradeState, now: int) -> Transition:
    """Cancel a trade whose seller missed the ship deadline.

    Raises:
        ExchangeError: ``invalid_settlement_transition`` unless the trade
            awaits shipment and ``now > ship_by``.
    """
    new = _move(state, SettlementEvent.SHIP_OVERDUE, now)
    if now <= state.ship_by:
        raise ExchangeError(
            "invalid_settlement_transition",
            f"Trade {state.trade_id} is not overdue before its ship deadline.",
        )
    return Transition(new, _cancel_entries(state, now, "not shipped in time"))


def authentication_overdue(state: TradeState, now: int) -> Transition:
    """Cancel a shipped trade nobody authenticated by its deadline.

    The buyer is refunded and the platform's fee reversed; the seller, who
    shipped in time, owes no penalty (the platform missed the deadline).

    Raises:
        ExchangeError: ``invalid_settlement_transition`` unless the trade is
            shipped and ``now > authenticate_by``.
    """
    new = _move(state, SettlementEvent.AUTH_OVERDUE, now)
    if now <= state.authenticate_by:
        raise ExchangeError(
            "invalid_settlement_transition",
            f"Trade {state.trade_id} is not overdue before its authentication deadline.",
        )
    return Transition(new, _cancel_entries(state, now, "not authenticated in time")[:2])


def _cancel_entries(state: TradeState, now: int, reason: str) -> tuple[LedgerEntry, ...]:
    """Refund, fee reversal, then the seller's penalty and the platform's (in this order)."""
    fees, trade_id = state.fees, state.trade_id
    return (
        LedgerEntry(
            state.buyer_id,
            trade_id,
            LedgerKind.REFUND,
            fees.buyer_total_cents,
            now,
            f"Refund of trade {trade_id} ({reason})",
        ),
        LedgerEntry(
            PLATFORM_ACCOUNT,
            trade_id,
            LedgerKind.FEE,
            -fees.platform_fee_cents,
            now,
            f"Fees on trade {trade_id} reversed ({reason})",
        ),
        LedgerEntry(
            state.seller_id,
            trade_id,
            LedgerKind.PENALTY,
            -state.penalty_cents,
            now,
            f"Penalty on trade {trade_id} ({reason})",
        ),
        LedgerEntry(
            PLATFORM_ACCOUNT,
            trade_id,
            LedgerKind.PENALTY,
            state.penalty_cents,
            now,
            f"Penalty on trade {trade_id} ({reason})",
        ),
    )


class DeadlineQueue:
    """Ship deadlines of open trades: a heap of ``(ship_by, trade_id)``, lazily cleaned.

    :meth:`discard` only forgets the trade in a dict; its heap entry is
    dropped when it reaches the top. :meth:`due` pops every trade whose
    deadline is before ``now`` (``ship_by < now``, matching :func:`overdue`),
    in (ship_by, trade_id) order, and is O(1) when none is due.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[int, int]] = []
        self._live: dict[int, int] = {}

    def push(self, trade_id: int, ship_by: int) -> None:
        """Watch ``trade_id``'s deadline (replacing an earlier one for it)."""
        self._live[trade_id] = ship_by
        heapq.heappush(self._heap, (ship_by, trade_id))

    def discard(self, trade_id: int) -> None:
        """Stop watching ``trade_id`` (it shipped or was settled); no-op if unknown."""
        self._live.pop(trade_id, None)

    def _clean(self) -> None:
        heap, live = self._heap, self._live
        while heap and live.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)

    def next_deadline(self) -> int | None:
        """The earliest watched deadline, or None."""
        self._clean()
        return self._heap[0][0] if self._heap else None

    def due(self, now: int) -> list[int]:
        """Pop and return the trades whose deadline passed before ``now``."""
        out: list[int] = []
        heap, live = self._heap, self._live
        self._clean()
        while heap and heap[0][0] < now:
            _, trade_id = heapq.heappop(heap)
            del live[trade_id]
            out.append(trade_id)
            self._clean()
        return out

    def __contains__(self, trade_id: object) -> bool:
        return trade_id in self._live

    def __len__(self) -> int:
        return len(self._live)

    def to_dict(self) -> dict[str, Any]:
        """Canonical JSON-able state: ``[ship_by, trade_id]`` pairs, sorted."""
        return {"deadlines": sorted([s, t] for t, s in self._live.items())}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeadlineQueue:
        """The inverse of :meth:`to_dict`."""
        queue = cls()
        for ship_by, trade_id in data["deadlines"]:
            queue.push(trade_id, ship_by)
        return queue
