"""The trade store: orders' states, trades, ledger, holdings and realized gains in SQL.

CONTRACT. The engine emits, per command, a list of *store ops* ``(kind,
row)``; rows are full rows (upsert by ``id``) whose keys are the columns of
the table models below (:class:`OrderRow`, :class:`TradeRow`,
:class:`LedgerRow`, :class:`HoldingRow`, :class:`RealizedRow`; a missing
key is NULL). Times are int nanoseconds since the epoch, money int cents,
ids ints (account ids are strings ``"acc_<n>"``)::

    ("order", {...})  ("trade", {...})  ("ledger", {...})  ("holding", {...})
    ("holding_delete", {"id"})  ("realized", {...})  ("meta", {"key", "value"})

``meta`` is an extra kind so that a batch can record, in the same
transaction, the last journal ``seq`` it reflects (``last_seq``: the
store's position, which only moves past what was written).

- :class:`TradeStore` (sync; call it from a thread, never from the event
  loop): :meth:`TradeStore.write` applies one batch in ONE transaction with
  ``INSERT ... ON CONFLICT (id) DO UPDATE`` (SQLite and PostgreSQL dialects),
  one ``executemany`` per table. Rows of the same id inside one batch are
  coalesced, the last one winning (rows are full rows, so that is the final
  state, and PostgreSQL refuses to touch one row twice in one statement).
  Writing a batch twice leaves the same rows, so a retried batch is safe.
- ``holding_delete`` is a *soft* delete: the row stays with ``removed`` set,
  so that the portfolio history can still value what was held on past days
  (a holding with a realized-gain row was held until that sale's time; a
  removed holding without one was a hand-added item taken back, and counts
  nowhere). :meth:`TradeStore.holdings_for_account` returns live ones only.
- The venue's writer, which follows the journal's store outbox and retries
  until a write succeeds, is :mod:`exchange.storewriter`.
  :class:`StoreWriter` here is a small in-process writer for tools and tests
  (a background thread draining a queue; ``flush`` raises a write error).

URLs: ``sqlite:///<data_dir>/exchange.db`` (the default; WAL journal,
``synchronous=NORMAL``) or ``postgresql+psycopg://...``. With ``schema=`` a
PostgreSQL store lives in that schema (created if missing; tests use a unique
one each).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, Index, String, event, func, select, text
from sqlalchemy import delete as sa_delete
from sqlalchemy import update as sa_update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.schema import Table
from sqlmodel import Field, SQLModel, create_engine

__all__ = [
    "HoldingRow",
    "LedgerRow",
    "MetaRow",
    "OrderRow",
    "RealizedRow",
    "StoreError",
    "StoreOp",
    "StoreWriter",
    "TradeRow",
    "TradeStore",
    "sqlite_url",
]

log = logging.getLogger(__name__)

StoreOp = tuple[str, dict[str, Any]]


def _big(*, primary_key: bool = False, nullable: bool = True, index: bool = False) -> Any:
    """A BIGINT column: ns times and ids overflow 32 bits."""
    if primary_key:
        return Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    return Field(default=None, sa_column=Column(BigInteger, nullable=nullable, index=index))


def _str(*, nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(String, nullable=nullable))


class OrderRow(SQLModel, table=True):
    """An order's latest state (one row per order id)."""

    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_account_status", "account_id", "status", "id"),)

    id: int = _big(primary_key=True)
    account_id: str = _str(nullable=False)
    client_order_id: str | None = _str()
    sku: str = _str(nullable=False)
    side: str = _str(nullable=False)
    type: str = _str(nullable=False)
    time_in_force: str | None = _str()
    post_only: bool | None = Field(default=None, sa_column=Column(Boolean))
    price_cents: int | None = _big()
    quantity: int = _big(nullable=False)
    filled_quantity: int = _big(nullable=False)
    status: str = _str(nullable=False)
    cancel_reason: str | None = _str()
    created_at: int = _big(nullable=False)
    updated_at: int | None = _big()
    expires_at: int | None = _big()
    # As placed, for comparing a repeated client_order_id (exchange.history).
    placed_price_cents: int | None = _big()
    placed_quantity: int | None = _big()


