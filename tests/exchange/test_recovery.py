"""Recovery equals the live state: snapshot + journal replay, byte for byte.

Thousands of random commands (every kind, with time moving so expiries and
ship deadlines fire) run through a live engine; snapshots are taken at
random points. Restoring any snapshot and replaying the journal payloads
after it, or replaying the whole journal into a fresh engine, must give the
same canonical snapshot bytes, and the same market data, as the live engine.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from exchange.commands import (
    AddHolding,
    AmendOrder,
    AuthenticateTrade,
    CancelOrder,
    Command,
    MarkShipped,
    PlaceOrder,
    RemoveHolding,
    Tick,
    decode_record,
    encode_record,
)
from exchange.engine import Engine, Outcome
from exchange.errors import ExchangeError
from exchange.journal import Journal, SnapshotStore
from exchange.venue import recover_engine

from .conftest import HOUR_NS, MS, SKU, SKU2, T0, Driver, product_cmd

SKUS = [SKU, SKU2, "ABC-1-OS"]


def random_session(seed: int, steps: int) -> tuple[Driver, list[tuple[int, bytes]], list[Outcome]]:
    """Drive ``steps`` random commands; returns the driver, snapshots and outcomes."""
    rng = random.Random(seed)
    d = Driver()
    d.run(product_cmd())
    d.run(product_cmd(style="ABC-1", sizes=("OS",), retail=10_000))
    traders = [d.account(f"t{i}") for i in range(5)]
    auth = d.account("auth", role="authenticator")
    snapshots: list[tuple[int, bytes]] = []
    outcomes: list[Outcome] = []
    ts = d.ts
    for _ in range(steps):
        # Mostly milliseconds apart, sometimes hours, so deadlines pass.
        ts += rng.choice([MS, MS, MS, 10 * MS, HOUR_NS, 13 * HOUR_NS])
        cmd = _random_command(rng, d, traders, auth, ts)
        try:
            outcomes.append(d.run(cmd, ts=ts))
        except ExchangeError:
            continue  # refused: not journaled (the driver took no seq)
        if rng.random() < 0.005:
            snapshots.append((d.engine.last_seq, d.engine.snapshot_bytes()))
    return d, snapshots, outcomes


def _random_command(
    rng: random.Random, d: Driver, traders: list[str], auth: str, ts: int
) -> Command:
    eng = d.engine
    who = rng.choice(traders)
    roll = rng.random()
    if roll < 0.55:
        side = rng.choice(["bid", "ask"])
        kind = rng.random()
        price = rng.randrange(190, 211) * 100
        qty = rng.choice([1, 1, 1, 2, 3])
        sku = rng.choice(SKUS)
        coid = f"c{rng.randrange(400)}" if rng.random() < 0.3 else None
        if kind < 0.1:
            return PlaceOrder(who, coid, sku, side, "market", rng.choice([None, price]), qty)
        tif = "gtc"
        if kind < 0.2:
            tif = "ioc"
        elif kind < 0.27:
            tif = "fok"
        post_only = tif == "gtc" and rng.random() < 0.1
        expires = (
            ts + rng.choice([HOUR_NS, 30 * HOUR_NS])
            if tif == "gtc" and rng.random() < 0.2
            else None
        )
        return PlaceOrder(who, coid, sku, side, "limit", price, qty, tif, post_only, expires)
    if roll < 0.7:
        mine = eng.orders(who, "open")
        if mine and rng.random() < 0.9:
            return CancelOrder(who, rng.choice(mine)["id"])
        return CancelOrder(who, rng.randrange(1, 50))  # often refused
    if roll < 0.78:
        mine = eng.orders(who, "open")
        if not mine:
            return Tick()
        order = rng.choice(mine)
        if rng.random() < 0.5:
            return AmendOrder(
                who, order["id"], quantity=order["filled_quantity"] + rng.randrange(1, 4)
            )
        return AmendOrder(who, order["id"], price_cents=rng.randrange(190, 211) * 100)
    if roll < 0.85:
        sold = [t for t in eng.trades(who) if t["side"] == "ask"]
        if sold:
            return MarkShipped(who, rng.choice(sold)["id"])
        return Tick()
    if roll < 0.9:
        shipped = eng.trades(auth, "shipped")
        if shipped:
            return AuthenticateTrade(auth, rng.choice(shipped)["id"], rng.random() < 0.8)
        return Tick()
    if roll < 0.94:
        return AddHolding(who, rng.choice(SKUS), rng.randrange(50, 300) * 100, ts - HOUR_NS, "new")
    if roll < 0.96:
        holdings = eng.portfolios.holdings(who)
        if holdings:
            return RemoveHolding(who, rng.choice(holdings).id)
    return Tick()


def replay(engine: Engine, journal: list[tuple[int, bytes]]) -> list[Outcome]:
    outs = []
    for seq, payload in journal:
        if seq <= engine.last_seq:
            continue
        ts, cmd = decode_record(payload)
        outs.append(engine.apply(seq, ts, cmd))
    return outs


@pytest.fixture(scope="module")
def session() -> tuple[Driver, list[tuple[int, bytes]], list[Outcome]]:
    return random_session(seed=20261125, steps=4000)


def test_the_session_exercises_every_path(
    session: tuple[Driver, list[tuple[int, bytes]], list[Outcome]],
) -> None:
    d, snapshots, outcomes = session
    state = d.engine.snapshot()
    rows = [d.engine.order_row(o[0]) for o in state["orders"]]
    orders = [o for o in rows if o is not None]
    assert len(orders) == len(rows)
    statuses = {o.status for o in orders}
    assert statuses == {"open", "filled", "canceled", "expired", "rejected"}
    settlement = {
        row["settlement_status"] for o in outcomes for kind, row in o.store_ops if kind == "trade"
    }
    assert settlement == {"awaiting_shipment", "shipped", "delivered", "canceled"}
    assert len(state["trades"]) > 300
    assert state["portfolios"]["realized"]
    assert len(snapshots) >= 10
    resting = sum(n for book in d.engine.books.values() for side in book.depth() for *_, n in side)
    open_orders = sum(1 for o in orders if o.status == "open")
    assert d.engine.resting_orders() == resting == open_orders
    assert d.engine.last_seq == len(d.journal) and len(outcomes) == len(d.journal) - 8


def test_snapshot_plus_replay_equals_live(
    session: tuple[Driver, list[tuple[int, bytes]], list[Outcome]],
) -> None:
    d, snapshots, _ = session
    live = d.engine.snapshot_bytes()
    for seq, data in snapshots:
        recovered = Engine.restore_bytes(data)
        assert recovered.last_seq == seq
        recovered.live = False  # as recovery runs it: no answers, no checksums
        replay(recovered, d.journal)
        assert recovered.snapshot_bytes() == live, f"recovery from the snapshot at seq {seq}"


def test_replay_from_scratch_equals_live_including_market_data(
    session: tuple[Driver, list[tuple[int, bytes]], list[Outcome]],
) -> None:
    d, _, outcomes = session
    fresh = Engine()
    outs = replay(fresh, d.journal)
    assert fresh.snapshot_bytes() == d.engine.snapshot_bytes()
    live_md = [ev for o in outcomes for ev in o.md]
    assert [ev for o in outs for ev in o.md] == live_md
    assert [o.response for o in outs[-len(outcomes) :]] == [o.response for o in outcomes]


def test_restored_engine_continues_like_the_live_one(
    session: tuple[Driver, list[tuple[int, bytes]], list[Outcome]],
) -> None:
    d, snapshots, _ = session
    _, data = snapshots[len(snapshots) // 2]
    a = Engine.restore_bytes(data)
    b = Engine.restore_bytes(data)
    replay(a, d.journal)
    replay(b, d.journal)
    # The same new commands give the same outcomes on both.
    tail = Driver(a, ts=d.ts)
    other = Driver(b, ts=d.ts)
    rng = random.Random(7)
    traders = [f"acc_{i}" for i in range(1, 6)]
    for _ in range(300):
        cmd = _random_command(rng, tail, traders, "acc_6", tail.ts + MS)
        try:
            x = tail.run(cmd)
        except ExchangeError as exc:
            with pytest.raises(ExchangeError) as info:
                other.run(cmd)
            assert info.value.code == exc.code
            continue
        y = other.run(cmd)
        assert (x.response, x.md, x.store_ops) == (y.response, y.md, y.store_ops)
    assert a.snapshot_bytes() == b.snapshot_bytes()


def test_recover_engine_from_a_real_journal_and_snapshot(tmp_path: Path) -> None:
    d, snapshots, _ = random_session(seed=5, steps=600)
    data_dir = tmp_path / "data"
    journal = Journal(data_dir / "journal", fsync=False)
    journal.open()
    journal.append(d.journal)
    journal.sync()
    journal.close()
    seq, body = snapshots[-1]
    SnapshotStore(data_dir / "snapshots", fsync=False).write(seq, body)
    rec = recover_engine(data_dir, fsync=False)
    try:
        assert rec.snapshot_seq == seq
        assert rec.engine.snapshot_bytes() == d.engine.snapshot_bytes()
    finally:
        rec.journal.close()
        rec.lock.release()


def test_payload_round_trip() -> None:
    cmd = AmendOrder("acc_1", 7, quantity=3)
    assert decode_record(encode_record(T0, cmd)) == (T0, cmd)
    assert decode_record(encode_record(T0, Tick())) == (T0, Tick())
    product = product_cmd()
    _, back = decode_record(encode_record(T0, product))
    assert back == product and isinstance(back.sizes, tuple)  # type: ignore[union-attr]
