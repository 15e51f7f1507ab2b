"""Unit tests of orderbook/book.py: one test (or a few) per rule of its contract."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orderbook import (
    Accepted,
    Amended,
    AmendOrder,
    Canceled,
    CancelOrder,
    CancelReason,
    Event,
    ExpireOrders,
    Fill,
    LevelChanged,
    OrderBook,
    OrderType,
    PlaceOrder,
    Rejected,
    RejectReason,
    Side,
    SkuRules,
    TimeInForce,
    book_checksum,
)

BID, ASK = Side.BID, Side.ASK
RULES = SkuRules(
    tick_size_cents=100, min_price_cents=1_000, max_price_cents=100_000, max_quantity=10
)


# ---------------------------------------------------------------- helpers


def new_book(rules: SkuRules = RULES) -> OrderBook:
    return OrderBook("DZ5485-612-10", rules)


def place(
    book: OrderBook,
    order_id: int,
    side: Side,
    quantity: int,
    price: int | None,
    owner: str = "alice",
    **kw: Any,
) -> list[Event]:
    events = book.place(PlaceOrder(order_id, owner, side, quantity, price, **kw))
    book.check()
    return events


def kinds(events: list[Event]) -> list[str]:
    return [type(e).__name__ for e in events]


def fills(events: list[Event]) -> list[tuple[int, int, int]]:
    """(maker id, price, quantity) of each fill."""
    return [(e.maker_order_id, e.price_cents, e.quantity) for e in events if type(e) is Fill]


def levels(events: list[Event]) -> list[tuple[str, int, int, int]]:
    return [
        (e.side.value, e.price_cents, e.quantity, e.orders)
        for e in events
        if type(e) is LevelChanged
    ]


def reasons(events: list[Event]) -> list[str]:
    return [e.reason.value for e in events if type(e) in (Rejected, Canceled)]


def seqs_gap_free(book: OrderBook, *batches: list[Event]) -> None:
    seqs = [e.seq for batch in batches for e in batch]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert book.seq == seqs[-1]


@pytest.fixture
def book() -> OrderBook:
    return new_book()


# ---------------------------------------------------------------- limit orders


def test_limit_order_rests_and_reports_its_level(book: OrderBook) -> None:
    events = place(book, 1, BID, 3, 10_000)
    assert events == [
        Accepted(1, 1, "alice", BID, OrderType.LIMIT, TimeInForce.GTC, 10_000, 3),
        LevelChanged(2, BID, 10_000, 3, 1),
    ]
    assert book.best_bid() == 10_000 and book.best_ask() is None
    assert len(book) == 1 and 1 in book


def test_partial_fill_at_the_resting_price(book: OrderBook) -> None:
    place(book, 1, ASK, 5, 10_500, owner="seller")
    events = place(book, 2, BID, 2, 11_000, owner="buyer")
    assert events[1] == Fill(4, 2, 1, "buyer", "seller", BID, 10_500, 2, 0, 3)
    assert levels(events) == [("ask", 10_500, 3, 1)]
    view = book.order(1)
    assert view is not None and (view.quantity, view.filled, view.remaining) == (5, 2, 3)
    assert book.order(2) is None  # fully filled takers never rest


def test_taker_rest_rests_after_sweeping_levels(book: OrderBook) -> None:
    place(book, 1, ASK, 1, 10_000, owner="s")
    place(book, 2, ASK, 1, 10_100, owner="s")
    place(book, 3, ASK, 1, 10_300, owner="s")
    events = place(book, 4, BID, 4, 10_200, owner="b")
    assert fills(events) == [(1, 10_000, 1), (2, 10_100, 1)]
    assert [e.taker_remaining for e in events if type(e) is Fill] == [3, 2]
    # bid level first, then ask levels ascending
    assert levels(events) == [
        ("bid", 10_200, 2, 1),
        ("ask", 10_000, 0, 0),
        ("ask", 10_100, 0, 0),
    ]
    assert book.best_bid() == 10_200 and book.best_ask() == 10_300


def test_ask_taker_level_changes_are_ascending(book: OrderBook) -> None:
    place(book, 1, BID, 1, 10_200, owner="b")
    place(book, 2, BID, 1, 10_100, owner="b")
    events = place(book, 3, ASK, 3, 10_100, owner="s")
    assert fills(events) == [(1, 10_200, 1), (2, 10_100, 1)]
    assert levels(events) == [
        ("bid", 10_100, 0, 0),
        ("bid", 10_200, 0, 0),
        ("ask", 10_100, 1, 1),
    ]


def test_price_time_priority(book: OrderBook) -> None:
    place(book, 1, ASK, 1, 10_100, owner="s1")
    place(book, 2, ASK, 1, 10_000, owner="s2")
    place(book, 3, ASK, 1, 10_000, owner="s3")
    events = place(book, 4, BID, 3, 10_100, owner="b")
    assert fills(events) == [(2, 10_000, 1), (3, 10_000, 1), (1, 10_100, 1)]


def test_seq_is_gap_free_across_commands(book: OrderBook) -> None:
    a = place(book, 1, ASK, 1, 10_000, owner="s")
    b = place(book, 2, BID, 2, 10_000, owner="b")
    c = book.cancel(CancelOrder(99))
    d = book.cancel(CancelOrder(2))
    seqs_gap_free(book, a, b, c, d)


# ---------------------------------------------------------------- market, IOC


def test_market_order_without_protection_sweeps_and_never_rests(book: OrderBook) -> None:
    place(book, 1, ASK, 1, 10_000, owner="s")
    place(book, 2, ASK, 1, 90_000, owner="s")
    events = place(book, 3, BID, 3, None, owner="b", order_type=OrderType.MARKET)
    assert fills(events) == [(1, 10_000, 1), (2, 90_000, 1)]
    assert events[-3] == Canceled(events[-3].seq, 3, CancelReason.MARKET_REMAINDER, 1)
    assert book.order(3) is None and book.best_bid() is None


def test_market_order_price_protection_stops_matching(book: OrderBook) -> None:
    place(book, 1, ASK, 1, 10_000, owner="s")
    place(book, 2, ASK, 1, 12_000, owner="s")
    events = place(
        book, 3, BID, 2, 11_000, owner="b", order_type=OrderType.MARKET
    )
    assert fills(events) == [(1, 10_000, 1)]
    assert reasons(events) == ["market_remainder"]
    assert book.best_ask() == 12_000 and book.best_bid() is None


def test_sell_now_on_an_empty_book_is_accepted_then_canceled(book: OrderBook) -> None:
    events = place(book, 1, ASK, 2, None, order_type=OrderType.MARKET)
    assert kinds(events) == ["Accepted", "Canceled"]
    assert events[1] == Canceled(2, 1, CancelReason.MARKET_REMAINDER, 2)


def test_ioc_remainder_is_canceled(book: OrderBook) -> None:
    place(book, 1, BID, 1, 10_000, owner="b")
    events = place(book, 2, ASK, 3, 10_000, owner="s", time_in_force=TimeInForce.IOC)
    assert fills(events) == [(1, 10_000, 1)]
    assert [e for e in events if type(e) is Canceled] == [
        Canceled(events[2].seq, 2, CancelReason.IOC_REMAINDER, 2)
    ]
    assert book.best_ask() is None


# ---------------------------------------------------------------- FOK


def test_fok_that_cannot_fill_whole_changes_nothing(book: OrderBook) -> None:
    place(book, 1, ASK, 2, 10_000, owner="s")
    before = book.snapshot()
    events = place(book, 2, BID, 3, 10_000, owner="b", time_in_force=TimeInForce.FOK)
    assert kinds(events) == ["Accepted", "Canceled"]
    assert events[1].reason is CancelReason.FOK_UNFILLABLE and events[1].quantity == 3
    after = book.snapshot()
    assert after["orders"] == before["orders"] and after["seq"] == before["seq"] + 2


def test_fok_fills_whole_across_levels(book: OrderBook) -> None:
    place(book, 1, ASK, 2, 10_000, owner="s")
    place(book, 2, ASK, 2, 10_100, owner="s")
    events = place(book, 3, BID, 3, 10_100, owner="b", time_in_force=TimeInForce.FOK)
    assert fills(events) == [(1, 10_000, 2), (2, 10_100, 1)]
    assert "Canceled" not in kinds(events)


def test_fok_respects_its_limit(book: OrderBook) -> None:
    place(book, 1, ASK, 2, 10_000, owner="s")
    place(book, 2, ASK, 2, 10_200, owner="s")
    events = place(book, 3, BID, 3, 10_100, owner="b", time_in_force=TimeInForce.FOK)
    assert reasons(events) == ["fok_unfillable"]
    assert len(book) == 2


def test_fok_does_not_count_own_orders_and_leaves_them_alone(book: OrderBook) -> None:
    place(book, 1, ASK, 2, 10_000, owner="alice")
    place(book, 2, ASK, 1, 10_000, owner="bob")
    # 3 rest, but 2 of them are alice's own: only 1 is fillable.
    events = place(book, 3, BID, 2, 10_000, owner="alice", time_in_force=TimeInForce.FOK)
    assert reasons(events) == ["fok_unfillable"]
    assert book.order(1) is not None  # no self-trade cancel happened


def test_fok_fillable_past_own_orders_cancels_them_and_fills(book: OrderBook) -> None:
    place(book, 1, ASK, 2, 10_000, owner="alice")
    place(book, 2, ASK, 2, 10_000, owner="bob")
    events = place(book, 3, BID, 2, 10_000, owner="alice", time_in_force=TimeInForce.FOK)
    assert kinds(events) == ["Accepted", "Canceled", "Fill", "LevelChanged"]
    assert events[1] == Canceled(events[1].seq, 1, CancelReason.SELF_TRADE, 2)
    assert fills(events) == [(2, 10_000, 2)]
    assert len(book) == 0


def test_would_fill_counts_other_owners_within_the_limit(book: OrderBook) -> None:
    place(book, 1, ASK, 2, 10_000, owner="alice")
    place(book, 2, ASK, 3, 10_100, owner="bob")
    place(book, 3, ASK, 3, 10_300, owner="bob")
    assert book.would_fill(BID, 10_100, 10, "alice") == 3
    assert book.would_fill(BID, 10_100, 10, "carol") == 5
    assert book.would_fill(BID, None, 10, "carol") == 8
    assert book.would_fill(BID, None, 4, "carol") == 4
    assert book.would_fill(ASK, None, 4, "carol") == 0


# ---------------------------------------------------------------- post-only


def test_post_only_that_would_take_is_rejected(book: OrderBook) -> None:
    place(book, 1, ASK, 1, 10_000, owner="s")
    events = place(book, 2, BID, 1, 10_000, owner="b", post_only=True)
    assert events == [Rejected(3, 2, RejectReason.POST_ONLY_WOULD_TAKE)]
    assert len(book) == 1


def test_post_only_that_does_not_cross_rests(book: OrderBook) -> None:
    place(book, 1, ASK, 1, 10_000, owner="s")
    events = place(book, 2, BID, 1, 9_900, owner="b", post_only=True)
    assert kinds(events) == ["Accepted", "LevelChanged"]
    view = book.order(2)
    assert view is not None and view.post_only


# ---------------------------------------------------------------- self-trade prevention


def test_self_trade_cancels_the_resting_order_and_matching_goes_on(book: OrderBook) -> None:
    place(book, 1, ASK, 1, 10_000, owner="bob")
    place(book, 2, ASK, 2, 10_000, owner="alice")
    place(book, 3, ASK, 1, 10_100, owner="bob")
    events = place(book, 4, BID, 2, 10_100, owner="alice")
    assert kinds(events) == [
        "Accepted", "Fill", "Canceled", "Fill", "LevelChanged", "LevelChanged",
    ]
    assert events[2] == Canceled(events[2].seq, 2, CancelReason.SELF_TRADE, 2)
    assert fills(events) == [(1, 10_000, 1), (3, 10_100, 1)]
    assert len(book) == 0


def test_self_trade_only_then_rests(book: OrderBook) -> None:
    place(book, 1, ASK, 1, 10_000, owner="alice")
    events = place(book, 2, BID, 1, 10_000, owner="alice")
    assert reasons(events) == ["self_trade"]
    assert book.best_bid() == 10_000 and book.best_ask() is None
    assert levels(events) == [("bid", 10_000, 1, 1), ("ask", 10_000, 0, 0)]


# ---------------------------------------------------------------- cancel


def test_cancel_emits_canceled_and_the_level(book: OrderBook) -> None:
    place(book, 1, BID, 2, 10_000)
    place(book, 2, BID, 1, 10_000)
    events = book.cancel(CancelOrder(1))
    assert events == [
        Canceled(5, 1, CancelReason.USER, 2),
        LevelChanged(6, BID, 10_000, 1, 1),
    ]
    book.check()
    assert book.cancel(CancelOrder(1)) == [Rejected(7, 1, RejectReason.UNKNOWN_ORDER)]


def test_cancel_of_the_best_level_moves_the_best_price(book: OrderBook) -> None:
    place(book, 1, ASK, 1, 10_000)
    place(book, 2, ASK, 1, 10_500)
    book.cancel(CancelOrder(1))
    book.check()
    assert book.best_ask() == 10_500
    book.cancel(CancelOrder(2))
    assert book.best_ask() is None


def test_canceled_orders_are_skipped_by_matching(book: OrderBook) -> None:
    place(book, 1, ASK, 1, 10_000, owner="s")
    place(book, 2, ASK, 1, 10_000, owner="s")
    book.cancel(CancelOrder(1))
    events = place(book, 3, BID, 1, 10_000, owner="b")
    assert fills(events) == [(2, 10_000, 1)]


def test_many_cancels_keep_a_level_compact(book: OrderBook) -> None:
    place(book, 1, BID, 1, 10_000)
    for i in range(2, 500):
        place(book, i, BID, 1, 10_000)
        book.cancel(CancelOrder(i))
    level = book._bids.levels[10_000]  # white box: the lazy queue stays bounded
    assert len(level.orders) <= 2 * level.count + 17


# ---------------------------------------------------------------- amend


def test_amend_lowering_quantity_keeps_priority(book: OrderBook) -> None:
    place(book, 1, ASK, 3, 10_000, owner="s1")
    place(book, 2, ASK, 3, 10_000, owner="s2")
    events = book.amend(AmendOrder(1, quantity=2))
    assert events == [
        Amended(5, 1, 10_000, 2, 2, True),
        LevelChanged(6, ASK, 10_000, 5, 2),
    ]
    book.check()
    assert fills(place(book, 3, BID, 1, 10_000, owner="b")) == [(1, 10_000, 1)]


def test_amend_raising_quantity_loses_priority(book: OrderBook) -> None:
    place(book, 1, ASK, 1, 10_000, owner="s1")
    place(book, 2, ASK, 1, 10_000, owner="s2")
    events = book.amend(AmendOrder(1, quantity=2))
    assert events[0].kept_priority is False and events[0].remaining == 2
    assert levels(events) == [("ask", 10_000, 3, 2)]
    book.check()
    assert fills(place(book, 3, BID, 1, 10_000, owner="b")) == [(2, 10_000, 1)]


def test_amend_same_quantity_is_a_no_op(book: OrderBook) -> None:
    place(book, 1, ASK, 2, 10_000)
    events = book.amend(AmendOrder(1, quantity=2, price_cents=10_000))
    assert events == [Amended(3, 1, 10_000, 2, 2, True)]


def test_amend_counts_quantity_as_the_total_including_fills(book: OrderBook) -> None:
    place(book, 1, ASK, 5, 10_000, owner="s")
    place(book, 2, BID, 2, 10_000, owner="b")
    assert book.amend(AmendOrder(1, quantity=2))[0] == Rejected(
        book.seq, 1, RejectReason.QUANTITY_AT_OR_BELOW_FILLED
    )
    events = book.amend(AmendOrder(1, quantity=4))
    assert events[0].quantity == 4 and events[0].remaining == 2
    view = book.order(1)
    assert view is not None and (view.quantity, view.filled, view.remaining) == (4, 2, 2)


def test_amend_rejections_change_nothing(book: OrderBook) -> None:
    place(book, 1, BID, 2, 10_000, owner="b")
    place(book, 2, ASK, 1, 10_500, owner="s", post_only=True)
    before = book.snapshot()["orders"]
    cases = [
        (AmendOrder(9), RejectReason.UNKNOWN_ORDER),
        (AmendOrder(1), RejectReason.INVALID_ORDER),
        (AmendOrder(1, quantity=0), RejectReason.QUANTITY_AT_OR_BELOW_FILLED),
        (AmendOrder(1, quantity=11), RejectReason.INVALID_QUANTITY),
        (AmendOrder(1, price_cents=10_050), RejectReason.OFF_TICK),
        (AmendOrder(1, price_cents=900), RejectReason.PRICE_OUT_OF_BAND),
        (AmendOrder(2, price_cents=10_000), RejectReason.POST_ONLY_WOULD_TAKE),
    ]
    for cmd, reason in cases:
        events = book.amend(cmd)
        assert events == [Rejected(book.seq, cmd.order_id, reason)], cmd
    assert book.snapshot()["orders"] == before


def test_amend_price_change_loses_priority(book: OrderBook) -> None:
    place(book, 1, ASK, 1, 10_100, owner="s1")
    place(book, 2, ASK, 1, 10_000, owner="s2")
    events = book.amend(AmendOrder(1, price_cents=10_000))
    assert events[0] == Amended(5, 1, 10_000, 1, 1, False)
    assert levels(events) == [("ask", 10_000, 2, 2), ("ask", 10_100, 0, 0)]
    book.check()
    assert fills(place(book, 3, BID, 1, 10_000, owner="b")) == [(2, 10_000, 1)]


def test_amend_price_change_that_crosses_trades_as_a_taker(book: OrderBook) -> None:
    place(book, 1, ASK, 1, 10_000, owner="s")
    place(book, 2, BID, 3, 9_000, owner="b")
    events = book.amend(AmendOrder(2, price_cents=10_000))
    assert kinds(events) == ["Amended", "Fill", "LevelChanged", "LevelChanged", "LevelChanged"]
    fill = events[1]
    assert (fill.taker_order_id, fill.maker_order_id, fill.price_cents) == (2, 1, 10_000)
    assert (fill.taker_remaining, fill.maker_remaining) == (2, 0)
    assert levels(events) == [
        ("bid", 9_000, 0, 0),
        ("bid", 10_000, 2, 1),
        ("ask", 10_000, 0, 0),
    ]
    view = book.order(2)
    assert view is not None and (view.price_cents, view.filled, view.remaining) == (10_000, 1, 2)


def test_amend_price_change_can_fill_the_order_completely(book: OrderBook) -> None:
    place(book, 1, ASK, 5, 10_000, owner="s")
    place(book, 2, BID, 2, 9_000, owner="b")
    events = book.amend(AmendOrder(2, price_cents=10_500))
    assert fills(events) == [(1, 10_000, 2)]
    assert book.order(2) is None
    assert levels(events) == [("bid", 9_000, 0, 0), ("ask", 10_000, 3, 1)]


# ---------------------------------------------------------------- expiry


def test_expiry_in_the_past_is_rejected(book: OrderBook) -> None:
    events = place(book, 1, BID, 1, 10_000, expires_at=100, now=100)
    assert events == [Rejected(1, 1, RejectReason.EXPIRY_IN_PAST)]


def test_expire_cancels_due_orders_in_time_then_id_order(book: OrderBook) -> None:
    place(book, 3, BID, 1, 10_000, expires_at=200, now=1)
    place(book, 2, BID, 1, 10_000, expires_at=200, now=1)
    place(book, 1, ASK, 1, 11_000, expires_at=100, now=1)
    place(book, 4, ASK, 1, 11_000, expires_at=300, now=1)
    assert book.expire(ExpireOrders(99)) == []
    seq = book.seq
    events = book.expire(ExpireOrders(200))
    assert events == [
        Canceled(seq + 1, 1, CancelReason.EXPIRED, 1),
        Canceled(seq + 2, 2, CancelReason.EXPIRED, 1),
        Canceled(seq + 3, 3, CancelReason.EXPIRED, 1),
        LevelChanged(seq + 4, BID, 10_000, 0, 0),
        LevelChanged(seq + 5, ASK, 11_000, 1, 1),
    ]
    book.check()
    assert [v.order_id for v in book.orders()] == [4]


def test_canceled_filled_and_amended_orders_expire_correctly(book: OrderBook) -> None:
    place(book, 1, BID, 1, 10_000, owner="b", expires_at=100, now=1)  # canceled
    place(book, 2, BID, 2, 10_000, owner="b", expires_at=100, now=1)  # amended, keeps expiry
    place(book, 3, BID, 1, 9_900, owner="b", expires_at=100, now=1)  # filled
    book.cancel(CancelOrder(1))
    book.amend(AmendOrder(2, quantity=3, price_cents=9_800))
    place(book, 4, ASK, 1, 9_900, owner="s")
    # id 1 is reused by an order expiring later: the old heap entry is stale.
    place(book, 1, BID, 1, 9_500, owner="b", expires_at=500, now=2)
    events = book.expire(ExpireOrders(100))
    assert [(e.order_id, e.reason.value) for e in events if type(e) is Canceled] == [
        (2, "expired")
    ]
    assert book.order(1) is not None
    book.check()
    assert reasons(book.expire(ExpireOrders(500))) == ["expired"]
    assert len(book) == 0


def test_expire_with_nothing_due_uses_no_seq(book: OrderBook) -> None:
    place(book, 1, BID, 1, 10_000)
    assert book.expire(ExpireOrders(10**18)) == []
    assert book.seq == 2


def test_expiry_entries_of_gone_orders_are_dropped(book: OrderBook) -> None:
    place(book, 1, BID, 1, 9_000, expires_at=5 * 10**12, now=1)
    for i in range(2, 3_000):
        place(book, i, BID, 1, 10_000, expires_at=10**12 + i, now=1)
        book.cancel(CancelOrder(i))
    assert book._expiry_count <= 2 * len(book) + 1024 + 1  # white box: bounded
    book.check()
    assert reasons(book.expire(ExpireOrders(5 * 10**12))) == ["expired"]


def test_expiry_across_buckets_and_into_the_current_one(book: OrderBook) -> None:
    day = 86_400 * 10**9
    place(book, 1, BID, 1, 10_000, expires_at=30 * day, now=0)
    place(book, 2, BID, 1, 10_000, expires_at=2 * day, now=0)
    assert book.expire(ExpireOrders(day)) == []
    # bucket of 2 days is now due-ish: a new order in it goes straight to the heap
    assert book.expire(ExpireOrders(2 * day - 1)) == []
    place(book, 3, BID, 1, 10_000, expires_at=2 * day - 1 + 5, now=2 * day - 1)
    events = book.expire(ExpireOrders(2 * day + 10))
    assert [e.order_id for e in events if type(e) is Canceled] == [2, 3]
    book.check()
    assert [e.order_id for e in book.expire(ExpireOrders(31 * day)) if type(e) is Canceled] == [1]


# ---------------------------------------------------------------- per-SKU rules


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"quantity": 0}, RejectReason.INVALID_QUANTITY),
        ({"quantity": 11}, RejectReason.INVALID_QUANTITY),
        ({"quantity": True}, RejectReason.INVALID_QUANTITY),
        ({"price_cents": None}, RejectReason.MISSING_PRICE),
        ({"price_cents": 10_050}, RejectReason.OFF_TICK),
        ({"price_cents": 900}, RejectReason.PRICE_OUT_OF_BAND),
        ({"price_cents": 100_100}, RejectReason.PRICE_OUT_OF_BAND),
        ({"price_cents": 10_000.0}, RejectReason.INVALID_ORDER),
        ({"order_type": OrderType.MARKET, "post_only": True}, RejectReason.INVALID_ORDER),
        ({"order_type": OrderType.MARKET, "expires_at": 10}, RejectReason.INVALID_ORDER),
        ({"time_in_force": TimeInForce.IOC, "post_only": True}, RejectReason.INVALID_ORDER),
        ({"time_in_force": TimeInForce.FOK, "expires_at": 10}, RejectReason.INVALID_ORDER),
        ({"side": "sideways"}, RejectReason.INVALID_ORDER),
        ({"expires_at": 5, "now": 5}, RejectReason.EXPIRY_IN_PAST),
        ({"order_type": OrderType.MARKET, "price_cents": 10_001}, RejectReason.OFF_TICK),
    ],
)
def test_static_rules_reject_and_change_nothing(
    book: OrderBook, fields: dict[str, Any], reason: RejectReason
) -> None:
    place(book, 1, ASK, 1, 20_000, owner="s")
    before = book.snapshot()
    base: dict[str, Any] = {
        "order_id": 2,
        "owner": "b",
        "side": BID,
        "quantity": 1,
        "price_cents": 20_000,
    }
    events = book.place(PlaceOrder(**{**base, **fields}))
    assert events == [Rejected(3, 2, reason)]
    after = book.snapshot()
    assert after["orders"] == before["orders"] and after["seq"] == before["seq"] + 1


ODD_MIN = SkuRules(tick_size_cents=100, min_price_cents=150)  # band starts off tick
SMALL_TICK = SkuRules(tick_size_cents=25, max_price_cents=1_000)


@pytest.mark.parametrize(
    ("rules", "price", "reason"),
    [
        (ODD_MIN, 200, None),
        (ODD_MIN, 150, RejectReason.OFF_TICK),
        (ODD_MIN, 100, RejectReason.PRICE_OUT_OF_BAND),
        (SMALL_TICK, 1_000, None),
        (SMALL_TICK, 1_025, RejectReason.PRICE_OUT_OF_BAND),
        (SMALL_TICK, 1_010, RejectReason.OFF_TICK),
    ],
)
def test_tick_and_band_agree_with_the_rules(
    rules: SkuRules, price: int, reason: RejectReason | None
) -> None:
    book = new_book(rules)
    events = book.place(PlaceOrder(1, "a", BID, 1, price))
    if reason is None:
        assert kinds(events) == ["Accepted", "LevelChanged"]
    else:
        assert events == [Rejected(1, 1, reason)]


def test_duplicate_live_order_id_is_rejected(book: OrderBook) -> None:
    place(book, 1, BID, 1, 10_000)
    assert place(book, 1, ASK, 1, 11_000) == [Rejected(3, 1, RejectReason.DUPLICATE_ORDER_ID)]
    book.cancel(CancelOrder(1))
    assert kinds(place(book, 1, ASK, 1, 11_000)) == ["Accepted", "LevelChanged"]


def test_string_enums_are_accepted(book: OrderBook) -> None:
    cmd = PlaceOrder(1, "a", "bid", 1, 10_000, "limit", "gtc")  # type: ignore[arg-type]
    events = book.place(cmd)
    assert events[0] == Accepted(1, 1, "a", BID, OrderType.LIMIT, TimeInForce.GTC, 10_000, 1)
    assert events[0].side is BID


# ---------------------------------------------------------------- queries


def test_depth_best_prices_and_order_view(book: OrderBook) -> None:
    place(book, 1, BID, 2, 10_000)
    place(book, 2, BID, 1, 10_000)
    place(book, 3, BID, 4, 9_500)
    place(book, 4, ASK, 1, 10_500, expires_at=77, now=1)
    place(book, 5, ASK, 2, 11_000)
    assert book.depth() == (
        [(10_000, 3, 2), (9_500, 4, 1)],
        [(10_500, 1, 1), (11_000, 2, 1)],
    )
    assert book.depth(1) == ([(10_000, 3, 2)], [(10_500, 1, 1)])
    assert book.depth(0) == ([], [])
    assert (book.best_bid(), book.best_ask()) == (10_000, 10_500)
    view = book.order(4)
    assert view is not None
    assert view._asdict() == {
        "order_id": 4,
        "owner": "alice",
        "side": ASK,
        "price_cents": 10_500,
        "quantity": 1,
        "filled": 0,
        "remaining": 1,
        "expires_at": 77,
        "time_in_force": TimeInForce.GTC,
        "post_only": False,
    }
    assert book.order(42) is None
    assert len(book) == 5


def test_checksum_matches_the_design_vectors() -> None:
    assert book_checksum([], []) == 2343686810
    assert book_checksum([(10500, 2), (11000, 1)], [(10000, 3), (9500, 1)]) == 4148808677
    book = new_book()
    assert book.checksum() == 2343686810
    place(book, 1, ASK, 2, 10_500)
    place(book, 2, ASK, 1, 11_000)
    place(book, 3, BID, 3, 10_000)
    place(book, 4, BID, 1, 9_500)
    assert book.checksum() == 4148808677


def test_checksum_uses_only_the_top_ten_levels(book: OrderBook) -> None:
    for i in range(12):
        place(book, i + 1, ASK, 1, 20_000 + 100 * i)
    top = [(20_000 + 100 * i, 1) for i in range(10)]
    assert book.checksum() == book_checksum(top, [])


# ---------------------------------------------------------------- snapshot / restore


def _busy_book() -> OrderBook:
    book = new_book()
    place(book, 1, BID, 3, 10_000, owner="a", expires_at=500, now=1)
    place(book, 2, BID, 2, 10_000, owner="b")
    place(book, 3, BID, 1, 9_900, owner="c", post_only=True)
    place(book, 4, ASK, 4, 10_200, owner="d", expires_at=300, now=1)
    place(book, 5, ASK, 1, 10_200, owner="e")
    place(book, 6, ASK, 2, 10_100, owner="a")
    place(book, 7, BID, 1, 10_100, owner="f")  # partial fill of 6
    book.amend(AmendOrder(2, quantity=1))
    return book


def test_snapshot_restore_round_trip_gives_the_same_future() -> None:
    book = _busy_book()
    snap = book.snapshot()
    copy = OrderBook.restore(json.loads(json.dumps(snap)))
    copy.check()
    assert copy.snapshot() == snap
    assert copy.seq == book.seq and copy.depth() == book.depth()
    assert copy.checksum() == book.checksum()
    future = [
        PlaceOrder(8, "g", ASK, 5, 9_900),
        AmendOrder(4, quantity=5, price_cents=10_300),
        CancelOrder(5),
        ExpireOrders(400),
        PlaceOrder(9, "h", BID, 10, None, OrderType.MARKET),
        ExpireOrders(1_000),
    ]
    for cmd in future:
        assert copy.handle(cmd) == book.handle(cmd), cmd
    assert copy.snapshot() == book.snapshot()


def test_restore_refuses_an_unknown_format() -> None:
    snap = new_book().snapshot()
    snap["format"] = 99
    with pytest.raises(ValueError, match="format"):
        OrderBook.restore(snap)


# ---------------------------------------------------------------- dispatch


def test_handle_dispatches_and_refuses_non_commands(book: OrderBook) -> None:
    assert kinds(book.handle(PlaceOrder(1, "a", BID, 1, 10_000))) == ["Accepted", "LevelChanged"]
    assert kinds(book.handle(AmendOrder(1, quantity=2))) == ["Amended", "LevelChanged"]
    assert kinds(book.handle(CancelOrder(1))) == ["Canceled", "LevelChanged"]
    assert book.handle(ExpireOrders(5)) == []
    with pytest.raises(TypeError):
        book.handle(("place", 1))  # type: ignore[arg-type]


def test_module_docstring_examples() -> None:
    """The examples of the modules' docstrings run, against the build in use.

    Read from the sources: a module compiled by mypyc carries no doctests.
    """
    import ast
    import doctest
    import importlib
    from pathlib import Path

    import orderbook

    package = Path(orderbook.__file__).parent
    for name in ("book", "checksum"):
        path = package / f"{name}.py"
        docstring = ast.get_docstring(ast.parse(path.read_text()), clean=False)
        assert docstring is not None, name
        globs = dict(vars(importlib.import_module(f"orderbook.{name}")))
        test = doctest.DocTestParser().get_doctest(docstring, globs, name, str(path), 0)
        runner = doctest.DocTestRunner()
        runner.run(test)
        result = runner.summarize(verbose=False)
        assert result.attempted > 0 and result.failed == 0, name


def test_check_detects_a_broken_invariant(book: OrderBook) -> None:
    place(book, 1, BID, 2, 10_000)
    book._bids.levels[10_000].quantity += 1  # white box: corrupt the level total
    with pytest.raises(AssertionError, match="quantity"):
        book.check()
