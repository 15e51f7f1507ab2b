"""The engine: validation, idempotency, fees and ledger, settlement, market data."""

from __future__ import annotations

import pytest

from exchange.commands import (
    AddHolding,
    AmendOrder,
    AuthenticateTrade,
    CancelOrder,
    CreateAccount,
    MarkShipped,
    PlaceOrder,
    RemoveHolding,
    Tick,
    decode_record,
)
from exchange.engine import Engine
from exchange.errors import ExchangeError
from exchange.marketdata import BookUpdate, TradeCanceled, TradePrint
from orderbook.checksum import book_checksum

from .conftest import MS, SKU, SKU2, T0, Driver, product_cmd, rows

HOUR = 3600 * 1_000_000_000


def place_cmd(account: str, **kw: object) -> PlaceOrder:
    fields: dict[str, object] = {
        "account_id": account,
        "client_order_id": None,
        "sku": SKU,
        "side": "bid",
        "order_type": "limit",
        "price_cents": 20_000,
        "quantity": 1,
    }
    fields.update(kw)
    return PlaceOrder(**fields)  # type: ignore[arg-type]


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"sku": "NOPE-1"}, "unknown_sku"),
        ({"price_cents": 20_050}, "off_tick"),
        ({"price_cents": 0}, "price_out_of_band"),
        ({"price_cents": 1_800_100}, "price_out_of_band"),
        ({"quantity": 0}, "quantity_out_of_range"),
        ({"quantity": 101}, "quantity_out_of_range"),
        ({"quantity": True}, "validation_error"),
        ({"price_cents": None}, "missing_price"),
        ({"side": "buy"}, "validation_error"),
        ({"order_type": "stop"}, "validation_error"),
        ({"time_in_force": "day"}, "validation_error"),
        ({"order_type": "market", "post_only": True}, "invalid_order"),
        ({"time_in_force": "ioc", "post_only": True}, "invalid_order"),
        ({"expires_at": T0 - 1}, "expiry_in_past"),
        ({"account_id": "acc_99"}, "unauthorized"),
        ({"client_order_id": ""}, "validation_error"),
    ],
)
def test_bad_orders_change_nothing_and_take_no_seq(
    driver: Driver, traders: tuple[str, str, str], overrides: dict[str, object], code: str
) -> None:
    alice = traders[0]
    driver.place(alice, "ask", 21_000)
    before = driver.engine.snapshot_bytes()
    with pytest.raises(ExchangeError) as info:
        driver.run(place_cmd(alice, **overrides))
    assert info.value.code == code
    assert info.value.message
    assert driver.engine.snapshot_bytes() == before
    assert driver.seq == driver.engine.last_seq  # the failed command took no seq


def test_cancel_and_amend_check_ownership_and_state(
    driver: Driver, traders: tuple[str, str, str]
) -> None:
    alice, bob, _ = traders
    oid = driver.order_id(driver.place(alice, "ask", 21_000, 2))
    before = driver.engine.snapshot_bytes()
    for cmd, code in [
        (CancelOrder(bob, oid), "not_found"),
        (CancelOrder(alice, 999), "not_found"),
        (AmendOrder(bob, oid, quantity=3), "not_found"),
        (AmendOrder(alice, oid), "validation_error"),
        (AmendOrder(alice, oid, price_cents=21_050), "off_tick"),
        (AmendOrder(alice, oid, quantity=101), "quantity_out_of_range"),
    ]:
        with pytest.raises(ExchangeError) as info:
            driver.run(cmd)
        assert info.value.code == code, cmd
    assert driver.engine.snapshot_bytes() == before
    driver.place(bob, "bid", 21_000, 1)  # fills 1 of alice's 2
    with pytest.raises(ExchangeError) as info:
        driver.run(AmendOrder(alice, oid, quantity=1))
    assert info.value.code == "quantity_at_or_below_filled"
    driver.cancel(alice, oid)
    with pytest.raises(ExchangeError) as info:
        driver.cancel(alice, oid)
    assert info.value.code == "order_not_open"


def test_create_account_must_carry_the_next_id(driver: Driver) -> None:
    with pytest.raises(ExchangeError) as info:
        driver.run(CreateAccount("acc_7", "x", "trader", "0" * 64))
    assert info.value.code == "validation_error"
    with pytest.raises(ExchangeError) as info:
        driver.run(CreateAccount("acc_1", "x", "wizard", "0" * 64))
    assert info.value.code == "validation_error"
    assert driver.account("ok") == "acc_1"


def test_duplicate_product_is_refused(driver: Driver) -> None:
    with pytest.raises(ExchangeError) as info:
        driver.run(product_cmd())
    assert info.value.code == "product_exists"


