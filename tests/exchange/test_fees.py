"""Fees: hand-computed figures, the rounding rule, levels at thresholds, the rolling window."""

from __future__ import annotations

import doctest
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange import fees
from exchange.fees import (
    DAY_NS,
    DEFAULT_SCHEDULE,
    FeeSchedule,
    SellerStats,
    TradeFees,
    compute_trade_fees,
    format_cents,
    penalty_cents,
    percent_of,
    seller_level,
)

WINDOW = 90 * DAY_NS


def test_doctests() -> None:
    result = doctest.testmod(fees)
    assert result.attempted > 0 and result.failed == 0


def test_level_1_sale_of_the_chicago() -> None:
    # $180.00 at level 1: 9% = $16.20, 3% = $5.40, buyer fee $5.00.
    assert compute_trade_fees(DEFAULT_SCHEDULE, 18_000, 1, 1) == TradeFees(
        gross_cents=18_000,
        seller_level=1,
        transaction_fee_cents=1_620,
        processing_fee_cents=540,
        buyer_fee_cents=500,
        buyer_total_cents=18_500,
        seller_payout_cents=15_840,
        platform_fee_cents=2_660,
        quantity=1,
    )


def test_level_5_two_units() -> None:
    f = compute_trade_fees(DEFAULT_SCHEDULE, 25_000, 2, 5)
    # 7% of $250 = $17.50 and 3% = $7.50, per unit, times two; buyer fee per item.
    assert (f.gross_cents, f.transaction_fee_cents, f.processing_fee_cents) == (
        50_000,
        3_500,
        1_500,
    )
    assert (f.buyer_fee_cents, f.buyer_total_cents) == (1_000, 51_000)
    assert (f.seller_payout_cents, f.platform_fee_cents) == (45_000, 6_000)
    assert f.seller_payout_per_unit_cents == 22_500
    assert f.buyer_total_per_unit_cents == 25_500


@pytest.mark.parametrize(("level", "bp"), [(1, 900), (2, 850), (3, 800), (4, 750), (5, 700)])
def test_transaction_fee_by_level(level: int, bp: int) -> None:
    f = compute_trade_fees(DEFAULT_SCHEDULE, 100_000, 1, level)
    assert f.transaction_fee_cents == bp * 10  # bp of $1,000.00 is bp * 10 cents
    assert f.seller_level == level


@pytest.mark.parametrize(
    ("amount", "bp", "expected"),
    [
        (250, 300, 8),  # 7.5 -> 8: half rounds up
        (150, 300, 5),  # 4.5 -> 5
        (149, 300, 4),  # 4.47 -> 4
        (100, 850, 9),  # 8.5 -> 9
        (100, 750, 8),  # 7.5 -> 8
        (16_650, 900, 1_499),  # 1498.5 -> 1499
        (16_649, 900, 1_498),  # 1498.41 -> 1498
        (0, 900, 0),
    ],
)
def test_percent_rounds_half_up(amount: int, bp: int, expected: int) -> None:
    assert percent_of(amount, bp) == expected


def test_fees_are_per_unit_then_multiplied() -> None:
    # $1.50 x 3 at level 1: per unit 9% = 13.5 -> 14 and 3% = 4.5 -> 5 cents;
    # on the $4.50 gross it would have been 41 and 14.
    f = compute_trade_fees(DEFAULT_SCHEDULE, 150, 3, 1)
    assert (f.transaction_fee_cents, f.processing_fee_cents) == (42, 15)
    assert f.seller_payout_cents == 450 - 42 - 15 == 3 * 131
    assert f.buyer_total_cents == 450 + 1_500


@given(
    price=st.integers(1, 10_000_000_000),
    quantity=st.integers(1, 100),
    level=st.integers(1, 5),
)
def test_buyer_total_is_payout_plus_platform_fee(price: int, quantity: int, level: int) -> None:
    f = compute_trade_fees(DEFAULT_SCHEDULE, price, quantity, level)
    assert f.buyer_total_cents == f.seller_payout_cents + f.platform_fee_cents
    assert (
        f.buyer_total_cents
        == f.gross_cents + f.buyer_fee_cents
        == price * quantity + 500 * quantity
    )
    assert f.platform_fee_cents == (
        f.transaction_fee_cents + f.processing_fee_cents + f.buyer_fee_cents
    )
    assert 0 <= f.seller_payout_cents <= f.gross_cents
    # A trade of q units is q trades of one unit, to the cent.
    one = compute_trade_fees(DEFAULT_SCHEDULE, price, 1, level)
    assert f.seller_payout_cents == quantity * one.seller_payout_cents
    assert f.platform_fee_cents == quantity * one.platform_fee_cents
    # Each per-unit fee is within half a cent of the exact share.
    exact = Fraction(price * DEFAULT_SCHEDULE.transaction_fee_bp[level - 1], 10_000)
    assert abs(one.transaction_fee_cents - exact) <= Fraction(1, 2)


