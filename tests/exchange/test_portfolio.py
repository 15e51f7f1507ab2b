"""Portfolios: manual items, delivered purchases and sales (FIFO), realized gains."""

from __future__ import annotations

import pytest

from exchange.errors import ExchangeError
from exchange.portfolio import (
    Condition,
    Holding,
    HoldingSource,
    Portfolios,
    RealizedGain,
    check_manual,
    parse_condition,
)

SKU = "DZ5485-612-10"


def ids(holdings: list[Holding]) -> list[int]:
    return [h.id for h in holdings]


def test_manual_item() -> None:
    p = Portfolios()
    h = p.add_manual("acc_1", SKU, 20_000, acquired_at=100)
    assert h == Holding(1, "acc_1", SKU, 20_000, 100, Condition.NEW, HoldingSource.MANUAL, None)
    assert h.to_row() == {
        "id": 1,
        "account_id": "acc_1",
        "sku": SKU,
        "purchase_price_cents": 20_000,
        "acquired_at": 100,
        "condition": "new",
        "source": "manual",
        "trade_id": None,
    }
    used = p.add_manual("acc_1", SKU, 9_000, acquired_at=90, condition="used")
    assert used.id == 2 and used.condition is Condition.USED
    assert ids(p.holdings("acc_1")) == [1, 2] and p.holdings("acc_2") == []
    assert p.get(2) == used and p.get(3) is None and len(p) == 2


@pytest.mark.parametrize(
    ("price", "acquired_at", "condition", "words"),
    [
        (-1, 0, "new", "purchase_price_cents"),
        (100.0, 0, "new", "purchase_price_cents"),
        (True, 0, "new", "purchase_price_cents"),
        ("100", 0, "new", "purchase_price_cents"),
        (10**11, 0, "new", "purchase_price_cents"),
        (100, 1.5, "new", "acquired_at"),
        (100, -1, "new", "acquired_at"),
        (100, 0, "mint", "condition"),
        (100, 0, 1, "condition"),
    ],
)
def test_manual_items_are_validated(
    price: object, acquired_at: object, condition: object, words: str
) -> None:
    with pytest.raises(ExchangeError) as exc:
        check_manual(price, acquired_at, condition)
    assert exc.value.code == "validation_error" and words in exc.value.message
    p = Portfolios()
    with pytest.raises(ExchangeError):
        p.add_manual("acc_1", SKU, price, acquired_at, condition)  # type: ignore[arg-type]
    assert len(p) == 0
    assert p.add_manual("acc_1", SKU, 0, 0).id == 1  # a refusal used no id; a gift costs 0


def test_condition_defaults_to_new() -> None:
    assert parse_condition(None) is Condition.NEW
    assert parse_condition("used") is Condition.USED
    assert check_manual(0, 0, None) is Condition.NEW


def test_remove_manual_only_own_hand_added_items() -> None:
    p = Portfolios()
    mine = p.add_manual("acc_1", SKU, 20_000, 100)
    bought = p.on_delivered_purchase("acc_1", SKU, 25_500, 1, trade_id=7, time=200)[0]
    for account, holding_id in [("acc_2", mine.id), ("acc_1", bought.id), ("acc_1", 99)]:
        with pytest.raises(ExchangeError) as exc:
            p.remove_manual(account, holding_id)
        assert exc.value.code == "not_found" and exc.value.status == 404
    assert ids(p.holdings("acc_1")) == [1, 2]
    assert p.check_remove_manual("acc_1", mine.id) == mine
    assert p.remove_manual("acc_1", mine.id) == mine
    assert ids(p.holdings("acc_1")) == [2]
    with pytest.raises(ExchangeError):
        p.remove_manual("acc_1", mine.id)