# --------------------------------------------------------------- matching


def test_limit_orders_match_at_the_resting_price(
    driver: Driver, traders: tuple[str, str, str]
) -> None:
    alice, bob, _ = traders
    ask = driver.place(alice, "ask", 20_000, 2)
    assert ask.status == 201
    assert ask.response is not None and ask.response["order"]["status"] == "open"
    bid = driver.place(bob, "bid", 20_500, 1)
    assert bid.response is not None
    order = bid.response["order"]
    assert (order["status"], order["filled_quantity"], order["remaining_quantity"]) == (
        "filled",
        1,
        0,
    )
    (fill,) = bid.response["fills"]
    assert fill["price_cents"] == 20_000
    assert (fill["side"], fill["role"], fill["taker_side"]) == ("bid", "taker", "bid")
    assert fill["buy_order_id"] == order["id"]
    assert fill["sell_order_id"] == ask.response["order"]["id"]
    assert fill["time"] == "2026-01-01T00:00:00.006Z"
    resting = driver.engine.order(alice, ask.response["order"]["id"])
    assert (resting["status"], resting["remaining_quantity"]) == ("open", 1)
    assert driver.engine.resting_orders() == 1


def test_market_orders_never_rest(driver: Driver, traders: tuple[str, str, str]) -> None:
    alice, bob, _ = traders
    empty = driver.place(bob, "bid", None, 1, order_type="market")
    assert empty.status == 201
    assert empty.response is not None
    assert empty.response["order"]["status"] == "canceled"
    assert empty.response["order"]["cancel_reason"] == "market_remainder"
    assert empty.md == []  # nothing changed on the book
    driver.place(alice, "ask", 20_000, 1)
    driver.place(alice, "ask", 30_000, 1)
    # Buy Now with price protection at 25,000: takes one, the rest is canceled.
    out = driver.place(bob, "bid", 25_000, 2, order_type="market")
    assert out.response is not None
    order = out.response["order"]
    assert (order["status"], order["filled_quantity"], order["cancel_reason"]) == (
        "canceled",
        1,
        "market_remainder",
    )
    assert [f["price_cents"] for f in out.response["fills"]] == [20_000]


def test_market_orders_say_ioc_in_the_answer_the_row_and_the_store(
    driver: Driver, traders: tuple[str, str, str]
) -> None:
    alice, bob, _ = traders
    driver.place(alice, "ask", 20_000, 1)
    out = driver.place(bob, "bid", None, 2, order_type="market", client_order_id="buy-now")
    assert out.response is not None
    order = out.response["order"]
    assert order["time_in_force"] == "ioc"
    stored = {r["id"]: r["time_in_force"] for r in rows(out, "order")}
    assert stored[order["id"]] == "ioc" and len(stored) == 2  # the maker's stays gtc
    row = driver.engine.order_row(order["id"])
    assert row is not None and row.time_in_force == "ioc"
    assert driver.engine.order(bob, order["id"])["time_in_force"] == "ioc"
    # The same body again (gtc by default) is the same order, not a reuse.
    again = PlaceOrder(bob, "buy-now", SKU, "bid", "market", None, 2)
    replayed = driver.engine.idempotent_replay(again, driver.ts)
    assert replayed is not None and replayed["order"]["id"] == order["id"]
    # A market FOK stays FOK; a limit GTC stays GTC.
    fok = driver.place(bob, "bid", None, 1, order_type="market", tif="fok")
    assert fok.response is not None and fok.response["order"]["time_in_force"] == "fok"
    gtc = driver.place(bob, "bid", 19_000, 1)
    assert gtc.response is not None and gtc.response["order"]["time_in_force"] == "gtc"


def test_fok_and_post_only_outcomes_are_journaled(
    driver: Driver, traders: tuple[str, str, str]
) -> None:
    alice, bob, _ = traders
    driver.place(alice, "ask", 20_000, 1)
    seq = driver.engine.last_seq
    fok = driver.place(bob, "bid", 20_000, 2, tif="fok", client_order_id="f1")
    assert fok.response is not None
    assert (fok.response["order"]["status"], fok.response["order"]["cancel_reason"]) == (
        "canceled",
        "fok_unfillable",
    )
    assert fok.status == 201 and fok.seq == seq + 1
    assert fok.md == [] and fok.trades == 0
    post = driver.place(bob, "bid", 20_000, 1, post_only=True, client_order_id="p1")
    assert post.response is not None
    assert (post.response["order"]["status"], post.response["order"]["cancel_reason"]) == (
        "rejected",
        "post_only_would_take",
    )
    assert post.order_status == "rejected"
    # Both used up their client_order_id: a different body is a 409.
    with pytest.raises(ExchangeError) as info:
        driver.place(bob, "bid", 19_000, 1, client_order_id="p1")
    assert info.value.code == "client_order_id_reused"
    assert driver.engine.resting_orders() == 1


