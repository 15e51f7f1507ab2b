"""Helpers for the engine, recovery and venue tests: a driver with defaults.

:class:`Driver` plays the venue's part around a bare :class:`Engine`: it
validates, assigns ``seq`` and ``ts`` (advancing 1 ms per command unless told
otherwise), applies, and keeps the journal payloads it would have written, so
recovery tests can replay them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exchange.accounts import hash_api_key
from exchange.commands import (
    CancelOrder,
    Command,
    CreateAccount,
    CreateProduct,
    PlaceOrder,
    encode_record,
)
from exchange.engine import Engine, Outcome
from exchange.store import TradeStore, sqlite_url

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
MS = 1_000_000
STYLE = "DZ5485-612"
SKU = "DZ5485-612-10"
SKU2 = "DZ5485-612-11"


def product_cmd(
    style: str = STYLE, retail: int = 18_000, sizes: tuple[str, ...] = ("10", "11")
) -> CreateProduct:
    """A CreateProduct with the catalog's default rules (100-cent ticks)."""
    return CreateProduct(
        style=style,
        name="Jordan 1 Retro High OG Chicago Lost & Found",
        brand="Jordan",
        category="sneakers",
        retail_price_cents=retail,
        release_date="2022-11-19",
        sizes=sizes,
        tick_size_cents=100,
        min_price_cents=100,
        max_price_cents=1_800_000,
        max_quantity=100,
    )


class Driver:
    """Runs commands through an engine as the venue would (validate, seq, ts, apply)."""

    def __init__(self, engine: Engine | None = None, ts: int = T0) -> None:
        self.engine = engine or Engine()
        self.ts = ts
        self.seq = self.engine.last_seq
        self.journal: list[tuple[int, bytes]] = []

    def run(self, cmd: Command, *, ts: int | None = None) -> Outcome:
        """Validate (raising ExchangeError), then journal and apply ``cmd``."""
        now = self.ts + MS if ts is None else ts
        self.engine.validate(cmd, now)
        self.ts = now
        self.seq += 1
        self.journal.append((self.seq, encode_record(now, cmd)))
        return self.engine.apply(self.seq, now, cmd)

    def account(self, name: str = "trader", role: str = "trader") -> str:
        """Create an account and return its id."""
        account_id = self.engine.next_account_id()
        self.run(CreateAccount(account_id, name, role, hash_api_key(f"key-{account_id}")))
        return account_id

    def place(
        self,
        account_id: str,
        side: str,
        price: int | None,
        quantity: int = 1,
        *,
        sku: str = SKU,
        order_type: str = "limit",
        tif: str = "gtc",
        post_only: bool = False,
        expires_at: int | None = None,
        client_order_id: str | None = None,
        ts: int | None = None,
    ) -> Outcome:
        """Place an order with defaults (a GTC limit of one unit)."""
        cmd = PlaceOrder(
            account_id=account_id,
            client_order_id=client_order_id,
            sku=sku,
            side=side,
            order_type=order_type,
            price_cents=price,
            quantity=quantity,
            time_in_force=tif,
            post_only=post_only,
            expires_at=expires_at,
        )
        return self.run(cmd, ts=ts)

    def cancel(self, account_id: str, order_id: int) -> Outcome:
        """Cancel an order."""
        return self.run(CancelOrder(account_id, order_id))

    def order_id(self, out: Outcome) -> int:
        """The id of the order an outcome placed."""
        assert out.response is not None
        oid: int = out.response["order"]["id"]
        return oid


@pytest.fixture
def driver() -> Driver:
    """An engine with one product (SKUs DZ5485-612-10 and -11) and no accounts."""
    d = Driver()
    d.run(product_cmd())
    return d


@pytest.fixture
def traders(driver: Driver) -> tuple[str, str, str]:
    """Three trader accounts (acc_1..acc_3) on the driver's engine."""
    return driver.account("alice"), driver.account("bob"), driver.account("carol")


@pytest.fixture
def tmp_data_dir(tmp_path: Path) -> Iterator[Path]:
    """A fresh data directory."""
    path = tmp_path / "data"
    path.mkdir()
    yield path


def rows(outcome: Outcome, kind: str) -> list[dict[str, Any]]:
    """The store rows of one kind in an outcome."""
    return [row for k, row in outcome.store_ops if k == kind]


HOUR_NS = 3600 * 1_000_000_000


# -- trade stores on both backends -------------------------------------------

STORE_BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def open_test_store(backend: str, tmp_path: Path) -> TradeStore:
    """A new, created store on ``backend`` ("sqlite" or "postgresql").

    PostgreSQL gets a unique schema (the caller drops it with ``drop_all``);
    its URL comes from EXCHANGE_TEST_DATABASE_URL, whose absence fails the
    test under CI and skips it elsewhere.
    """
    if backend == "sqlite":
        store = TradeStore(sqlite_url(str(tmp_path)))
    else:
        url = os.environ.get("EXCHANGE_TEST_DATABASE_URL")
        if not url:
            if os.environ.get("CI") == "true":
                pytest.fail("EXCHANGE_TEST_DATABASE_URL must be set in CI")
            pytest.skip("EXCHANGE_TEST_DATABASE_URL is not set")
        store = TradeStore(url, schema=f"t_{uuid.uuid4().hex[:12]}")
    store.create_all()
    return store


@pytest.fixture(params=STORE_BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TradeStore]:
    """An empty store on each backend, dropped after the test."""
    s = open_test_store(request.param, tmp_path)
    try:
        yield s
    finally:
        s.drop_all()
        s.close()