def test_delivered_purchase_adds_one_holding_per_unit() -> None:
    p = Portfolios()
    added = p.on_delivered_purchase("acc_1", SKU, 25_500, 2, trade_id=7, time=200)
    assert added == [
        Holding(1, "acc_1", SKU, 25_500, 200, Condition.NEW, HoldingSource.EXCHANGE, 7),
        Holding(2, "acc_1", SKU, 25_500, 200, Condition.NEW, HoldingSource.EXCHANGE, 7),
    ]
    assert p.holdings("acc_1") == added


def test_delivered_sale_removes_oldest_first_and_records_gains() -> None:
    p = Portfolios()
    p.add_manual("acc_1", SKU, 20_000, acquired_at=100)  # id 1
    p.on_delivered_purchase("acc_1", SKU, 25_500, 2, trade_id=7, time=200)  # ids 2, 3
    p.add_manual("acc_1", SKU, 15_000, acquired_at=50, condition="used")  # id 4, the oldest
    p.add_manual("acc_1", "OTHER-OS", 1_000, acquired_at=1)  # id 5, another SKU
    p.add_manual("acc_2", SKU, 1_000, acquired_at=1)  # id 6, another account

    removed, gains = p.on_delivered_sale("acc_1", SKU, 22_000, 2, time=300)
    assert ids(removed) == [4, 1]
    assert gains == [
        RealizedGain(1, "acc_1", SKU, 4, 15_000, 22_000, 7_000, 300),
        RealizedGain(2, "acc_1", SKU, 1, 20_000, 22_000, 2_000, 300),
    ]
    assert ids(p.holdings("acc_1")) == [2, 3, 5]

    # Selling more than held: the holdings run out, the extra unit records nothing.
    removed, gains = p.on_delivered_sale("acc_1", SKU, 22_000, 3, time=400)
    assert ids(removed) == [2, 3]
    assert [(g.id, g.holding_id, g.gain_cents) for g in gains] == [(3, 2, -3_500), (4, 3, -3_500)]
    assert ids(p.holdings("acc_1")) == [5]
    assert p.on_delivered_sale("acc_1", SKU, 22_000, 1, time=500) == ([], [])
    assert [g.id for g in p.realized("acc_1")] == [1, 2, 3, 4]
    assert sum(g.gain_cents for g in p.realized("acc_1")) == 7_000 + 2_000 - 7_000
    assert p.realized("acc_2") == [] and ids(p.holdings("acc_2")) == [6]
    assert gains[0].to_row() == {
        "id": 3,
        "account_id": "acc_1",
        "sku": SKU,
        "holding_id": 2,
        "cost_cents": 25_500,
        "proceeds_cents": 22_000,
        "gain_cents": -3_500,
        "time": 400,
    }


def test_fifo_ties_go_to_the_lower_id() -> None:
    p = Portfolios()
    p.on_delivered_purchase("acc_1", SKU, 100, 1, trade_id=1, time=10)
    p.add_manual("acc_1", SKU, 200, acquired_at=10)
    removed, _ = p.on_delivered_sale("acc_1", SKU, 300, 1, time=20)
    assert ids(removed) == [1]


def test_snapshot_round_trip_keeps_ids_and_fifo() -> None:
    p = Portfolios()
    p.add_manual("acc_1", SKU, 20_000, acquired_at=100)
    p.on_delivered_purchase("acc_2", SKU, 25_500, 2, trade_id=7, time=200)
    p.add_manual("acc_1", SKU, 15_000, acquired_at=50)
    p.on_delivered_sale("acc_2", SKU, 22_000, 1, time=300)
    data = p.to_dict()
    assert data["next_holding_id"] == 5 and data["next_realized_id"] == 2
    assert [h["id"] for h in data["holdings"]] == [1, 3, 4]
    restored = Portfolios.from_dict(data)
    assert restored.to_dict() == data
    for q in (p, restored):
        removed, gains = q.on_delivered_sale("acc_1", SKU, 30_000, 1, time=400)
        assert ids(removed) == [4] and gains[0].id == 2
        assert q.add_manual("acc_3", SKU, 1, 1).id == 5
    assert restored.to_dict() == p.to_dict()