def test_self_trade_cancels_the_resting_order(
    driver: Driver, traders: tuple[str, str, str]
) -> None:
    alice, bob, _ = traders
    mine = driver.order_id(driver.place(alice, "ask", 20_000, 1))
    driver.place(bob, "ask", 20_100, 1)
    out = driver.place(alice, "bid", 20_100, 1)
    assert out.response is not None
    assert out.response["fills"][0]["price_cents"] == 20_100
    row = driver.engine.order_row(mine)
    assert row is not None
    assert (row.status, row.cancel_reason) == ("canceled", "self_trade")


def test_amend_keeps_or_loses_priority_and_may_trade(
    driver: Driver, traders: tuple[str, str, str]
) -> None:
    alice, bob, carol = traders
    a = driver.order_id(driver.place(alice, "ask", 21_000, 3))
    driver.place(carol, "ask", 21_000, 1)
    out = driver.run(AmendOrder(alice, a, quantity=2))  # lower: keeps priority
    assert out.response is not None
    assert out.response["order"]["quantity"] == 2
    (book,) = out.md
    assert isinstance(book, BookUpdate) and book.changes == (("ask", 21_000, 3),)
    fill = driver.place(bob, "bid", 21_000, 1)
    assert fill.response is not None
    assert fill.response["fills"][0]["sell_order_id"] == a  # still first in line
    # A price change into the bids trades as a taker.
    b = driver.order_id(driver.place(bob, "bid", 20_000, 1))
    moved = driver.run(AmendOrder(alice, a, price_cents=20_000))
    assert moved.response is not None
    assert moved.response["order"]["price_cents"] == 20_000
    assert moved.response["order"]["status"] == "filled"
    (f,) = moved.response["fills"]
    assert (f["buy_order_id"], f["role"], f["price_cents"]) == (b, "taker", 20_000)


def test_expiry_runs_on_tick(driver: Driver, traders: tuple[str, str, str]) -> None:
    alice = traders[0]
    expires = T0 + HOUR
    oid = driver.order_id(driver.place(alice, "ask", 20_000, 1, expires_at=expires))
    assert driver.engine.next_due() == expires
    assert driver.run(Tick(), ts=expires - 1).md == []
    out = driver.run(Tick(), ts=expires)
    order = driver.engine.order(alice, oid)
    assert (order["status"], order["cancel_reason"], order["remaining_quantity"]) == (
        "expired",
        "expired",
        0,
    )
    (book,) = out.md
    assert isinstance(book, BookUpdate) and book.changes == (("ask", 20_000, 0),)
    assert driver.engine.next_due() is None


# ------------------------------------------------------------- idempotency


def test_same_body_replays_the_first_answer(driver: Driver, traders: tuple[str, str, str]) -> None:
    alice, bob, _ = traders
    driver.place(alice, "ask", 20_000, 1)
    day = 86_400 * 10**9
    first = driver.place(
        bob, "bid", 20_000, 2, client_order_id="c-1", expires_at=T0 + HOUR + day, ts=T0 + HOUR
    )
    assert first.response is not None
    # Later, the same body (its expiry is relative: the same number of days).
    later = T0 + 5 * HOUR
    cmd = place_cmd(bob, client_order_id="c-1", quantity=2, expires_at=later + 86_400 * 10**9)
    answer = driver.engine.idempotent_replay(cmd, later)
    assert answer is not None
    assert answer["order"]["id"] == first.response["order"]["id"]
    assert answer["fills"] == first.response["fills"]
    # Another account may use the same client_order_id.
    assert driver.engine.idempotent_replay(place_cmd(alice, client_order_id="c-1"), later) is None
    # An amend changes the order, not what the body said.
    driver.run(AmendOrder(bob, first.response["order"]["id"], quantity=3))
    answer = driver.engine.idempotent_replay(cmd, later)
    assert answer is not None and answer["order"]["quantity"] == 3
    for other in [
        place_cmd(bob, client_order_id="c-1", quantity=3, expires_at=later + 86_400 * 10**9),
        place_cmd(bob, client_order_id="c-1", quantity=2, expires_at=None),
        place_cmd(
            bob, client_order_id="c-1", quantity=2, side="ask", expires_at=later + 86_400 * 10**9
        ),
    ]:
        with pytest.raises(ExchangeError) as info:
            driver.engine.idempotent_replay(other, later)
        assert info.value.code == "client_order_id_reused"


