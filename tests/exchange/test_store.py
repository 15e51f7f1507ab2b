"""The trade store on SQLite and PostgreSQL: upserts, batches, queries, the
in-process writer (the venue's supervised writer: test_storewriter.py)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect

from exchange.store import StoreError, StoreWriter, TradeStore, sqlite_url

T0 = 1_717_200_000_000_000_000  # 2024-06-01T00:00:00Z


def trade(i: int, **kw: Any) -> tuple[str, dict[str, Any]]:
    """A trade op with defaults; keyword arguments override fields."""
    row: dict[str, Any] = {
        "id": i,
        "sku": "DZ5485-612-10",
        "style": "DZ5485-612",
        "price_cents": 20_000 + i,
        "quantity": 1,
        "taker_side": "bid",
        "buy_order_id": 2 * i,
        "sell_order_id": 2 * i + 1,
        "buyer_id": "acc_1",
        "seller_id": "acc_2",
        "time": T0 + i,
        "settlement_status": "awaiting_shipment",
        "ship_by": T0 + i + 48 * 3600 * 10**9,
        "seller_level": 1,
        "buyer_fee_cents": 500,
        "transaction_fee_cents": 1800,
        "processing_fee_cents": 600,
        "buyer_total_cents": 20_500 + i,
        "seller_payout_cents": 17_600 + i,
        "platform_fee_cents": 2900,
        "updated_at": T0 + i,
    }
    row.update(kw)
    return ("trade", row)


def order(i: int, **kw: Any) -> tuple[str, dict[str, Any]]:
    """An order op with defaults."""
    row: dict[str, Any] = {
        "id": i,
        "account_id": "acc_1",
        "client_order_id": f"c{i}",
        "sku": "DZ5485-612-10",
        "side": "bid",
        "type": "limit",
        "time_in_force": "gtc",
        "post_only": False,
        "price_cents": 20_000,
        "quantity": 1,
        "filled_quantity": 0,
        "status": "open",
        "cancel_reason": None,
        "created_at": T0,
        "updated_at": T0,
        "expires_at": None,
    }
    row.update(kw)
    return ("order", row)


def holding(i: int, **kw: Any) -> tuple[str, dict[str, Any]]:
    """A holding op with defaults."""
    row: dict[str, Any] = {
        "id": i,
        "account_id": "acc_1",
        "sku": "DZ5485-612-10",
        "purchase_price_cents": 18_000,
        "acquired_at": T0,
        "condition": "new",
        "source": "manual",
        "trade_id": None,
    }
    row.update(kw)
    return ("holding", row)


def test_tables_and_indexes_exist(store: TradeStore) -> None:
    insp = inspect(store.engine)
    names = set(insp.get_table_names())
    assert {"orders", "trades", "ledger", "holdings", "realized_gains", "meta"} <= names
    trade_indexes = {tuple(ix["column_names"]) for ix in insp.get_indexes("trades")}
    assert ("sku", "time", "id") in trade_indexes
    assert ("buyer_id", "time", "id") in trade_indexes
    assert ("seller_id", "time", "id") in trade_indexes
    order_indexes = {tuple(ix["column_names"]) for ix in insp.get_indexes("orders")}
    assert ("account_id", "status", "id") in order_indexes
    assert ("account_id", "id") in {
        tuple(ix["column_names"]) for ix in insp.get_indexes("holdings")
    }
    assert ("account_id", "id") in {tuple(ix["column_names"]) for ix in insp.get_indexes("ledger")}


def test_upsert_keeps_the_latest_full_row(store: TradeStore) -> None:
    store.write([trade(1), order(1)])
    store.write([trade(1, settlement_status="shipped"), order(1, status="filled")])
    # Same id twice in one batch: the last row wins (PostgreSQL would refuse both).
    store.write([trade(2), trade(2, settlement_status="delivered")])
    rows = {r["id"]: r for r in store.trades_for_sku("DZ5485-612-10")}
    assert rows[1]["settlement_status"] == "shipped"
    assert rows[2]["settlement_status"] == "delivered"
    assert rows[1]["seller_payout_cents"] == 17_601
    assert store.orders_for_account("acc_1")[0]["status"] == "filled"
    assert store.trade_count() == 2


def test_big_values_round_trip(store: TradeStore) -> None:
    big_time = 4_102_444_800_000_000_000  # 2100-01-01 in ns: needs 64 bits
    store.write([trade(2**40, time=big_time, price_cents=10**11)])
    (row,) = store.trades_for_sku("DZ5485-612-10")
    assert (row["id"], row["time"], row["price_cents"]) == (2**40, big_time, 10**11)


def test_batch_is_all_or_nothing(store: TradeStore) -> None:
    with pytest.raises(StoreError):
        store.write([trade(1), ("nonsense", {"id": 1})])
    bad = trade(2)
    bad[1]["sku"] = None  # NOT NULL violated inside the transaction
    with pytest.raises(StoreError):
        store.write([trade(3), bad])
    assert store.trade_count() == 0


def test_trades_for_sku_newest_first_with_range_and_paging(store: TradeStore) -> None:
    store.write([trade(i) for i in range(1, 11)] + [trade(11, sku="OTHER-1")])
    ids = [r["id"] for r in store.trades_for_sku("DZ5485-612-10", limit=3)]
    assert ids == [10, 9, 8]
    ids = [r["id"] for r in store.trades_for_sku("DZ5485-612-10", limit=3, before_id=8)]
    assert ids == [7, 6, 5]
    ids = [r["id"] for r in store.trades_for_sku("DZ5485-612-10", start_ns=T0 + 3, end_ns=T0 + 6)]
    assert ids == [5, 4, 3]  # start inclusive, end exclusive


def test_trades_for_account_as_buyer_or_seller(store: TradeStore) -> None:
    store.write(
        [
            trade(1, buyer_id="acc_7", seller_id="acc_8"),
            trade(2, buyer_id="acc_8", seller_id="acc_7"),
            trade(3, buyer_id="acc_9", seller_id="acc_8"),
            trade(4, buyer_id="acc_7", seller_id="acc_7"),  # self-trade once, not twice
        ]
    )
    assert [r["id"] for r in store.trades_for_account("acc_7", limit=10)] == [4, 2, 1]
    assert [r["id"] for r in store.trades_for_account("acc_7", limit=1)] == [4]
    assert [r["id"] for r in store.trades_for_account("acc_7", limit=10, before_id=4)] == [2, 1]


def test_orders_ledger_holdings_realized(store: TradeStore) -> None:
    store.write(
        [
            order(1),
            order(2, status="filled"),
            order(3, account_id="acc_2"),
            ("ledger", {"id": 1, "account_id": "acc_1", "trade_id": 1, "kind": "charge",
                        "amount_cents": -20_500, "time": T0, "description": "bought"}),
            ("ledger", {"id": 2, "account_id": "acc_2", "trade_id": 1, "kind": "payout",
                        "amount_cents": 17_600, "time": T0, "description": "sold"}),
            holding(1),
            holding(2, sku="X-1"),
            ("realized", {"id": 1, "account_id": "acc_1", "sku": "X-1", "holding_id": 2,
                          "cost_cents": 18_000, "proceeds_cents": 19_000, "gain_cents": 1000,
                          "time": T0 + 5}),
            ("holding_delete", {"id": 2}),
        ]
    )  # fmt: skip
    assert [o["id"] for o in store.orders_for_account("acc_1")] == [2, 1]
    assert [o["id"] for o in store.orders_for_account("acc_1", status="open")] == [1]
    assert [e["amount_cents"] for e in store.ledger_for_account("acc_1")] == [-20_500]
    assert [h["id"] for h in store.holdings_for_account("acc_1")] == [1]
    # soft delete: the sold holding is still there for the value history
    assert [h["id"] for h in store.holdings_for_account("acc_1", include_removed=True)] == [1, 2]
    assert [r["gain_cents"] for r in store.realized_for_account("acc_1")] == [1000]
    # a later full upsert of the holding does not resurrect it
    store.write([holding(2, sku="X-1")])
    assert [h["id"] for h in store.holdings_for_account("acc_1")] == [1]


def test_meta_and_reset(store: TradeStore) -> None:
    assert store.get_meta("last_seq") is None
    assert store.get_meta("last_seq", "0") == "0"
    store.set_meta("last_seq", "41")
    store.write([trade(1), ("meta", {"key": "last_seq", "value": 42})])
    assert store.get_meta("last_seq") == "42"
    store.reset()
    assert store.trade_count() == 0
    assert store.get_meta("last_seq") is None


def test_writer_batches_and_flush_sees_everything(store: TradeStore) -> None:
    writer = StoreWriter(store)
    try:
        for i in range(1, 2001):
            writer.submit([trade(i), order(i, status="filled")])
        writer.flush(timeout=60)
        assert store.trade_count() == 2000
        assert writer.pending == 0
    finally:
        writer.close()


def test_writer_submit_does_not_wait_for_the_database(tmp_path: Path) -> None:
    store = TradeStore(sqlite_url(str(tmp_path)))
    store.create_all()
    gate = threading.Event()
    real_write = store.write

    def slow_write(ops: Any) -> None:
        gate.wait(30)
        real_write(ops)

    store.write = slow_write  # type: ignore[method-assign]
    writer = StoreWriter(store)
    writer.submit([trade(1)])
    writer.submit([trade(2)])  # returns although the first write is stuck
    assert writer.pending == 2
    gate.set()
    writer.flush(timeout=30)
    assert store.trade_count() == 2
    writer.close()


def test_writer_reports_errors_and_keeps_going(
    store: TradeStore, caplog: pytest.LogCaptureFixture
) -> None:
    writer = StoreWriter(store)
    writer.submit([("bogus", {"id": 1})])
    with pytest.raises(StoreError, match="bogus"):
        writer.flush(timeout=30)
    assert "store writer" in caplog.text
    writer.submit([trade(1)])
    writer.flush(timeout=30)  # the error was reported once; the thread lives on
    assert store.trade_count() == 1
    writer.close()
    with pytest.raises(StoreError):
        writer.submit([trade(2)])


def test_sqlite_uses_wal(tmp_path: Path) -> None:
    store = TradeStore(sqlite_url(str(tmp_path)))
    store.create_all()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    assert (tmp_path / "exchange.db").exists()


def test_store_keeps_up_with_thousands_of_trades_per_second(store: TradeStore) -> None:
    ops = [op for i in range(1, 5001) for op in (trade(i), order(i, status="filled"))]
    t0 = time.perf_counter()
    for start in range(0, len(ops), 1000):
        store.write(ops[start : start + 1000])
    elapsed = time.perf_counter() - t0
    assert store.trade_count() == 5000
    # One transaction and one executemany per table per batch: far above 1,000/s
    # even on a busy CI machine; per-row transactions would fail this.
    assert 5000 / elapsed > 1000, f"{5000 / elapsed:.0f} trades/s"
