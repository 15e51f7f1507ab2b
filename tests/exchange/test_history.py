"""History reads: page parameters, the engine/store merge, the store's paged queries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text

from exchange.errors import ExchangeError
from exchange.history import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    HistoryReader,
    Page,
    ensure_schema,
    merge_page,
    parse_order_status,
    parse_page,
    parse_settlement_status,
)
from exchange.store import TradeStore, sqlite_url

from .test_store import order, trade


def test_parse_page_defaults_bounds_and_bad_values() -> None:
    assert parse_page() == Page(DEFAULT_LIMIT, None)
    assert parse_page("", "") == Page(DEFAULT_LIMIT, None)
    assert parse_page("7", "42") == Page(7, 42)
    assert parse_page(MAX_LIMIT, 1) == Page(MAX_LIMIT, 1)
    for limit, before in (
        ("0", None),
        (str(MAX_LIMIT + 1), None),
        ("x", None),
        ("1.5", None),
        (None, "0"),
        (None, "-3"),
        (None, "abc"),
        (None, "9" * 30),
        (True, None),
    ):
        with pytest.raises(ExchangeError) as info:
            parse_page(limit, before)
        assert info.value.code == "validation_error"


def test_status_filters() -> None:
    assert parse_order_status(None) is None
    assert parse_order_status("filled") == "filled"
    assert parse_settlement_status("shipped") == "shipped"
    for bad in ("FILLED", "done", 3):
        with pytest.raises(ExchangeError):
            parse_order_status(bad)
    with pytest.raises(ExchangeError):
        parse_settlement_status("open")


def _render(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "from": "store"}


def test_merge_prefers_the_engine_and_drops_rows_it_still_holds() -> None:
    live = [{"id": 9, "from": "engine"}, {"id": 5, "from": "engine"}]
    # 8 is held by the engine but did not match its filter: a stale store row.
    stored = [{"id": 9}, {"id": 8}, {"id": 7}, {"id": 3}]
    rows, nxt = merge_page(live, stored, Page(3), held=lambda i: i in (9, 8, 5), render=_render)
    assert rows == [
        {"id": 9, "from": "engine"},
        {"id": 7, "from": "store"},
        {"id": 5, "from": "engine"},
    ]
    assert nxt == 5
    rows, nxt = merge_page(live, stored, Page(3, before=5), held=lambda i: False, render=_render)
    assert [r["id"] for r in rows] == [3] and nxt is None


def _pages(reader_page: Any, limit: int) -> list[int]:
    """Every id of a paged query, following next_before to the end."""
    seen: list[int] = []
    before = None
    while True:
        page = Page(limit, before)
        rows, before = merge_page(
            [], reader_page(page), page, held=lambda i: False, render=lambda r: r
        )
        seen.extend(r["id"] for r in rows)
        if before is None:
            return seen


def test_store_pages_newest_first_with_filters(store: TradeStore) -> None:
    ensure_schema(store)
    reader = HistoryReader(store)
    ops = [
        order(
            i,
            status="filled" if i % 3 else "canceled",
            sku="DZ5485-612-10" if i % 2 else "DZ5485-612-11",
        )
        for i in range(1, 51)
    ]
    ops += [order(100, account_id="acc_9", status="filled")]
    ops += [
        trade(
            i,
            buyer_id="acc_1" if i % 2 else "acc_3",
            seller_id="acc_2",
            settlement_status="delivered" if i % 4 else "canceled",
        )
        for i in range(1, 41)
    ]
    ops += [
        (
            "ledger",
            {
                "id": i,
                "account_id": "acc_1",
                "trade_id": i,
                "kind": "charge",
                "amount_cents": -100,
                "time": i,
                "description": "x",
            },
        )
        for i in range(1, 31)
    ]
    store.write(ops)
    assert _pages(lambda p: reader.orders_page("acc_1", p), 7) == list(range(50, 0, -1))
    assert _pages(lambda p: reader.orders_page("acc_1", p, status="canceled"), 4) == [
        i for i in range(50, 0, -1) if i % 3 == 0
    ]
    assert _pages(lambda p: reader.orders_page("acc_1", p, sku="DZ5485-612-11"), 10) == [
        i for i in range(50, 0, -1) if i % 2 == 0
    ]
    assert _pages(lambda p: reader.trades_page("acc_1", p), 6) == [
        i for i in range(40, 0, -1) if i % 2
    ]
    assert _pages(lambda p: reader.trades_page("acc_2", p, settlement_status="canceled"), 3) == [
        i for i in range(40, 0, -1) if i % 4 == 0
    ]
    assert _pages(lambda p: reader.trades_page(None, p, sku="DZ5485-612-10"), 9) == list(
        range(40, 0, -1)
    )
    assert _pages(lambda p: reader.ledger_page("acc_1", p), 30) == list(range(30, 0, -1))
    assert len(reader.orders_page("acc_1", Page(5))) == 6  # limit + 1: "more follow"


def test_lookups_by_id_key_and_first_fills(store: TradeStore) -> None:
    ensure_schema(store)
    reader = HistoryReader(store)
    t = trade(1)[1]["time"]
    store.write(
        [
            order(
                4,
                client_order_id="k",
                status="filled",
                created_at=t,
                placed_quantity=2,
                placed_price_cents=20_000,
            ),
            trade(1, buy_order_id=4, buyer_id="acc_1"),
            trade(2, buy_order_id=4, buyer_id="acc_1", time=t),
            trade(3, buy_order_id=4, buyer_id="acc_1", time=t + 5),  # a later maker fill
        ]
    )
    row = reader.order_by_key("acc_1", "k")
    assert row is not None and row["id"] == 4 and row["placed_quantity"] == 2
    assert reader.order_by_key("acc_2", "k") is None
    assert reader.order(4) == row and reader.order(5) is None
    assert reader.trade(2) is not None and reader.trade(9) is None
    assert [r["id"] for r in reader.first_fills(row)] == [1, 2]


def test_ensure_schema_upgrades_an_older_store(tmp_path: Path) -> None:
    url = sqlite_url(str(tmp_path))
    old = create_engine(url)
    with old.begin() as conn:  # the orders table as it was before the placed columns
        conn.execute(
            text(
                "CREATE TABLE orders (id BIGINT PRIMARY KEY, account_id VARCHAR "
                "NOT NULL, client_order_id VARCHAR, sku VARCHAR NOT NULL, side VARCHAR"
                " NOT NULL, type VARCHAR NOT NULL, time_in_force VARCHAR, post_only "
                "BOOLEAN, price_cents BIGINT, quantity BIGINT NOT NULL, "
                "filled_quantity BIGINT NOT NULL, status VARCHAR NOT NULL, "
                "cancel_reason VARCHAR, created_at BIGINT NOT NULL, updated_at BIGINT,"
                " expires_at BIGINT)"
            )
        )
    old.dispose()
    store = TradeStore(url)
    store.create_all()
    ensure_schema(store)
    ensure_schema(store)  # idempotent
    cols = {c["name"] for c in inspect(store.engine).get_columns("orders")}
    assert {"placed_price_cents", "placed_quantity"} <= cols
    indexes = {tuple(ix["column_names"]) for ix in inspect(store.engine).get_indexes("orders")}
    assert ("account_id", "client_order_id") in indexes
    store.write([order(1, status="filled", placed_quantity=1, placed_price_cents=20_000)])
    assert HistoryReader(store).order(1) is not None
    store.close()