def test_client_order_ids_survive_a_snapshot(driver: Driver, traders: tuple[str, str, str]) -> None:
    bob = traders[1]
    driver.place(bob, "bid", 20_000, 1, client_order_id="keep")
    restored = Engine.restore_bytes(driver.engine.snapshot_bytes())
    assert restored.idempotent_replay(place_cmd(bob, client_order_id="keep"), T0) is not None
    with pytest.raises(ExchangeError):
        restored.idempotent_replay(place_cmd(bob, client_order_id="keep", quantity=5), T0)


# ------------------------------------------------------------ fees, ledger


def _trade(driver: Driver, seller: str, buyer: str, price: int = 20_000, qty: int = 1) -> int:
    driver.place(seller, "ask", price, qty)
    out = driver.place(buyer, "bid", price, qty)
    assert out.response is not None
    tid: int = out.response["fills"][0]["id"]
    return tid


def _delivered(driver: Driver, seller: str, buyer: str, auth: str, price: int = 20_000) -> int:
    tid = _trade(driver, seller, buyer, price)
    driver.run(MarkShipped(seller, tid))
    driver.run(AuthenticateTrade(auth, tid, True))
    return tid


def test_fees_and_ledger_at_match(driver: Driver, traders: tuple[str, str, str]) -> None:
    alice, bob, _ = traders
    driver.place(alice, "ask", 20_000, 2)
    out = driver.place(bob, "bid", 20_000, 2)
    (trade,) = rows(out, "trade")
    # Level 1 seller: 9% transaction, 3% processing, $5.00 buyer fee per item.
    assert trade["transaction_fee_cents"] == 3_600
    assert trade["processing_fee_cents"] == 1_200
    assert trade["buyer_fee_cents"] == 1_000
    assert trade["buyer_total_cents"] == 41_000
    assert trade["seller_payout_cents"] == 35_200
    assert trade["platform_fee_cents"] == 5_800
    assert trade["buyer_total_cents"] == trade["seller_payout_cents"] + trade["platform_fee_cents"]
    assert trade["ship_by"] == out.ts + 48 * HOUR
    assert (out.trades, out.traded_cents, out.fees_cents) == (1, 40_000, 5_800)
    ledger = {(e["account_id"], e["kind"]): e["amount_cents"] for e in rows(out, "ledger")}
    assert ledger == {(bob, "charge"): -41_000, ("platform", "fee"): 5_800}
    assert [e["amount_cents"] for e in driver.engine.ledger(bob)] == [-41_000]
    seller_view = driver.engine.trades(alice)[0]
    assert (seller_view["side"], seller_view["role"], seller_view["seller_payout_cents"]) == (
        "ask",
        "maker",
        35_200,
    )


def test_settlement_delivered_pays_and_moves_holdings(
    driver: Driver, traders: tuple[str, str, str]
) -> None:
    alice, bob, _ = traders
    auth = driver.account("checker", role="authenticator")
    # Alice owned one pair before (FIFO will take it out on delivery).
    driver.run(AddHolding(alice, SKU, 15_000, T0 - 10 * HOUR, "new"))
    tid = _trade(driver, alice, bob)
    with pytest.raises(ExchangeError) as info:
        driver.run(MarkShipped(bob, tid))  # the buyer cannot ship
    assert info.value.code == "not_found"
    with pytest.raises(ExchangeError) as info:
        driver.run(AuthenticateTrade(auth, tid, True))  # not shipped yet
    assert info.value.code == "invalid_settlement_transition"
    shipped = driver.run(MarkShipped(alice, tid))
    assert shipped.response is not None and shipped.response["settlement_status"] == "shipped"
    with pytest.raises(ExchangeError) as info:
        driver.run(AuthenticateTrade(bob, tid, True))
    assert info.value.code == "forbidden"
    done = driver.run(AuthenticateTrade(auth, tid, True))
    assert done.response is not None and done.response["settlement_status"] == "delivered"
    assert [(e["kind"], e["amount_cents"]) for e in driver.engine.ledger(alice)] == [
        ("payout", 17_600)
    ]
    (holding,) = rows(done, "holding")
    assert (holding["account_id"], holding["purchase_price_cents"], holding["source"]) == (
        bob,
        20_500,
        "exchange",
    )
    (realized,) = rows(done, "realized")
    assert (realized["cost_cents"], realized["proceeds_cents"], realized["gain_cents"]) == (
        15_000,
        17_600,
        2_600,
    )
    assert rows(done, "holding_delete") == [{"id": realized["holding_id"]}]
    assert driver.engine.portfolios.holdings(alice) == []
    # Everything about the trade sums to zero once it is delivered.
    all_entries = [e for _, e in driver.engine.store_rows() if "kind" in e and e["trade_id"] == tid]
    assert sum(e["amount_cents"] for e in all_entries) == 0