class TradeRow(SQLModel, table=True):
    """One match: a physical item sold, with its fees and settlement state."""

    __tablename__ = "trades"
    __table_args__ = (
        Index("ix_trades_sku_time", "sku", "time", "id"),
        Index("ix_trades_style_time", "style", "time"),
        Index("ix_trades_buyer_time", "buyer_id", "time", "id"),
        Index("ix_trades_seller_time", "seller_id", "time", "id"),
        Index("ix_trades_time", "time", "id"),
    )

    id: int = _big(primary_key=True)
    sku: str = _str(nullable=False)
    style: str | None = _str()
    price_cents: int = _big(nullable=False)
    quantity: int = _big(nullable=False)
    taker_side: str = _str(nullable=False)
    buy_order_id: int | None = _big()
    sell_order_id: int | None = _big()
    buyer_id: str | None = _str()
    seller_id: str | None = _str()
    time: int = _big(nullable=False)
    settlement_status: str = _str(nullable=False)
    ship_by: int | None = _big()
    seller_level: int | None = _big()
    buyer_fee_cents: int | None = _big()
    transaction_fee_cents: int | None = _big()
    processing_fee_cents: int | None = _big()
    buyer_total_cents: int | None = _big()
    seller_payout_cents: int | None = _big()
    platform_fee_cents: int | None = _big()
    updated_at: int | None = _big()


class LedgerRow(SQLModel, table=True):
    """One money movement of an account, tied to a trade (signed cents)."""

    __tablename__ = "ledger"
    __table_args__ = (Index("ix_ledger_account", "account_id", "id"),)

    id: int = _big(primary_key=True)
    account_id: str = _str(nullable=False)
    trade_id: int | None = _big()
    kind: str = _str(nullable=False)
    amount_cents: int = _big(nullable=False)
    time: int = _big(nullable=False)
    description: str | None = _str()


class HoldingRow(SQLModel, table=True):
    """One item in a collector's portfolio; ``removed`` marks a soft delete."""

    __tablename__ = "holdings"
    __table_args__ = (Index("ix_holdings_account", "account_id", "id"),)

    id: int = _big(primary_key=True)
    account_id: str = _str(nullable=False)
    sku: str = _str(nullable=False)
    purchase_price_cents: int = _big(nullable=False)
    acquired_at: int = _big(nullable=False)
    condition: str = _str(nullable=False)
    source: str = _str(nullable=False)
    trade_id: int | None = _big()
    removed: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=text("false"))
    )


class RealizedRow(SQLModel, table=True):
    """A holding sold through the exchange: payout minus cost."""

    __tablename__ = "realized_gains"
    __table_args__ = (Index("ix_realized_account", "account_id", "time"),)

    id: int = _big(primary_key=True)
    account_id: str = _str(nullable=False)
    sku: str = _str(nullable=False)
    holding_id: int | None = _big(index=True)
    cost_cents: int = _big(nullable=False)
    proceeds_cents: int = _big(nullable=False)
    gain_cents: int = _big(nullable=False)
    time: int = _big(nullable=False)


class MetaRow(SQLModel, table=True):
    """Key/value facts about the store, e.g. the last journal seq applied."""

    __tablename__ = "meta"

    key: str = Field(sa_column=Column(String, primary_key=True))
    value: str = _str(nullable=False)


def _table(model: type[SQLModel]) -> Table:
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


ORDERS = _table(OrderRow)
TRADES = _table(TradeRow)
LEDGER = _table(LedgerRow)
HOLDINGS = _table(HoldingRow)
REALIZED = _table(RealizedRow)
META = _table(MetaRow)
TABLES: tuple[Table, ...] = (ORDERS, TRADES, LEDGER, HOLDINGS, REALIZED, META)

# op kind -> table it upserts into (holding_delete and meta are handled apart).
_UPSERT: dict[str, Table] = {
    "order": ORDERS,
    "trade": TRADES,
    "ledger": LEDGER,
    "holding": HOLDINGS,
    "realized": REALIZED,
}
# The columns an op row carries: every column but the store's own ``removed``.
_COLUMNS: dict[str, tuple[str, ...]] = {
    kind: tuple(c.name for c in table.columns if c.name != "removed")
    for kind, table in _UPSERT.items()
}


class StoreError(Exception):
    """A batch of store ops could not be written (bad op, database failure)."""


def sqlite_url(data_dir: str) -> str:
    """The default store URL for a data directory."""
    return f"sqlite:///{data_dir}/exchange.db"


def _row_dict(row: Any) -> dict[str, Any]:
    return dict(row._mapping)


