"""Settlement: the transition table, the ledger entries of each step, deadlines."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.errors import ExchangeError
from exchange.settlement import (
    DEFAULT_SHIP_DEADLINE_NS,
    FINAL_STATUSES,
    HOUR_NS,
    PLATFORM_ACCOUNT,
    TRANSITIONS,
    DeadlineQueue,
    LedgerEntry,
    LedgerKind,
    SettlementEvent,
    SettlementStatus,
    TradeState,
    Transition,
    authenticate,
    authentication_overdue,
    is_overdue,
    open_trade,
    overdue,
    ship,
)

T0 = 1_700_000_000 * 10**9
SHIP_BY = T0 + 48 * HOUR_NS
S = SettlementStatus


def opened(price: int = 25_000, quantity: int = 1, level: int = 1, now: int = T0) -> Transition:
    return open_trade(
        trade_id=7,
        sku="DZ5485-612-10",
        buyer_id="acc_1",
        seller_id="acc_2",
        price_cents=price,
        quantity=quantity,
        seller_level=level,
        now=now,
    )


def amounts(entries: tuple[LedgerEntry, ...]) -> list[tuple[str, str, int]]:
    return [(e.account_id, str(e.kind), e.amount_cents) for e in entries]


def test_open_charges_the_buyer_and_records_the_platform_fee() -> None:
    t = opened()
    # $250 at level 1: 9% = 2250, 3% = 750, payout 22000; buyer pays 25500; platform 3500.
    assert t.status is S.AWAITING_SHIPMENT
    assert t.state.ship_by == SHIP_BY == T0 + DEFAULT_SHIP_DEADLINE_NS
    assert t.state.fees.seller_payout_cents == 22_000
    assert t.state.penalty_cents == 3_750
    assert amounts(t.entries) == [("acc_1", "charge", -25_500), (PLATFORM_ACCOUNT, "fee", 3_500)]
    assert all(e.trade_id == 7 and e.time == T0 for e in t.entries)
    assert "DZ5485-612-10" in t.entries[0].description and "$250.00" in t.entries[0].description
    # While open, the entries sum to minus the payout held for the seller.
    assert sum(e.amount_cents for e in t.entries) == -22_000


def test_custom_ship_deadline() -> None:
    t = open_trade(
        trade_id=1,
        sku="X-OS",
        buyer_id="acc_1",
        seller_id="acc_2",
        price_cents=1_000,
        quantity=1,
        seller_level=1,
        now=T0,
        ship_deadline_ns=HOUR_NS,
    )
    assert t.state.ship_by == T0 + HOUR_NS
    assert t.state.penalty_cents == 1_500  # 15% of $10 is $1.50: the $15 floor applies


def test_ship_then_pass_pays_the_seller() -> None:
    shipped = ship(opened().state, T0 + HOUR_NS)
    assert shipped.status is S.SHIPPED and shipped.entries == ()
    assert shipped.state.updated_at == T0 + HOUR_NS
    delivered = authenticate(shipped.state, True, T0 + 50 * HOUR_NS)
    assert delivered.status is S.DELIVERED
    assert amounts(delivered.entries) == [("acc_2", "payout", 22_000)]
    assert "less transaction fee $22.50" in delivered.entries[0].description
    everything = opened().entries + delivered.entries
    assert sum(e.amount_cents for e in everything) == 0


def test_shipping_on_the_deadline_is_on_time_and_after_it_is_refused() -> None:
    state = opened().state
    assert ship(state, SHIP_BY).status is S.SHIPPED
    assert not is_overdue(state, SHIP_BY) and is_overdue(state, SHIP_BY + 1)
    with pytest.raises(ExchangeError) as exc:
        ship(state, SHIP_BY + 1)
    assert exc.value.code == "ship_deadline_passed" and exc.value.status == 409


CANCEL = [
    ("acc_1", "refund", 25_500),
    (PLATFORM_ACCOUNT, "fee", -3_500),
    ("acc_2", "penalty", -3_750),
    (PLATFORM_ACCOUNT, "penalty", 3_750),
]


def test_failed_authentication_refunds_and_penalizes() -> None:
    shipped = ship(opened().state, T0 + HOUR_NS).state
    failed = authenticate(shipped, False, T0 + 2 * HOUR_NS)
    assert failed.status is S.CANCELED
    assert amounts(failed.entries) == CANCEL
    assert all("failed authentication" in e.description for e in failed.entries)
    assert sum(e.amount_cents for e in opened().entries + failed.entries) == 0


def test_missed_deadline_cancels() -> None:
    state = opened().state
    with pytest.raises(ExchangeError) as exc:
        overdue(state, SHIP_BY)
    assert exc.value.code == "invalid_settlement_transition"
    late = overdue(state, SHIP_BY + 1)
    assert late.status is S.CANCELED and late.state.updated_at == SHIP_BY + 1
    assert amounts(late.entries) == CANCEL
    assert all("not shipped in time" in e.description for e in late.entries)


def test_penalty_is_on_the_whole_gross() -> None:
    # 2 x $50 = $100: 15% is $15.00; 3 x $500 = $1,500: 15% is $225.00.
    assert opened(price=5_000, quantity=2).state.penalty_cents == 1_500
    assert opened(price=50_000, quantity=3).state.penalty_cents == 22_500


def test_transition_table() -> None:
    assert TRANSITIONS == {
        (S.AWAITING_SHIPMENT, SettlementEvent.SHIP): S.SHIPPED,
        (S.AWAITING_SHIPMENT, SettlementEvent.SHIP_OVERDUE): S.CANCELED,
        (S.SHIPPED, SettlementEvent.AUTH_PASSED): S.DELIVERED,
        (S.SHIPPED, SettlementEvent.AUTH_FAILED): S.CANCELED,
        (S.SHIPPED, SettlementEvent.AUTH_OVERDUE): S.CANCELED,
    }
    assert {S.DELIVERED, S.CANCELED} == FINAL_STATUSES
    assert not any(status in FINAL_STATUSES for status, _ in TRANSITIONS)


STEPS = {
    SettlementEvent.SHIP: lambda s: ship(s, T0 + 1),
    SettlementEvent.SHIP_OVERDUE: lambda s: overdue(s, SHIP_BY + 1),
    SettlementEvent.AUTH_PASSED: lambda s: authenticate(s, True, T0 + 1),
    SettlementEvent.AUTH_FAILED: lambda s: authenticate(s, False, T0 + 1),
    SettlementEvent.AUTH_OVERDUE: lambda s: authentication_overdue(s, s.authenticate_by + 1),
}


@pytest.mark.parametrize("status", list(SettlementStatus))
@pytest.mark.parametrize("event", list(SettlementEvent))
def test_every_move_outside_the_table_is_refused(
    status: SettlementStatus, event: SettlementEvent
) -> None:
    state = opened().state._replace(status=status)
    if (status, event) in TRANSITIONS:
        assert STEPS[event](state).status is TRANSITIONS[status, event]
        return
    with pytest.raises(ExchangeError) as exc:
        STEPS[event](state)
    assert exc.value.code == "invalid_settlement_transition" and exc.value.status == 409
    assert f"Trade 7 is {status}" in exc.value.message


@given(
    price=st.integers(1, 10**8),
    quantity=st.integers(1, 100),
    level=st.integers(1, 5),
    path=st.sampled_from(["delivered", "failed", "overdue"]),
)
def test_final_entries_sum_to_zero_per_trade(
    price: int, quantity: int, level: int, path: str
) -> None:
    start = opened(price, quantity, level)
    fees = start.state.fees
    if path == "overdue":
        end = overdue(start.state, SHIP_BY + 1)
    else:
        end = authenticate(ship(start.state, T0 + 1).state, path == "delivered", T0 + 2)
    by_account: Counter[str] = Counter()
    for entry in start.entries + end.entries:
        by_account[entry.account_id] += entry.amount_cents
    assert sum(by_account.values()) == 0
    if path == "delivered":
        assert by_account == {
            "acc_1": -fees.buyer_total_cents,
            "acc_2": fees.seller_payout_cents,
            PLATFORM_ACCOUNT: fees.platform_fee_cents,
        }
    else:
        penalty = start.state.penalty_cents
        assert by_account == {"acc_1": 0, "acc_2": -penalty, PLATFORM_ACCOUNT: penalty}


def test_ledger_row_and_state_round_trip() -> None:
    t = opened()
    assert t.entries[0].to_row(41) == {
        "id": 41,
        "account_id": "acc_1",
        "trade_id": 7,
        "kind": "charge",
        "amount_cents": -25_500,
        "time": T0,
        "description": t.entries[0].description,
    }
    assert LedgerKind("penalty") is LedgerKind.PENALTY
    shipped = ship(t.state, T0 + 5).state
    data = shipped.to_dict()
    assert data["status"] == "shipped" and data["fees"]["seller_payout_cents"] == 22_000
    assert TradeState.from_dict(data) == shipped


def test_deadline_queue() -> None:
    queue = DeadlineQueue()
    assert queue.next_deadline() is None and queue.due(10**20) == []
    queue.push(1, 100)
    queue.push(2, 50)
    queue.push(3, 100)
    queue.push(4, 70)
    queue.discard(2)  # shipped
    queue.discard(99)  # unknown: no-op
    assert len(queue) == 3 and 2 not in queue and 4 in queue
    assert queue.next_deadline() == 70
    assert queue.due(70) == []  # due only once the deadline has passed
    assert queue.due(71) == [4]
    queue.push(3, 200)  # a new deadline replaces the old one
    assert queue.to_dict() == {"deadlines": [[100, 1], [200, 3]]}
    restored = DeadlineQueue.from_dict(queue.to_dict())
    assert restored.to_dict() == queue.to_dict()
    assert queue.due(150) == [1] == restored.due(150)
    assert queue.due(10**20) == [3] and len(queue) == 0 and queue.next_deadline() is None


def test_deadline_queue_orders_ties_by_trade_id() -> None:
    queue = DeadlineQueue()
    for trade_id in (5, 3, 9, 1):
        queue.push(trade_id, 10)
    assert queue.due(11) == [1, 3, 5, 9]