def test_failed_authentication_refunds_and_penalizes(
    driver: Driver, traders: tuple[str, str, str]
) -> None:
    alice, bob, _ = traders
    auth = driver.account("checker", role="authenticator")
    tid = _trade(driver, alice, bob)
    driver.run(MarkShipped(alice, tid))
    out = driver.run(AuthenticateTrade(auth, tid, False))
    assert out.response is not None and out.response["settlement_status"] == "canceled"
    kinds = sorted((e["account_id"], e["kind"], e["amount_cents"]) for e in rows(out, "ledger"))
    assert kinds == sorted(
        [
            (bob, "refund", 20_500),
            ("platform", "fee", -2_900),
            (alice, "penalty", -3_000),
            ("platform", "penalty", 3_000),
        ]
    )
    assert driver.engine.seller_stats.totals(alice, out.ts) == (0, 0)


def test_ship_deadline_is_enforced_by_tick(driver: Driver, traders: tuple[str, str, str]) -> None:
    alice, bob, _ = traders
    tid = _trade(driver, alice, bob)
    trade = driver.engine.trade_row(tid)
    assert trade is not None
    ship_by = trade.ship_by
    assert driver.engine.next_due() == ship_by + 1
    with pytest.raises(ExchangeError) as info:
        driver.run(MarkShipped(alice, tid), ts=ship_by + 1)
    assert info.value.code == "ship_deadline_passed"
    assert rows(driver.run(Tick(), ts=ship_by), "trade") == []  # on time until ship_by
    out = driver.run(Tick(), ts=ship_by + 1)
    (row,) = rows(out, "trade")
    assert row["settlement_status"] == "canceled"
    assert {(e["account_id"], e["kind"]) for e in rows(out, "ledger")} == {
        (bob, "refund"),
        ("platform", "fee"),
        (alice, "penalty"),
        ("platform", "penalty"),
    }
    assert driver.engine.next_due() is None


def test_shipping_on_time_stops_the_deadline(driver: Driver, traders: tuple[str, str, str]) -> None:
    alice, bob, _ = traders
    tid = _trade(driver, alice, bob)
    shipped = driver.run(MarkShipped(alice, tid))
    # What is due next is the authentication deadline, 72 h after shipping.
    assert driver.engine.next_due() == shipped.ts + 72 * HOUR + 1
    trade = driver.engine.trade_row(tid)
    assert trade is not None
    assert rows(driver.run(Tick(), ts=trade.ship_by + HOUR), "trade") == []


def test_an_unauthenticated_shipment_times_out_without_penalty(
    driver: Driver, traders: tuple[str, str, str]
) -> None:
    alice, bob, _ = traders
    tid = _trade(driver, alice, bob)
    shipped = driver.run(MarkShipped(alice, tid))
    due = shipped.ts + driver.engine.authenticate_deadline_ns
    assert rows(driver.run(Tick(), ts=due), "trade") == []  # on time until the deadline
    auth = driver.account("late", role="authenticator")
    out = driver.run(Tick(), ts=due + 1)
    (row,) = rows(out, "trade")
    assert row["settlement_status"] == "canceled"
    # The buyer is refunded and the fee reversed; the seller shipped in time: no penalty.
    assert sorted((e["account_id"], e["kind"], e["amount_cents"]) for e in rows(out, "ledger")) == [
        (bob, "refund", 20_500),
        ("platform", "fee", -2_900),
    ]
    assert [e["kind"] for e in driver.engine.ledger(alice)] == []
    (ev,) = out.md
    assert isinstance(ev, TradeCanceled) and ev.trade_id == tid
    assert driver.engine.next_due() is None
    with pytest.raises(ExchangeError) as info:
        driver.run(AuthenticateTrade(auth, tid, True))
    assert info.value.code == "invalid_settlement_transition"


def test_the_authenticate_deadline_is_configurable_and_survives_a_snapshot(
    traders: tuple[str, str, str], driver: Driver
) -> None:
    alice, bob, _ = traders
    restored = Engine.restore_bytes(driver.engine.snapshot_bytes())
    assert restored.authenticate_deadline_ns == 72 * HOUR
    driver.engine.authenticate_deadline_ns = 5 * HOUR
    tid = _trade(driver, alice, bob)
    shipped = driver.run(MarkShipped(alice, tid))
    assert driver.engine.next_due() == shipped.ts + 5 * HOUR + 1
    # A later change of the setting does not move a shipped trade's deadline.
    driver.engine.authenticate_deadline_ns = 1 * HOUR
    again = Engine.restore_bytes(driver.engine.snapshot_bytes())
    assert again.next_due() == shipped.ts + 5 * HOUR + 1
    assert again.authenticate_deadline_ns == 1 * HOUR