@given(price=st.integers(1, 10**9), bp=st.integers(0, 10_000))
def test_percent_of_is_the_nearest_cent_half_up(price: int, bp: int) -> None:
    exact = Fraction(price * bp, 10_000)
    got = percent_of(price, bp)
    assert exact - Fraction(1, 2) < got <= exact + Fraction(1, 2)


def test_bad_arguments_are_bugs() -> None:
    with pytest.raises(ValueError):
        compute_trade_fees(DEFAULT_SCHEDULE, 100, 1, 6)
    with pytest.raises(ValueError):
        compute_trade_fees(DEFAULT_SCHEDULE, 100, 0, 1)
    with pytest.raises(ValueError):
        compute_trade_fees(DEFAULT_SCHEDULE, 0, 1, 1)


@pytest.mark.parametrize(
    ("gross", "expected"),
    [
        (18_000, 2_700),
        (5_000, 1_500),
        (10_000, 1_500),
        (10_003, 1_500),
        (10_004, 1_501),
        (100, 1_500),
    ],
)
def test_penalty_is_15_percent_at_least_15_dollars(gross: int, expected: int) -> None:
    assert penalty_cents(DEFAULT_SCHEDULE, gross) == expected


@pytest.mark.parametrize(
    ("count", "volume", "level"),
    [
        (0, 0, 1),
        (11, 149_999, 1),
        (12, 0, 2),
        (0, 150_000, 2),
        (39, 499_999, 2),
        (40, 0, 3),
        (0, 500_000, 3),
        (199, 2_499_999, 3),
        (200, 0, 4),
        (0, 2_500_000, 4),
        (799, 9_999_999, 4),
        (800, 0, 5),
        (0, 10_000_000, 5),
        (12, 500_000, 3),  # either measure counts: the higher level wins
        (10**6, 10**12, 5),
    ],
)
def test_seller_level_thresholds(count: int, volume: int, level: int) -> None:
    assert seller_level(count, volume) == level


def test_schedule_is_configurable_and_round_trips() -> None:
    schedule = FeeSchedule(
        transaction_fee_bp=(1000, 500), level_thresholds=((2, 10**9),), buyer_fee_cents=0
    )
    assert schedule.levels == 2
    assert seller_level(2, 0, schedule) == 2
    f = compute_trade_fees(schedule, 10_000, 1, 2)
    assert (f.transaction_fee_cents, f.buyer_fee_cents, f.seller_payout_cents) == (500, 0, 9_200)
    assert FeeSchedule.from_dict(schedule.to_dict()) == schedule
    assert FeeSchedule.from_dict(DEFAULT_SCHEDULE.to_dict()) == DEFAULT_SCHEDULE


@pytest.mark.parametrize(
    "kwargs",
    [
        {"transaction_fee_bp": ()},
        {"transaction_fee_bp": (900, 800)},  # thresholds for 5 levels
        {"processing_fee_bp": 9_200},  # 9% + 92% > 100%
        {"buyer_fee_cents": -1},
        {"window_ns": 0},
        {"level_thresholds": ((12, 150_000), (10, 500_000), (200, 2_500_000), (800, 10**7))},
    ],
)
def test_inconsistent_schedules_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        FeeSchedule(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("cents", "text"), [(0, "$0.00"), (5, "$0.05"), (123_456, "$1,234.56"), (-150, "-$1.50")]
)
def test_format_cents(cents: int, text: str) -> None:
    assert format_cents(cents) == text


def test_seller_stats_reach_level_2_by_count_and_lose_it_on_cancel() -> None:
    stats = SellerStats()
    for trade_id in range(1, 12):
        stats.record_sale("acc_1", trade_id, time=trade_id, quantity=1, gross_cents=1_000)
    assert stats.level("acc_1", now=20) == 1
    stats.record_sale("acc_1", 12, time=12, quantity=1, gross_cents=1_000)
    assert stats.totals("acc_1", now=20) == (12, 12_000)
    assert stats.level("acc_1", now=20) == 2
    stats.remove_sale("acc_1", 5)  # canceled in settlement: no longer a sale
    assert stats.level("acc_1", now=20) == 1
    stats.remove_sale("acc_1", 5)  # twice is a no-op
    stats.remove_sale("acc_9", 1)
    assert stats.totals("acc_1", now=20) == (11, 11_000)
    assert stats.level("acc_2", now=20) == 1


