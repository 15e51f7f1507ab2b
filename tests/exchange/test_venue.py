"""The venue service on a real data dir with fsync on: ack after durability."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from exchange.errors import ExchangeError
from exchange.journal import DataDirLocked
from exchange.marketdata import BookUpdate, MarketDataEvent, TradePrint
from exchange.venue import Venue, VenueConfig, open_offline

SKU = "DZ5485-612-10"


def config(data_dir: Path, **kw: Any) -> VenueConfig:
    return VenueConfig(data_dir=data_dir, fsync=True, tick_interval=3600, **kw)


def ask(price: int, qty: int = 1, **kw: Any) -> dict[str, Any]:
    return {"sku": SKU, "side": "ask", "type": "limit", "price_cents": price, "quantity": qty, **kw}


def bid(price: int, qty: int = 1, **kw: Any) -> dict[str, Any]:
    return {"sku": SKU, "side": "bid", "type": "limit", "price_cents": price, "quantity": qty, **kw}


async def two_traders(venue: Venue) -> tuple[Any, Any]:
    a = await venue.create_account("alice")
    b = await venue.create_account("bob")
    return venue.authenticate(a["api_key"]), venue.authenticate(b["api_key"])


async def test_place_match_ack_close_and_reopen(tmp_data_dir: Path) -> None:
    venue = await Venue.open(config(tmp_data_dir))
    assert venue.ready and venue.sku_exists(SKU)
    alice, bob = await two_traders(venue)
    assert alice is not None and bob is not None
    status, placed = await venue.place_order(alice, ask(20_000, 2, client_order_id="a1"))
    assert status == 201 and placed["order"]["status"] == "open"
    # Acknowledged only once durable.
    assert venue.journal.durable_seq >= venue.engine.last_seq
    status, matched = await venue.place_order(bob, bid(20_000))
    assert status == 201
    assert matched["order"]["status"] == "filled"
    (fill,) = matched["fills"]
    assert fill["price_cents"] == 20_000 and fill["side"] == "bid"
    assert venue.book(SKU) == {"sku": SKU, "sequence": 3, "bids": [], "asks": [[20_000, 1, 1]]}
    assert [t["id"] for t in venue.public_trades(SKU, 10)] == [fill["id"]]
    assert [t["id"] for t in venue.list_trades(alice)] == [fill["id"]]
    # Idempotent replay: 200 with the order's current state.
    status, again = await venue.place_order(alice, ask(20_000, 2, client_order_id="a1"))
    assert status == 200
    assert again["order"]["id"] == placed["order"]["id"]
    assert again["order"]["filled_quantity"] == 1
    with pytest.raises(ExchangeError) as info:
        await venue.place_order(alice, ask(20_100, 2, client_order_id="a1"))
    assert info.value.code == "client_order_id_reused"
    state = venue.engine.snapshot_bytes()
    products = venue.products()
    await venue.close()

    venue = await Venue.open(config(tmp_data_dir))
    try:
        assert venue.engine.snapshot_bytes() == state
        assert venue.products() == products  # the demo catalog is journaled once
        assert venue.book(SKU)["asks"] == [[20_000, 1, 1]]
        assert venue.book(SKU)["sequence"] == 3
        assert venue.authenticate("nope") is None
        await venue.flush_store()
        assert venue.analytics is not None
        assert venue.analytics.store.trade_count() == 1
    finally:
        await venue.close()


async def test_bad_input_is_refused_before_the_journal(tmp_data_dir: Path) -> None:
    venue = await Venue.open(config(tmp_data_dir, store=False))
    try:
        alice, _ = await two_traders(venue)
        last = venue.journal.last_seq
        cases = [
            ({**ask(20_000), "colour": "red"}, "unknown_field"),
            ({**ask(20_000), "quantity": "1"}, "validation_error"),
            ({**ask(20_000), "price_cents": 200.0}, "validation_error"),
            ({**ask(20_000), "post_only": 1}, "validation_error"),
            ({**ask(20_000), "expires_in_days": 61}, "validation_error"),
            ({**ask(20_000), "sku": "NOPE"}, "unknown_sku"),
            (ask(20_050), "off_tick"),
            ({"side": "ask", "type": "limit", "quantity": 1}, "validation_error"),
            ([], "validation_error"),
        ]
        for body, code in cases:
            with pytest.raises(ExchangeError) as info:
                await venue.place_order(alice, body)
            assert info.value.code == code, body
        with pytest.raises(ExchangeError) as info:
            await venue.cancel_order(alice, 12345)
        assert info.value.code == "not_found"
        with pytest.raises(ExchangeError) as info:
            await venue.create_product(alice, {"style": "X"})
        assert info.value.code == "forbidden"
        assert venue.journal.last_seq == last
    finally:
        await venue.close()


async def test_subscribers_get_events_in_order_after_durability(tmp_data_dir: Path) -> None:
    venue = await Venue.open(config(tmp_data_dir, store=False))
    seen: list[MarketDataEvent] = []
    durable_ok: list[bool] = []

    def on_events(events: list[MarketDataEvent]) -> None:
        # Called after the group's sync: everything applied so far in that
        # group is durable.
        durable_ok.append(venue.journal.durable_seq >= venue.released_seq)
        seen.extend(events)

    venue.subscribe(on_events)
    try:
        alice, bob = await two_traders(venue)
        await asyncio.gather(*(venue.place_order(alice, ask(20_000 + 100 * i)) for i in range(20)))
        await asyncio.gather(*(venue.place_order(bob, bid(22_000)) for _ in range(10)))
        assert durable_ok and all(durable_ok)
        assert [e.sequence for e in seen] == list(range(1, len(seen) + 1))
        trades = [e for e in seen if isinstance(e, TradePrint)]
        books = [e for e in seen if isinstance(e, BookUpdate)]
        assert len(trades) == 10 and len(books) == 30
        assert [t.price_cents for t in trades] == [20_000 + 100 * i for i in range(10)]
        for channel in (trades, books):
            prev = 0
            for e in channel:
                assert e.prev_sequence == prev
                prev = e.sequence
        assert venue.mirror.checksum(SKU) == books[-1].checksum
        venue.unsubscribe(on_events)
        await venue.place_order(alice, ask(30_000))
        assert len(seen) == 40
    finally:
        await venue.close()


async def test_group_commit_batches_concurrent_submissions(tmp_data_dir: Path) -> None:
    venue = await Venue.open(config(tmp_data_dir, store=False, demo_catalog=True))
    try:
        alice, bob = await two_traders(venue)
        groups, syncs = venue.groups, venue.journal.fsync_count
        n = 200
        results = await asyncio.gather(
            *(venue.place_order(alice if i % 2 else bob, ask(30_000 + 100 * i)) for i in range(n))
        )
        assert all(status == 201 for status, _ in results)
        assert venue.groups - groups < n // 4
        assert venue.journal.fsync_count - syncs < n // 4
        # A batch is one group.
        before = venue.groups
        answers = await venue.place_orders(
            alice, [ask(40_000), {"sku": "NOPE"}, ask(40_100, client_order_id="b2")]
        )
        assert venue.groups == before + 1
        assert answers[0]["order"]["status"] == "open"
        assert answers[1]["error"].code == "validation_error"
        assert answers[2]["order"]["client_order_id"] == "b2"
    finally:
        await venue.close()


async def test_ship_deadline_tick_and_settlement(tmp_data_dir: Path) -> None:
    # A deadline of ~4 microseconds: every trade is overdue at the next tick.
    venue = await Venue.open(config(tmp_data_dir, store=False, ship_deadline_hours=1e-9))
    try:
        alice, bob = await two_traders(venue)
        await venue.place_order(alice, ask(20_000, 2))
        _, out = await venue.place_order(bob, bid(20_000, 2))
        trade_id = out["fills"][0]["id"]
        assert await venue.tick_if_due()
        assert venue.get_trade(bob, trade_id)["settlement_status"] == "canceled"
        assert not await venue.tick_if_due()
        kinds = [e["kind"] for e in venue.ledger(bob)]
        assert kinds == ["charge", "refund"]
        with pytest.raises(ExchangeError) as info:
            await venue.ship(alice, trade_id)
        assert info.value.code == "invalid_settlement_transition"
    finally:
        await venue.close()


async def test_the_data_dir_is_locked(tmp_data_dir: Path) -> None:
    with open_offline(tmp_data_dir) as offline:
        created = offline.create_account("early", "admin")
    assert created["account_id"] == "acc_1" and created["api_key"].startswith("rx_")
    venue = await Venue.open(config(tmp_data_dir, store=False))
    try:
        admin = venue.authenticate(created["api_key"])
        assert admin is not None and admin.role == "admin"
        with pytest.raises(DataDirLocked):
            await Venue.open(config(tmp_data_dir, store=False))
        with pytest.raises(DataDirLocked):
            open_offline(tmp_data_dir)
        product = await venue.create_product(
            admin,
            {
                "style": "RX-1",
                "name": "Test",
                "brand": "Brand",
                "retail_price_cents": 10_000,
                "release_date": "2024-01-01",
                "sizes": ["S", "M"],
            },
        )
        assert [s["sku"] for s in product["skus"]] == ["RX-1-S", "RX-1-M"]
    finally:
        await venue.close()
    venue = await Venue.open(config(tmp_data_dir, store=False))
    try:
        assert venue.sku_exists("RX-1-M")
    finally:
        await venue.close()


async def test_store_is_rebuilt_when_behind(tmp_data_dir: Path) -> None:
    venue = await Venue.open(config(tmp_data_dir))
    alice, bob = await two_traders(venue)
    await venue.place_order(alice, ask(20_000, 3))
    await venue.place_order(bob, bid(20_000, 3))
    holding = await venue.add_holding(
        bob, {"sku": SKU, "purchase_price_cents": 15_000, "acquired_at": "2024-05-01"}
    )
    assert holding["acquired_at"] == "2024-05-01T00:00:00.000Z"
    await venue.close()
    (tmp_data_dir / "exchange.db").unlink()
    for extra in ("exchange.db-wal", "exchange.db-shm"):
        (tmp_data_dir / extra).unlink(missing_ok=True)
    venue = await Venue.open(config(tmp_data_dir))
    try:
        store = venue.analytics.store
        assert store.trade_count() == 1
        assert len(store.holdings_for_account(bob.id)) == 1
        assert store.get_meta("last_seq") == str(venue.engine.last_seq)
    finally:
        await venue.close()


async def test_snapshots_rotate_the_journal(tmp_data_dir: Path) -> None:
    venue = await Venue.open(config(tmp_data_dir, store=False, snapshot_every=20))
    try:
        alice, _ = await two_traders(venue)
        for i in range(30):
            await venue.place_order(alice, ask(30_000 + 100 * i))
        state = venue.engine.snapshot_bytes()
    finally:
        await venue.close()
    snaps = sorted((tmp_data_dir / "snapshots").glob("*.snap"))
    assert 1 <= len(snaps) <= 2
    venue = await Venue.open(config(tmp_data_dir, store=False))
    try:
        assert venue.engine.snapshot_bytes() == state
    finally:
        await venue.close()


@pytest.mark.parametrize("fork", [True, False])
async def test_periodic_snapshots_under_load(tmp_data_dir: Path, fork: bool) -> None:
    cfg = config(tmp_data_dir, store=False, snapshot_every=50, fork_snapshots=fork)
    venue = await Venue.open(cfg)
    try:
        alice, bob = await two_traders(venue)
        for round_ in range(6):
            await asyncio.gather(
                *(venue.place_order(alice, ask(30_000 + 100 * i)) for i in range(20)),
                *(venue.place_order(bob, bid(20_000 + 100 * round_)) for _ in range(20)),
            )
        state = venue.engine.snapshot_bytes()
        seq = venue.engine.last_seq
    finally:
        await venue.close()
    snaps = sorted(int(p.stem) for p in (tmp_data_dir / "snapshots").glob("*.snap"))
    assert len(snaps) == 2 and snaps[-1] == seq  # the close snapshot and one before
    # Every snapshot recovers to the same state with the journal that is kept.
    (tmp_data_dir / "snapshots" / f"{seq:020d}.snap").unlink()
    venue = await Venue.open(config(tmp_data_dir, store=False))
    try:
        assert venue.engine.snapshot_bytes() == state
    finally:
        await venue.close()


async def test_mirror_equals_the_engine_after_random_concurrent_orders(tmp_data_dir: Path) -> None:
    import random

    venue = await Venue.open(
        VenueConfig(data_dir=tmp_data_dir, fsync=False, store=False, tick_interval=3600)
    )
    try:
        accounts = [
            venue.authenticate((await venue.create_account(f"t{i}"))["api_key"]) for i in range(4)
        ]
        skus = venue.skus()[:3]
        rng = random.Random(3)

        async def trader(k: int) -> None:
            me = accounts[k]
            for _ in range(60):
                body = {
                    "sku": rng.choice(skus),
                    "side": rng.choice(["bid", "ask"]),
                    "type": "limit",
                    "price_cents": 100 * rng.randrange(195, 206),
                    "quantity": rng.randrange(1, 4),
                    "time_in_force": rng.choice(["gtc", "gtc", "ioc"]),
                }
                _, answer = await venue.place_order(me, body)
                if answer["order"]["status"] == "open" and rng.random() < 0.3:
                    try:
                        await venue.cancel_order(me, answer["order"]["id"])
                    except ExchangeError as exc:  # filled meanwhile by another trader
                        assert exc.code == "order_not_open"

        await asyncio.gather(*(trader(k) for k in range(4)))
        assert venue.groups < venue.commands
        for sku in skus:
            bids, asks = venue.engine.book_levels(sku)
            snap = venue.mirror.snapshot(sku)
            assert (snap.bids, snap.asks) == (bids, asks)
            assert snap.sequence == venue.engine.md_sequences(sku)[0]
            assert venue.mirror.checksum(sku) == venue.engine.books[sku].checksum()
    finally:
        await venue.close()


async def test_a_cancelled_caller_does_not_break_its_group(tmp_data_dir: Path) -> None:
    venue = await Venue.open(config(tmp_data_dir, store=False))
    try:
        alice, _ = await two_traders(venue)
        tasks = [
            asyncio.create_task(venue.place_order(alice, ask(30_000 + 100 * i))) for i in range(5)
        ]
        await asyncio.sleep(0)  # all five are applied and wait for the same group
        tasks[2].cancel()
        done = await asyncio.gather(*tasks, return_exceptions=True)
        assert isinstance(done[2], asyncio.CancelledError)
        assert [d[0] for i, d in enumerate(done) if i != 2] == [201] * 4  # type: ignore[index]
        # The cancelled caller's order was journaled all the same; the venue goes on.
        assert len(venue.list_orders(alice, "open")) == 5
        status, _ = await venue.place_order(alice, ask(40_000))
        assert status == 201
    finally:
        await venue.close()


@pytest.mark.parametrize("process", [True, False], ids=["process", "thread"])
async def test_the_store_gets_orders_final_states_only(tmp_data_dir: Path, process: bool) -> None:
    venue = await Venue.open(config(tmp_data_dir, store_process=process))
    try:
        alice, bob = await two_traders(venue)
        _, resting = await venue.place_order(alice, ask(20_100))
        _, sold = await venue.place_order(alice, ask(20_000))
        await venue.place_order(bob, bid(20_000))
        await venue.flush_store()
        store = venue.analytics.store
        # Open orders are served from the engine; the store has final states.
        assert [o["id"] for o in store.orders_for_account(alice.id)] == [sold["order"]["id"]]
        assert store.orders_for_account(alice.id)[0]["status"] == "filled"
        assert store.trade_count() == 1
        await venue.cancel_order(alice, resting["order"]["id"])
        await venue.flush_store()
        rows = store.orders_for_account(alice.id)
        assert [(o["id"], o["status"]) for o in rows] == [  # newest first
            (sold["order"]["id"], "filled"),
            (resting["order"]["id"], "canceled"),
        ]
    finally:
        await venue.close()


async def test_required_order_fields_may_not_be_null(tmp_path: Path) -> None:
    """A null SKU is a missing field (validation_error), not an SKU named None."""
    venue = await Venue.open(VenueConfig(data_dir=tmp_path, fsync=False, store=False))
    try:
        account = venue.authenticate((await venue.create_account("nully"))["api_key"])
        assert account is not None
        body = {"sku": None, "side": "bid", "type": "limit", "price_cents": 100, "quantity": 1}
        with pytest.raises(ExchangeError) as info:
            await venue.place_order(account, body)
        assert info.value.code == "validation_error"
        assert "sku is required" in info.value.message
        assert venue.list_orders(account) == []
    finally:
        await venue.close()


async def test_a_holding_cannot_be_acquired_in_the_future(tmp_path: Path) -> None:
    venue = await Venue.open(VenueConfig(data_dir=tmp_path, fsync=False, store=False))
    try:
        account = venue.authenticate((await venue.create_account("time traveller"))["api_key"])
        assert account is not None
        sku = venue.skus()[0]
        body = {"sku": sku, "purchase_price_cents": 100, "acquired_at": "2099-01-01T00:00:00Z"}
        with pytest.raises(ExchangeError) as info:
            await venue.add_holding(account, body)
        assert info.value.code == "validation_error"
        assert venue.holdings(account) == []
    finally:
        await venue.close()