def test_a_version_2_snapshot_is_read(driver: Driver, traders: tuple[str, str, str]) -> None:
    import orjson

    alice, bob, _ = traders
    tid = _trade(driver, alice, bob)
    shipped = driver.run(MarkShipped(alice, tid))
    data = orjson.loads(driver.engine.snapshot_bytes())
    # What version 2 wrote: no authenticate deadline, no authenticate_by.
    data["version"] = 2
    del data["authenticate_deadline_ns"]
    for item in data["settling"]:
        del item["authenticate_by"]
    old = Engine.restore(data)
    assert old.snapshot_bytes() == driver.engine.snapshot_bytes()
    assert old.next_due() == shipped.ts + 72 * HOUR + 1
    with pytest.raises(ValueError):
        Engine.restore({**data, "version": 1})


def test_a_party_never_authenticates_its_own_trade(
    driver: Driver, traders: tuple[str, str, str]
) -> None:
    alice, bob, _ = traders
    seller = driver.account("seller-checker", role="authenticator")
    buyer = driver.account("buyer-admin", role="admin")
    as_seller = _trade(driver, seller, bob)
    as_buyer = _trade(driver, alice, buyer)
    driver.run(MarkShipped(seller, as_seller))
    driver.run(MarkShipped(alice, as_buyer))
    before = driver.engine.snapshot_bytes()
    for who, tid in [(seller, as_seller), (buyer, as_buyer)]:
        for passed in (True, False):
            with pytest.raises(ExchangeError) as info:
                driver.run(AuthenticateTrade(who, tid, passed))
            assert info.value.code == "forbidden"
            assert info.value.message == (
                f"You are a party to trade {tid}: its authentication is someone else's."
            )
    assert driver.engine.snapshot_bytes() == before
    # Anyone with the role who is not a party may: each authenticates the other's.
    assert driver.run(AuthenticateTrade(buyer, as_seller, True)).response is not None
    assert driver.run(AuthenticateTrade(seller, as_buyer, False)).response is not None


def test_fee_levels_count_only_delivered_sales(
    driver: Driver, traders: tuple[str, str, str]
) -> None:
    alice, bob, _ = traders
    auth = driver.account("checker", role="authenticator")
    # Twelve matches between two accounts lift nothing while undelivered.
    tids = [_trade(driver, alice, bob, price=10_000) for _ in range(12)]
    assert driver.engine.seller_level(alice, driver.ts) == 1
    assert driver.engine.seller_stats.totals(alice, driver.ts) == (0, 0)
    for tid in tids[:11]:
        driver.run(MarkShipped(alice, tid))
        driver.run(AuthenticateTrade(auth, tid, True))
    assert driver.engine.seller_stats.totals(alice, driver.ts) == (11, 11 * 10_000)
    assert driver.engine.seller_level(alice, driver.ts) == 1
    # The twelfth fails authentication: still not a sale.
    driver.run(MarkShipped(alice, tids[11]))
    driver.run(AuthenticateTrade(auth, tids[11], False))
    assert driver.engine.seller_level(alice, driver.ts) == 1
    _delivered(driver, alice, bob, auth, price=10_000)
    assert driver.engine.seller_level(alice, driver.ts) == 2


def test_holdings_add_and_remove(driver: Driver, traders: tuple[str, str, str]) -> None:
    alice, bob, _ = traders
    out = driver.run(AddHolding(alice, SKU, 12_345, T0 - HOUR, "used"))
    assert out.response is not None and out.status == 201
    hid = out.response["id"]
    assert out.response["acquired_at"] == "2025-12-31T23:00:00.000Z"
    with pytest.raises(ExchangeError) as info:
        driver.run(RemoveHolding(bob, hid))
    assert info.value.code == "not_found"
    with pytest.raises(ExchangeError) as info:
        driver.run(AddHolding(alice, SKU, 1, T0, "mint"))
    assert info.value.code == "validation_error"
    with pytest.raises(ExchangeError) as info:
        driver.run(AddHolding(alice, "NOPE", 1, T0, "new"))
    assert info.value.code == "unknown_sku"
    driver.run(RemoveHolding(alice, hid))
    assert driver.engine.portfolios.holdings(alice) == []


# ------------------------------------------------------------ market data


