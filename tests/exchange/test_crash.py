"""Crash test: SIGKILL a venue at random moments; nothing acknowledged is lost.

A child process (``tests/exchange/crash_child.py``) runs a real
:class:`exchange.venue.Venue` with fsync on and answers commands over JSON
lines only after they are durable. For at least 20 rounds the test streams
random orders and cancels from several accounts at crossing prices, with up
to 32 requests in flight (so group commits and partial groups are in play),
and kills the child with SIGKILL after a random number of acknowledgements,
while other commands are still in flight. After each restart it checks:

- every acknowledged order exists, in its acknowledged state or a later one
  (an ``open`` order may since have filled or been canceled; a final state
  is exactly as acknowledged);
- every acknowledged trade exists with the same price, quantity and orders;
- an acknowledged ``client_order_id`` placed again answers the original order
  (its state there is a read, which may run ahead of the disk: not checked);
- the recovered engine equals a fresh replay of the journal (the canonical
  engine snapshots hash the same), and so does a live engine that ran
  commands before a clean shutdown. The first half of the rounds takes no
  snapshot, so the replay starts at seq 1; the second half snapshots every
  few commands (killed mid-snapshot, mid-rotation, mid-prune too), and the
  replay starts from the oldest snapshot kept.

A second, shorter test runs the venue with its trade store and checks after
every restart that the store holds exactly the engine's trades, every
acknowledged one among them (the store outbox and its catch-up, killed at
random moments too). Its stream also ships and authenticates trades and
evicts history that the store holds (issue 13), so after each restart the
acknowledged orders and trades are read from the engine and the store
together. After its last SIGKILL the restart is ``exchange serve``, and the
acknowledged history is read back through the paged REST endpoints
(``/v1/orders``, ``/v1/trades``, ``/v1/ledger``, small pages following
``next_before``): every acknowledged order, trade, settlement change and
ledger entry exactly once, the store holding each trade once, and repeats of
acknowledged ``client_order_id``s (most of them evicted) answered 200 with the
same order, 409 for another body.

Set ``CRASH_TEST_SEED`` to rerun one sequence; the seed is printed.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
import pytest

from exchange.commands import decode_record
from exchange.engine import Engine
from exchange.journal import Journal
from exchange.snapshots import SnapshotStore
from tests.api.server import serve

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 24
# The second half of the rounds snapshots every few commands (forked writers,
# journal rotation and pruning all get killed at random moments too).
SNAPSHOT_EVERY = 25
ACCOUNTS = 4
FINAL = {"filled", "canceled", "expired", "rejected"}
# Settlement only moves forward: an acknowledged step may since have gone on.
SETTLEMENT_RANK = {"awaiting_shipment": 0, "shipped": 1, "delivered": 2, "canceled": 2}


class Child:
    """The venue process, spoken to over JSON lines."""

    def __init__(
        self,
        data_dir: Path,
        log: IO[bytes],
        snapshot_every: int | None = None,
        *,
        store: bool = False,
    ) -> None:
        extra = [] if snapshot_every is None else [str(snapshot_every)]
        env = {**os.environ, "CRASH_CHILD_STORE": "1" if store else "0"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.exchange.crash_child", str(data_dir), *extra],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=ROOT,
            env=env,
        )
        self.log = log
        self.ready = self.recv()
        assert self.ready.get("ready") is True, self.ready
        self.next_id = 0

    def send(self, msg: dict[str, Any]) -> int:
        self.next_id += 1
        assert self.proc.stdin is not None
        self.proc.stdin.write(orjson.dumps({"id": self.next_id, **msg}) + b"\n")
        self.proc.stdin.flush()
        return self.next_id

    def recv(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=30)
            self.log.flush()
            raise AssertionError(
                f"child exited with {self.proc.returncode}; see its stderr in {self.log.name}"
            )
        reply: dict[str, Any] = orjson.loads(line)
        return reply

    def call(self, msg: dict[str, Any]) -> dict[str, Any]:
        """One request with nothing else in flight."""
        sent = self.send(msg)
        reply = self.recv()
        assert reply["id"] == sent
        return reply

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._close_pipes()

    def stop(self) -> None:
        """Close stdin: the child drains, closes the venue cleanly and exits."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        assert self.proc.wait(timeout=60) == 0
        self._close_pipes()

    def _close_pipes(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()


@dataclass
class Expected:
    """What the venue has acknowledged so far."""

    keys: list[str] = field(default_factory=list)
    orders: dict[int, tuple[str, int]] = field(default_factory=dict)  # id -> (status, filled)
    open_by_key: dict[str, list[int]] = field(default_factory=dict)
    trades: dict[int, tuple[int, int, int, int]] = field(default_factory=dict)
    client_ids: dict[str, tuple[str, dict[str, Any], int]] = field(default_factory=dict)
    acked: int = 0
    owner: dict[int, str] = field(default_factory=dict)  # order id -> key
    settled: dict[int, str] = field(default_factory=dict)  # trade id -> settlement status
    checker: str = ""  # an authenticator's key
    evictions: int = 0

    def order_acked(self, key: str, order: dict[str, Any]) -> None:
        oid = order["id"]
        self.owner[oid] = key
        status, filled = order["status"], order["filled_quantity"]
        old = self.orders.get(oid)
        # Acks of concurrent commands arrive in any order: keep the latest state.
        if old is None or old[0] == "open":
            self.orders[oid] = (status, max(filled, old[1] if old else 0))
        opens = self.open_by_key.setdefault(key, [])
        if status == "open" and oid not in opens:
            opens.append(oid)
        elif status != "open" and oid in opens:
            opens.remove(oid)

    def fills_acked(self, fills: list[dict[str, Any]]) -> None:
        for f in fills:
            self.trades[f["id"]] = (
                f["price_cents"],
                f["quantity"],
                f["buy_order_id"],
                f["sell_order_id"],
            )
            self.settlement_acked(f["id"], f["settlement_status"])

    def settlement_acked(self, trade_id: int, status: str) -> None:
        old = self.settled.get(trade_id)
        if old is None or SETTLEMENT_RANK[status] > SETTLEMENT_RANK[old]:
            self.settled[trade_id] = status


def journal_replay_sha256(data_dir: Path) -> tuple[int, str]:
    """Replay the journal into a fresh engine: ``(last_seq, sha256)``.

    From seq 1 while the journal has it; once snapshots pruned its head, from
    the *oldest* kept snapshot the journal continues (the venue recovers from
    the newest one, so with two kept the paths differ).
    """
    first = min(int(p.name.split(".")[0]) for p in (data_dir / "journal").glob("*.log"))
    if first == 1:
        engine, start = Engine(), 0
    else:
        store = SnapshotStore(data_dir / "snapshots")
        start = min(s for s in store.seqs() if s >= first - 1)
        engine = Engine.restore_bytes(store.read(start))
    expect = start + 1
    for seq, payload in Journal(data_dir / "journal").replay(after_seq=start):
        assert seq == expect, "the journal must continue the snapshot with no gap"
        expect += 1
        ts, cmd = decode_record(payload)
        engine.apply(seq, ts, cmd)
    return engine.last_seq, hashlib.sha256(engine.snapshot_bytes()).hexdigest()


def check_orders(
    exp: Expected, orders: dict[int, dict[str, Any]], where: str, key: str | None = None
) -> None:
    """Every acknowledged order (of ``key``, or all) is in ``orders``, in its
    acknowledged state or a later one."""
    for oid, (status, filled) in exp.orders.items():
        if key is not None and exp.owner[oid] != key:
            continue
        assert oid in orders, f"acknowledged order {oid} lost {where}"
        got = orders[oid]
        assert got["filled_quantity"] >= filled, f"order {oid} went back {where}: {got}"
        if status in FINAL:
            assert (got["status"], got["filled_quantity"]) == (status, filled), (
                f"order {oid} was acknowledged {status}/{filled}, now {got} {where}"
            )
        else:
            assert got["status"] in {"open", *FINAL}, got


def check_trades(exp: Expected, trades: dict[int, dict[str, Any]], where: str) -> None:
    """Every acknowledged trade is in ``trades``, unchanged, its settlement at
    the acknowledged step or a later one."""
    for tid, (price, qty, buy, sell) in exp.trades.items():
        assert tid in trades, f"acknowledged trade {tid} lost {where}"
        t = trades[tid]
        got = (t["price_cents"], t["quantity"], t["buy_order_id"], t["sell_order_id"])
        assert got == (price, qty, buy, sell), f"trade {tid} changed {where}"
        acked, now = exp.settled[tid], t["settlement_status"]
        assert now == acked or SETTLEMENT_RANK[now] > SETTLEMENT_RANK[acked], (
            f"trade {tid} was acknowledged {acked}, now {now} {where}"
        )


def verify(child: Child, exp: Expected, data_dir: Path, seed: int) -> dict[str, Any]:
    """Check the child's state against everything acknowledged, and the journal."""
    where = f"(seed {seed})"
    dump = child.call({"op": "dump", "keys": exp.keys})
    check_orders(exp, {o["id"]: o for lst in dump["orders"].values() for o in lst}, where)
    check_trades(exp, {t["id"]: t for lst in dump["trades"].values() for t in lst}, where)
    replay_seq, replay_sha = journal_replay_sha256(data_dir)
    assert (dump["seq"], dump["snapshot_sha256"]) == (replay_seq, replay_sha), (
        f"recovered engine differs from a fresh replay of the journal {where}"
    )
    return dump


def random_command(rng: random.Random, exp: Expected, skus: list[str]) -> dict[str, Any]:
    key = rng.choice(exp.keys)
    opens = exp.open_by_key.get(key, [])
    roll = rng.random()
    if roll < 0.2 and opens:
        return {"op": "cancel", "key": key, "order_id": rng.choice(opens)}
    if roll < 0.25 and exp.client_ids:
        coid = rng.choice(sorted(exp.client_ids))
        owner, first_body, _ = exp.client_ids[coid]
        return {"op": "place", "key": owner, "body": first_body}
    body: dict[str, Any] = {
        "sku": rng.choice(skus),
        "side": rng.choice(["bid", "ask"]),
        "type": "limit",
        "price_cents": 20_000 + 100 * rng.randint(-4, 4),
        "quantity": rng.randint(1, 3),
    }
    kind = rng.random()
    if kind < 0.1:
        body["time_in_force"] = "ioc"
    elif kind < 0.15:
        body["time_in_force"] = "fok"
    elif kind < 0.2:
        body["type"] = "market"
    elif kind < 0.25:
        body["post_only"] = True
    if rng.random() < 0.3:
        body["client_order_id"] = f"c{rng.getrandbits(48):x}"
    return {"op": "place", "key": key, "body": body}


def store_command(rng: random.Random, exp: Expected, skus: list[str]) -> dict[str, Any]:
    """A command of the store test: orders and cancels, settlement steps, evictions."""
    roll = rng.random()
    if roll < 0.05:
        return {"op": "evict"}
    if roll < 0.25:
        shipped = sorted(t for t, s in exp.settled.items() if s == "shipped")
        waiting = sorted(
            t
            for t, s in exp.settled.items()
            if s == "awaiting_shipment" and exp.trades[t][3] in exp.owner
        )
        if shipped and (not waiting or rng.random() < 0.5):
            tid = rng.choice(shipped)
            passed = rng.random() < 0.7
            return {"op": "authenticate", "key": exp.checker, "trade_id": tid, "passed": passed}
        if waiting:
            tid = rng.choice(waiting)
            return {"op": "ship", "key": exp.owner[exp.trades[tid][3]], "trade_id": tid}
    return random_command(rng, exp, skus)


def handle_ack(msg: dict[str, Any], reply: dict[str, Any], exp: Expected) -> None:
    exp.acked += 1
    if msg["op"] == "evict":
        exp.evictions += reply["evicted"]
        return
    if msg["op"] in ("ship", "authenticate"):
        if "error" in reply:
            # Two steps of one trade in flight at once: the second may find
            # the trade no longer at its step.
            assert reply["error"] == "invalid_settlement_transition", (msg, reply)
        else:
            exp.settlement_acked(msg["trade_id"], reply["trade"]["settlement_status"])
        return
    if "error" in reply:
        assert reply["error"] in {"order_not_open"}, (msg, reply)
        if msg["op"] == "cancel":
            opens = exp.open_by_key.get(msg["key"], [])
            if msg["order_id"] in opens:
                opens.remove(msg["order_id"])
        return
    order = reply["order"]
    if msg["op"] == "place":
        coid = msg["body"].get("client_order_id")
        if reply["status"] == 200:
            # An idempotent replay answers the original order, across restarts,
            # in its state as of the replay: acknowledged, so it must survive.
            assert coid is not None and exp.client_ids[coid][2] == order["id"], (msg, reply)
            exp.order_acked(msg["key"], order)
            return
        if coid is not None:
            exp.client_ids[coid] = (msg["key"], msg["body"], order["id"])
        exp.fills_acked(reply["fills"])
    exp.order_acked(msg["key"], order)


Commands = Callable[[random.Random, Expected, list[str]], dict[str, Any]]


def stream_then_kill(
    child: Child,
    rng: random.Random,
    exp: Expected,
    skus: list[str],
    commands: Commands = random_command,
) -> None:
    """Send random commands with up to ``window`` in flight; SIGKILL mid-stream."""
    total = rng.randint(5, 120)
    # Some rounds die idle, right after the last acknowledgement (the newest
    # durable record was acknowledged); the others with commands in flight.
    kill_after = total if rng.random() < 0.3 else rng.randint(0, total - 1)
    window = rng.choice([1, 4, 16, 32])
    in_flight: dict[int, dict[str, Any]] = {}
    sent = acked = 0
    while True:
        while sent < total and len(in_flight) < window:
            msg = commands(rng, exp, skus)
            in_flight[child.send(msg)] = msg
            sent += 1
        if acked >= kill_after or not in_flight:
            break
        reply = child.recv()
        handle_ack(in_flight.pop(reply["id"]), reply, exp)
        acked += 1
    child.kill()


def seeded() -> tuple[int, random.Random]:
    """The run's seed (``CRASH_TEST_SEED`` or a random one, printed) and its generator."""
    seed = int(os.environ.get("CRASH_TEST_SEED", random.randrange(2**32)))
    print(f"CRASH_TEST_SEED={seed}")
    return seed, random.Random(seed)


@pytest.mark.timeout(240)
def test_sigkill_never_loses_an_acknowledged_order(tmp_path: Path) -> None:
    seed, rng = seeded()
    data_dir = tmp_path / "data"
    exp = Expected()
    with open(tmp_path / "child-stderr.log", "wb") as log:
        for rnd in range(ROUNDS):
            child = Child(data_dir, log, SNAPSHOT_EVERY if rnd >= ROUNDS // 2 else None)
            skus = child.ready["skus"][:2]
            if rnd == 0:
                for i in range(ACCOUNTS):
                    exp.keys.append(child.call({"op": "account", "name": f"trader{i}"})["api_key"])
            else:
                verify(child, exp, data_dir, seed)
            stream_then_kill(child, rng, exp, skus)

        # A last round: run commands to completion, then a live engine must also
        # equal the replay; a clean stop snapshots, and a restart from it agrees.
        child = Child(data_dir, log)
        verify(child, exp, data_dir, seed)
        for _ in range(40):
            msg = random_command(rng, exp, skus)
            handle_ack(msg, child.call(msg), exp)
        live = verify(child, exp, data_dir, seed)
        child.stop()
        assert SnapshotStore(data_dir / "snapshots").latest() is not None
        child = Child(data_dir, log)
        again = verify(child, exp, data_dir, seed)
        assert again["snapshot_sha256"] == live["snapshot_sha256"]
        child.stop()

    assert len(exp.trades) > 20, "the workload must actually trade"
    assert exp.acked > 200


STORE_ROUNDS = 3


@pytest.mark.timeout(240)
def test_sigkill_never_loses_a_trade_from_the_store(tmp_path: Path) -> None:
    seed, rng = seeded()
    data_dir = tmp_path / "data"
    exp = Expected()
    with open(tmp_path / "child-stderr.log", "wb") as log:
        for rnd in range(STORE_ROUNDS + 1):
            child = Child(data_dir, log, SNAPSHOT_EVERY if rnd % 2 else None, store=True)
            skus = child.ready["skus"][:2]
            if rnd == 0:
                for i in range(ACCOUNTS):
                    exp.keys.append(child.call({"op": "account", "name": f"trader{i}"})["api_key"])
                checker = {"op": "account", "name": "checker", "role": "authenticator"}
                exp.checker = child.call(checker)["api_key"]
            else:
                dump = verify(child, exp, data_dir, seed)
                engine_trades = {t["id"] for lst in dump["trades"].values() for t in lst}
                stored = child.call({"op": "stored"})
                assert stored["caught_up"], f"the store did not catch up (seed {seed})"
                assert set(stored["trades"]) == engine_trades, f"store differs (seed {seed})"
                assert set(exp.trades) <= engine_trades
                # What ended in the rounds before leaves memory for the store.
                handle_ack({"op": "evict"}, child.call({"op": "evict"}), exp)
            stream_then_kill(child, rng, exp, skus, store_command)
    # The restart after the last SIGKILL is a REST server on the data dir.
    read_back_through_rest(data_dir, exp, seed)
    assert exp.trades, "no trade was made"
    assert exp.evictions, f"nothing left memory (seed {seed})"
    assert {"shipped", "delivered", "canceled"} & set(exp.settled.values())


def http(method: str, url: str, key: str, body: Any = None) -> tuple[int, Any]:
    """``(status, JSON body)`` of one request with the API key ``key``."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def walk(url: str, key: str, path: str, field: str, limit: int) -> list[dict[str, Any]]:
    """Every row of a paged REST list, following ``next_before``; each id once."""
    rows: list[dict[str, Any]] = []
    before: int | None = None
    pages = 0
    while True:
        query = f"?limit={limit}" + ("" if before is None else f"&before={before}")
        status, body = http("GET", url + path + query, key)
        assert status == 200, (path, status, body)
        page = body[field]
        assert len(page) <= limit
        rows.extend(page)
        pages += 1
        before = body["next_before"]
        if before is None:
            break
        assert before == page[-1]["id"]
    ids = [r["id"] for r in rows]
    assert ids == sorted(set(ids), reverse=True), f"{path}: each id once, newest first"
    assert pages >= -(-len(rows) // limit)  # full pages until the last
    return rows


def read_back_through_rest(data_dir: Path, exp: Expected, seed: int) -> None:
    """Restart as ``exchange serve``; every acknowledged order, trade, settlement
    step and ledger entry is read back through REST exactly once, and the store
    holds each trade once."""
    where = f"(seed {seed})"
    with serve(data_dir) as server:
        url = server.http_url
        every = {t["id"]: t for t in walk(url, exp.checker, "/v1/trades", "trades", 7)}
        assert len(every) > 7, f"the trades need several pages {where}"
        check_trades(exp, every, where)
        seen_by_parties: set[int] = set()
        for key in exp.keys:
            orders = {o["id"]: o for o in walk(url, key, "/v1/orders", "orders", 7)}
            check_orders(exp, orders, where, key)
            mine = walk(url, key, "/v1/trades", "trades", 5)
            seen_by_parties |= {t["id"] for t in mine}
            ledger = walk(url, key, "/v1/ledger", "entries", 7)
            kinds = Counter((e["trade_id"], e["kind"]) for e in ledger)
            for tid, (_, _, buy, sell) in exp.trades.items():
                settled = every[tid]["settlement_status"]
                if exp.owner.get(buy) == key:
                    assert kinds[(tid, "charge")] == 1, f"trade {tid}: one charge {where}"
                    refunds = 1 if settled == "canceled" else 0
                    assert kinds[(tid, "refund")] == refunds, f"trade {tid} refund {where}"
                if exp.owner.get(sell) == key:
                    payouts = 1 if settled == "delivered" else 0
                    assert kinds[(tid, "payout")] == payouts, f"trade {tid} payout {where}"
        assert seen_by_parties == set(every), f"the parties' trades differ {where}"
        # Repeats of acknowledged keys (evicted or not): the same order, or 409.
        for coid in sorted(exp.client_ids)[:12]:
            key, body, oid = exp.client_ids[coid]
            status, again = http("POST", url + "/v1/orders", key, body)
            assert status == 200 and again["order"]["id"] == oid, (coid, status, again)
            other = dict(body, quantity=body["quantity"] + 1)
            status, refused = http("POST", url + "/v1/orders", key, other)
            assert status == 409 and refused["code"] == "client_order_id_reused", refused
    with sqlite3.connect(data_dir / "exchange.db") as db:
        stored = [tid for (tid,) in db.execute("SELECT id FROM trades")]
        charges = Counter(
            tid for (tid,) in db.execute("SELECT trade_id FROM ledger WHERE kind = 'charge'")
        )
        final = dict(db.execute("SELECT id, status FROM orders WHERE status != 'open'"))
    assert sorted(stored) == sorted(every), f"the store holds each trade once {where}"
    assert set(charges) == set(every) and set(charges.values()) == {1}, where
    for oid, (status, _) in exp.orders.items():
        if status in FINAL:
            assert final.get(oid) == status, f"order {oid} is not in the store {where}"