def test_seller_stats_count_units_and_volume() -> None:
    stats = SellerStats()
    stats.record_sale("acc_1", 1, time=0, quantity=12, gross_cents=12 * 100)
    assert stats.level("acc_1", now=0) == 2
    stats.record_sale("acc_2", 2, time=0, quantity=1, gross_cents=500_000)
    assert stats.level("acc_2", now=0) == 3
    with pytest.raises(ValueError):
        stats.record_sale("acc_2", 2, time=1, quantity=1, gross_cents=1)


def test_seller_stats_window_is_the_last_90_days() -> None:
    stats = SellerStats()
    stats.record_sale("acc_1", 1, time=1_000, quantity=1, gross_cents=150_000)
    stats.record_sale("acc_1", 2, time=2_000, quantity=1, gross_cents=100)
    before = stats.to_dict()
    # A sale at t counts while t > now - window.
    assert stats.totals("acc_1", now=WINDOW + 999) == (2, 150_100)
    assert stats.level("acc_1", now=WINDOW + 999) == 2
    assert stats.totals("acc_1", now=WINDOW + 1_000) == (1, 100)
    assert stats.level("acc_1", now=WINDOW + 1_000) == 1
    assert stats.totals("acc_1", now=WINDOW + 2_000) == (0, 0)
    # Reads change nothing (a REST handler may ask with the wall clock).
    assert stats.to_dict() == before
    assert stats.totals("acc_1", now=2_000) == (2, 150_100)


def test_seller_stats_prune_on_record_and_on_demand() -> None:
    stats = SellerStats()
    stats.record_sale("acc_1", 1, time=1_000, quantity=1, gross_cents=150_000)
    stats.record_sale("acc_1", 2, time=2_000, quantity=1, gross_cents=100)
    stats.record_sale("acc_2", 3, time=1_000, quantity=1, gross_cents=500)
    stats.remove_sale("acc_1", 2)
    # The next sale drops what left the window by its time.
    stats.record_sale("acc_1", 4, time=WINDOW + 1_500, quantity=1, gross_cents=300)
    assert stats.to_dict()["sellers"]["acc_1"] == [[4, WINDOW + 1_500, 1, 300]]
    assert stats.totals("acc_1", now=WINDOW + 1_500) == (1, 300)
    stats.prune(WINDOW + 1_000)
    assert stats.to_dict() == {"sellers": {"acc_1": [[4, WINDOW + 1_500, 1, 300]]}}
    stats.prune(2 * WINDOW + 1_500)
    assert stats.to_dict() == {"sellers": {}}
    assert stats.level("acc_1", now=0) == 1


def test_seller_stats_snapshot_round_trip() -> None:
    stats = SellerStats()
    stats.record_sale("acc_2", 3, time=10, quantity=2, gross_cents=40_000)
    stats.record_sale("acc_1", 4, time=11, quantity=1, gross_cents=20_000)
    stats.record_sale("acc_2", 5, time=12, quantity=1, gross_cents=1_000)
    stats.remove_sale("acc_2", 3)
    data = stats.to_dict()
    assert data == {"sellers": {"acc_1": [[4, 11, 1, 20_000]], "acc_2": [[5, 12, 1, 1_000]]}}
    assert list(data["sellers"]) == ["acc_1", "acc_2"]
    restored = SellerStats.from_dict(data)
    assert restored.to_dict() == data
    assert restored.totals("acc_2", now=13) == stats.totals("acc_2", now=13) == (1, 1_000)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["record", "remove", "prune", "snapshot"]),
            st.sampled_from(["acc_1", "acc_2"]),
            st.integers(0, 40 * DAY_NS),  # time step
            st.integers(1, 5),  # quantity
            st.integers(0, 20),  # which earlier trade to remove
        ),
        max_size=40,
    )
)
def test_seller_stats_match_a_naive_reference(ops: list[tuple[str, str, int, int, int]]) -> None:
    stats = SellerStats()
    sales: dict[int, tuple[str, int, int, int]] = {}  # trade -> (seller, time, qty, gross)
    now = 0
    for trade_id, (op, seller, step, qty, pick) in enumerate(ops, start=1):
        now += step
        if op == "record":
            stats.record_sale(seller, trade_id, now, qty, qty * 10_000)
            sales[trade_id] = (seller, now, qty, qty * 10_000)
        elif op == "remove" and sales:
            victim = sorted(sales)[pick % len(sales)]
            stats.remove_sale(sales[victim][0], victim)
            del sales[victim]
        elif op == "prune":
            stats.prune(now)
        else:
            stats = SellerStats.from_dict(stats.to_dict())
        for who in ("acc_1", "acc_2"):
            for at in (now, now + WINDOW // 2):
                live = [s for s in sales.values() if s[0] == who and s[1] > at - WINDOW]
                expected = (sum(s[2] for s in live), sum(s[3] for s in live))
                assert stats.totals(who, at) == expected
                assert stats.level(who, at) == seller_level(*expected)