def test_market_data_sequences_are_gap_free_per_sku(
    driver: Driver, traders: tuple[str, str, str]
) -> None:
    alice, bob, carol = traders
    events = []
    for out in [
        driver.place(alice, "ask", 20_000, 1),
        driver.place(alice, "ask", 20_100, 1, sku=SKU2),
        driver.place(carol, "ask", 20_100, 2),
        driver.place(bob, "bid", 20_100, 2),  # two trades then one book batch
        driver.place(bob, "bid", 19_000, 1),
        driver.place(bob, "bid", 20_100, 1, sku=SKU2),
    ]:
        events.extend(out.md)
    for sku in (SKU, SKU2):
        mine = [e for e in events if e.sku == sku]
        assert [e.sequence for e in mine] == list(range(1, len(mine) + 1))
        last = {BookUpdate: 0, TradePrint: 0}
        for e in mine:
            assert e.prev_sequence == last[type(e)]
            last[type(e)] = e.sequence
    sku_events = [e for e in events if e.sku == SKU]
    kinds = [type(e).__name__ for e in sku_events]
    assert kinds == [
        "BookUpdate",
        "BookUpdate",
        "TradePrint",
        "TradePrint",
        "BookUpdate",
        "BookUpdate",
    ]
    batch = sku_events[4]
    assert isinstance(batch, BookUpdate)
    assert batch.changes == (("ask", 20_000, 0), ("ask", 20_100, 1))
    assert batch.checksum == book_checksum([(20_100, 1)], [])
    assert driver.engine.md_sequences(SKU) == (6, 6, 4)
    bids, asks = driver.engine.book_levels(SKU)
    assert (bids, asks) == ([(19_000, 1, 1)], [(20_100, 1, 1)])


def test_outcome_store_ops_are_copies(driver: Driver, traders: tuple[str, str, str]) -> None:
    alice, bob, _ = traders
    out = driver.place(alice, "ask", 20_000, 2)
    (row,) = rows(out, "order")
    driver.place(bob, "bid", 20_000, 1)
    assert row["filled_quantity"] == 0  # the later fill did not reach the earlier row


def test_wire_shapes(driver: Driver, traders: tuple[str, str, str]) -> None:
    alice, bob, _ = traders
    out = driver.place(alice, "ask", 20_000, 1, expires_at=T0 + 86_400 * 10**9)
    assert out.response is not None
    assert set(out.response["order"]) == {
        "id",
        "client_order_id",
        "sku",
        "side",
        "type",
        "time_in_force",
        "post_only",
        "price_cents",
        "quantity",
        "filled_quantity",
        "remaining_quantity",
        "status",
        "cancel_reason",
        "created_at",
        "updated_at",
        "expires_at",
    }
    assert out.response["order"]["expires_at"] == "2026-01-02T00:00:00.000Z"
    fill = driver.place(bob, "bid", 20_000, 1)
    assert fill.response is not None
    assert {
        "id",
        "sku",
        "price_cents",
        "quantity",
        "taker_side",
        "buy_order_id",
        "sell_order_id",
        "time",
        "settlement_status",
        "side",
        "role",
        "ship_by",
        "fee_cents",
    } <= set(fill.response["fills"][0])
    public = driver.engine.public_trades(SKU)
    assert len(public) == 1 and "buyer_id" not in public[0]
    assert driver.ts == T0 + 6 * MS


def test_seller_level_query_changes_nothing(driver: Driver, traders: tuple[str, str, str]) -> None:
    alice, bob, _ = traders
    auth = driver.account("checker", role="authenticator")
    for _ in range(12):
        _delivered(driver, alice, bob, auth)
    assert driver.engine.seller_level(alice, driver.ts) == 2  # 12 sales in 90 days
    before = driver.engine.snapshot_bytes()
    assert driver.engine.seller_level(alice, driver.ts + 91 * 24 * HOUR) == 1
    assert driver.engine.snapshot_bytes() == before
    # The level at match time sets the transaction fee: 8.5% at level 2.
    tid = _trade(driver, alice, bob)
    trade = driver.engine.trade_row(tid)
    assert trade is not None
    assert (trade.seller_level, trade.transaction_fee_cents) == (2, 1_700)


def test_book_update_checksums_match_the_book(
    driver: Driver, traders: tuple[str, str, str]
) -> None:
    """The engine skips recomputing a checksum when only deep levels change."""
    import random

    rng = random.Random(11)
    open_ids: list[tuple[str, int]] = []
    checked = 0
    for _ in range(1500):
        who = rng.choice(traders)
        if open_ids and rng.random() < 0.3:
            owner, oid = open_ids.pop(rng.randrange(len(open_ids)))
            try:
                out = driver.cancel(owner, oid)
            except ExchangeError:
                continue
        else:
            side = rng.choice(["bid", "ask"])
            # Wide prices: many levels, most changes deep in the book.
            base = 20_000 if side == "ask" else 19_000
            price = base + (1 if side == "ask" else -1) * 100 * rng.randrange(0, 40)
            if rng.random() < 0.05:
                price = 19_500  # sometimes cross
            out = driver.place(who, side, price, rng.randrange(1, 3))
            assert out.response is not None
            if out.response["order"]["status"] == "open":
                open_ids.append((who, out.response["order"]["id"]))
        for ev in out.md:
            if isinstance(ev, BookUpdate):
                assert ev.checksum == driver.engine.books[SKU].checksum()
                checked += 1
    assert checked > 1000