class TradeStore:
    """SQL store of the venue's records (SQLite or PostgreSQL), synchronous.

    Args:
        url: SQLAlchemy URL, ``sqlite:///path`` or ``postgresql+psycopg://...``.
        schema: PostgreSQL only: keep the tables in this schema (created on
            :meth:`create_all`), via the connection's ``search_path``.
    """

    def __init__(self, url: str, *, schema: str | None = None) -> None:
        self.url = url
        self.schema = schema
        kwargs: dict[str, Any] = {}
        self.dialect_name = url.split(":", 1)[0].split("+", 1)[0]
        if self.dialect_name == "sqlite":
            # The writer thread and readers share the engine.
            kwargs["connect_args"] = {"check_same_thread": False}
        else:
            # A database that is down must answer (or fail) in bounded time:
            # reads give up and the writer retries, neither hangs.
            connect_args: dict[str, Any] = {"connect_timeout": 5}
            if schema is not None:
                connect_args["options"] = f"-csearch_path={schema}"
            kwargs["connect_args"] = connect_args
        self.engine: Engine = create_engine(url, **kwargs)
        if self.dialect_name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._insert = sqlite.insert if self.dialect_name == "sqlite" else postgresql.insert

    # -- schema ------------------------------------------------------------

    def create_all(self) -> None:
        """Create the schema (if given), tables and indexes that are missing."""
        if self.schema is not None and self.dialect_name == "postgresql":
            with self.engine.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
        SQLModel.metadata.create_all(self.engine, tables=list(TABLES))

    def reset(self) -> None:
        """Delete every row of every table (before a rebuild from the journal)."""
        with self.engine.begin() as conn:
            for table in TABLES:
                conn.execute(sa_delete(table))

    def drop_all(self) -> None:
        """Drop the tables (and the schema, if the store has its own)."""
        if self.schema is not None and self.dialect_name == "postgresql":
            with self.engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
        else:
            SQLModel.metadata.drop_all(self.engine, tables=list(TABLES))

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    # -- writes ------------------------------------------------------------

    def write(self, ops: Iterable[StoreOp]) -> None:
        """Apply a batch of ops in one transaction (all or nothing).

        Raises:
            StoreError: an unknown op kind or a failed write; nothing of the
                batch is committed then.
        """
        upserts: dict[str, dict[int, dict[str, Any]]] = {kind: {} for kind in _UPSERT}
        deletes: list[int] = []
        meta: dict[str, str] = {}
        for kind, row in ops:
            if kind in upserts:
                cols = _COLUMNS[kind]
                upserts[kind][row["id"]] = {c: row.get(c) for c in cols}
            elif kind == "holding_delete":
                deletes.append(row["id"])
            elif kind == "meta":
                meta[str(row["key"])] = str(row["value"])
            else:
                raise StoreError(f"unknown store op kind {kind!r}")
        try:
            with self.engine.begin() as conn:
                for kind, rows in upserts.items():
                    if rows:
                        self._upsert(conn, _UPSERT[kind], list(rows.values()))
                if deletes:
                    conn.execute(
                        sa_update(HOLDINGS).where(HOLDINGS.c.id.in_(deletes)).values(removed=True)
                    )
                if meta:
                    self._upsert(
                        conn, META, [{"key": k, "value": v} for k, v in meta.items()], key="key"
                    )
        except Exception as exc:  # the database's own errors vary by driver
            raise StoreError(f"store write failed: {exc}") from exc

    def _upsert(
        self, conn: Connection, table: Table, rows: list[dict[str, Any]], key: str = "id"
    ) -> None:
        stmt = self._insert(table)
        cols = [c for c in rows[0] if c != key]
        stmt = stmt.on_conflict_do_update(
            index_elements=[key], set_={c: stmt.excluded[c] for c in cols}
        )
        conn.execute(stmt, rows)

    def set_meta(self, key: str, value: str) -> None:
        """Set one meta value (own transaction)."""
        self.write([("meta", {"key": key, "value": value})])

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        """One meta value, or ``default`` when unset."""
        with self.engine.connect() as conn:
            value = conn.execute(select(META.c.value).where(META.c.key == key)).scalar()
        return default if value is None else str(value)

    # -- queries -----------------------------------------------------------

    def _all(self, stmt: Any) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [_row_dict(r) for r in conn.execute(stmt)]

    def trades_for_sku(
        self,
        sku: str,
        start_ns: int | None = None,
        end_ns: int | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """A SKU's trades (canceled ones included), newest first.

        Args:
            start_ns: only trades at or after this time.
            end_ns: only trades before this time.
            limit: at most this many.
            before_id: only trades with a smaller id (paging: pass the last id seen).
        """
        stmt = select(TRADES).where(TRADES.c.sku == sku)
        if start_ns is not None:
            stmt = stmt.where(TRADES.c.time >= start_ns)
        if end_ns is not None:
            stmt = stmt.where(TRADES.c.time < end_ns)
        if before_id is not None:
            stmt = stmt.where(TRADES.c.id < before_id)
        stmt = stmt.order_by(TRADES.c.time.desc(), TRADES.c.id.desc()).limit(limit)
        return self._all(stmt)

    def trades_for_account(
        self, account_id: str, limit: int = 100, before_id: int | None = None
    ) -> list[dict[str, Any]]:
        """Trades where the account bought or sold, newest first (paging by id)."""
        rows: dict[int, dict[str, Any]] = {}
        # Two index range scans (buyer, seller) beat one OR scan on both engines.
        for column in (TRADES.c.buyer_id, TRADES.c.seller_id):
            stmt = select(TRADES).where(column == account_id)
            if before_id is not None:
                stmt = stmt.where(TRADES.c.id < before_id)
            stmt = stmt.order_by(TRADES.c.time.desc(), TRADES.c.id.desc()).limit(limit)
            for row in self._all(stmt):
                rows[row["id"]] = row
        ordered = sorted(rows.values(), key=lambda r: (r["time"], r["id"]), reverse=True)
        return ordered[:limit]

    def orders_for_account(
        self, account_id: str, status: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """The account's orders (optionally of one status), newest id first."""
        stmt = select(ORDERS).where(ORDERS.c.account_id == account_id)
        if status is not None:
            stmt = stmt.where(ORDERS.c.status == status)
        stmt = stmt.order_by(ORDERS.c.id.desc())
        if limit is not None:
            stmt = stmt.limit(limit)
        return self._all(stmt)

    def ledger_for_account(self, account_id: str) -> list[dict[str, Any]]:
        """The account's ledger entries in the order they were recorded."""
        stmt = select(LEDGER).where(LEDGER.c.account_id == account_id).order_by(LEDGER.c.id)
        return self._all(stmt)

    def holdings_for_account(
        self, account_id: str, *, include_removed: bool = False
    ) -> list[dict[str, Any]]:
        """The account's holdings by id (live ones unless ``include_removed``)."""
        stmt = select(HOLDINGS).where(HOLDINGS.c.account_id == account_id)
        if not include_removed:
            stmt = stmt.where(HOLDINGS.c.removed == False)  # noqa: E712 (SQL, not Python)
        return self._all(stmt.order_by(HOLDINGS.c.id))

    def realized_for_account(self, account_id: str) -> list[dict[str, Any]]:
        """The account's realized gains, oldest first."""
        stmt = (
            select(REALIZED)
            .where(REALIZED.c.account_id == account_id)
            .order_by(REALIZED.c.time, REALIZED.c.id)
        )
        return self._all(stmt)

    def trade_count(self) -> int:
        """Number of trade rows (canceled ones included)."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(TRADES)).scalar_one())


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers run while the writer thread commits; NORMAL syncs at
    # checkpoints only, which is safe because the journal is the source of truth.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


class _Writer:
    """What both writers share: the submit queue, counters, flush and errors.

    A subclass starts whatever drains ``_queue`` (``None`` ends it), counts
    committed lists in ``_done`` under ``_cond`` (notifying it), keeps a
    write error in ``_error``, and says in :meth:`_stopped` when nothing
    will drain the queue any more.
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Sequence[StoreOp] | None] = queue.SimpleQueue()
        self._cond = threading.Condition()
        self._submitted = 0
        self._done = 0
        self._error: BaseException | None = None
        self._closed = False

    def _stopped(self) -> bool:
        raise NotImplementedError

    def submit(self, ops: Sequence[StoreOp]) -> None:
        """Queue one list of ops; returns at once (never blocks on the database)."""
        if self._closed:
            raise StoreError("store writer is closed")
        with self._cond:
            self._submitted += 1
        self._queue.put(ops)

    def flush(self, timeout: float | None = None) -> None:
        """Block until everything submitted so far is committed.

        Raises:
            StoreError: a batch failed since the last flush (the error is
                reported once, then cleared), the writer died, or the
                timeout passed.
        """
        with self._cond:
            target = self._submitted
            ok = self._cond.wait_for(lambda: self._done >= target or self._stopped(), timeout)
        if not ok:
            self._raise_error()
            raise StoreError("store writer flush timed out")
        self._raise_error(target)

    def _raise_error(self, target: int | None = None) -> None:
        """Raise the kept write error, or StoreError when lists below ``target`` were lost."""
        with self._cond:
            error, self._error = self._error, None
            lost = target is not None and self._done < target
        if error is not None:
            raise StoreError(f"store writer failed: {error}") from error
        if lost:
            raise StoreError("store writer died; its ops were not written")

    @property
    def pending(self) -> int:
        """Lists submitted but not yet committed."""
        with self._cond:
            return self._submitted - self._done


class StoreWriter(_Writer):
    """Writes store ops off the caller's thread, in batches, in submit order.

    Args:
        store: the store to write to.
        max_batch: at most this many submitted lists per transaction.
    """

    def __init__(self, store: TradeStore, *, max_batch: int = 10_000) -> None:
        super().__init__()
        self.store = store
        self.max_batch = max_batch
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()

    def _stopped(self) -> bool:
        return not self._thread.is_alive()

    def close(self) -> None:
        """Write what is queued, stop the thread, and raise a pending error."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()
        self._raise_error()

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            try:
                self.store.write(op for ops in batch for op in ops)
            except Exception as exc:  # kept for flush(); the thread must live on
                log.exception("store writer: a batch of %d op lists failed", len(batch))
                with self._cond:
                    self._error = exc
            with self._cond:
                self._done += len(batch)
                self._cond.notify_all()