def test_canceled_settlement_publishes_trade_canceled_in_sequence(
    driver: Driver, traders: tuple[str, str, str]
) -> None:
    alice, bob, carol = traders
    auth = driver.account("checker", role="authenticator")
    overdue_id = _trade(driver, alice, bob, price=20_000)
    failed_id = _trade(driver, carol, bob, price=20_100, qty=2)
    driver.run(MarkShipped(carol, failed_id))
    failed = driver.run(AuthenticateTrade(auth, failed_id, False))
    overdue_row = driver.engine.trade_row(overdue_id)
    assert overdue_row is not None
    overdue = driver.run(Tick(), ts=overdue_row.ship_by + 1)
    (ev1,) = failed.md
    (ev2,) = overdue.md
    assert failed.md_orders == [None] and overdue.md_orders == [None]
    # Two trades and their book batches came before: 6 events, the last trade at 5.
    assert ev1 == TradeCanceled(SKU, 7, 5, failed_id, 20_100, 2, failed.ts)
    assert ev2 == TradeCanceled(SKU, 8, 7, overdue_id, 20_000, 1, overdue.ts)
    assert driver.engine.md_sequences(SKU) == (8, 6, 8)
    # The next trade continues the chain after the cancels.
    driver.place(alice, "ask", 20_000, 1)
    out = driver.place(bob, "bid", 20_000, 1)
    trade = next(e for e in out.md if isinstance(e, TradePrint))
    assert (trade.sequence, trade.prev_sequence) == (10, 8)
    # A replay (no events built) ends with the same sequences, byte for byte.
    replayed = Engine()
    replayed.live = False
    for seq, payload in driver.journal:
        ts, cmd = decode_record(payload)
        assert replayed.apply(seq, ts, cmd).md == []
    assert replayed.md_sequences(SKU) == driver.engine.md_sequences(SKU)
    assert replayed.snapshot_bytes() == driver.engine.snapshot_bytes()


def test_open_orders_per_account_are_limited(driver: Driver, traders: tuple[str, str, str]) -> None:
    alice, bob, _ = traders
    driver.engine.max_open_orders = 3
    ids = [driver.order_id(driver.place(alice, "bid", 19_000 + 100 * i)) for i in range(3)]
    before = driver.engine.snapshot_bytes()
    with pytest.raises(ExchangeError) as info:
        driver.place(alice, "bid", 18_000)
    assert (info.value.code, info.value.status) == ("open_order_limit", 422)
    assert "at most 3 open orders" in info.value.message
    assert driver.engine.snapshot_bytes() == before
    # Orders that never rest are not limited; another account is not either.
    driver.place(alice, "bid", 18_000, tif="ioc")
    driver.place(alice, "bid", None, order_type="market")
    driver.place(bob, "bid", 18_000)
    # Canceled, filled or expired orders free their place.
    driver.cancel(alice, ids[0])
    freed = driver.place(alice, "bid", 18_000)
    driver.place(bob, "ask", 19_200)  # fills alice's best bid
    driver.place(alice, "bid", 17_000)
    with pytest.raises(ExchangeError):
        driver.place(alice, "bid", 17_100)
    # The count is rebuilt from a snapshot.
    restored = Engine.restore_bytes(driver.engine.snapshot_bytes())
    restored.max_open_orders = 3
    with pytest.raises(ExchangeError) as again:
        restored.validate(place_cmd(alice, price_cents=17_100), driver.ts)
    assert again.value.code == "open_order_limit"
    assert driver.order_id(freed) > ids[-1]


def test_portfolio_holdings_per_account_are_limited(
    driver: Driver, traders: tuple[str, str, str]
) -> None:
    alice, bob, _ = traders
    driver.engine.max_holdings = 2
    first = driver.run(AddHolding(alice, SKU, 12_000, T0 - HOUR))
    driver.run(AddHolding(alice, SKU, 12_000, T0 - HOUR))
    with pytest.raises(ExchangeError) as info:
        driver.run(AddHolding(alice, SKU, 12_000, T0 - HOUR))
    assert (info.value.code, info.value.status) == ("holding_limit", 422)
    assert "at most 2 items" in info.value.message
    driver.run(AddHolding(bob, SKU, 12_000, T0 - HOUR))
    assert first.response is not None
    driver.run(RemoveHolding(alice, first.response["id"]))
    driver.run(AddHolding(alice, SKU, 12_000, T0 - HOUR))
