"""A venue in a child process that the crash test kills with SIGKILL.

Run as ``python -m tests.exchange.crash_child DATA_DIR [SNAPSHOT_EVERY]``. It
opens a :class:`exchange.venue.Venue` on ``DATA_DIR`` (fsync on, demo catalog,
no trade store so that it starts fast unless ``CRASH_CHILD_STORE=1``; a
snapshot every ``SNAPSHOT_EVERY`` commands, default the venue's), prints one
``{"ready": ...}`` line and
then serves JSON lines: each request ``{"id": n, "op": ..., ...}`` is handled
in its own task (so concurrent requests share group commits, as HTTP clients
would) and answered with one line carrying the same ``id``, written only
after the venue answered, i.e. after the command is durable.

Ops:
    account  {name, role?}            -> {account_id, api_key}
    place    {key, body}              -> {status, order, fills} | {error}
    cancel   {key, order_id}          -> {order} | {error}
    ship     {key, trade_id}          -> {trade} | {error}
    authenticate {key, trade_id, passed} -> {trade} | {error}
    evict    {}                       -> {evicted}  (store caught up, then Evict if due)
    dump     {keys}                   -> {seq, snapshot_sha256, orders: {acc: [...]},
                                          trades: {acc: [...]}}  (paged reads: engine
                                          and, for what left memory, the store)
    stored   {}                       -> {caught_up, trades: [id, ...]}  (the store's)
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import sys
from pathlib import Path
from typing import Any

import orjson

from exchange.errors import ExchangeError
from exchange.history import MAX_LIMIT, Page
from exchange.venue import Venue, VenueConfig

__all__ = ["main"]


def _write(obj: dict[str, Any]) -> None:
    sys.stdout.buffer.write(orjson.dumps(obj) + b"\n")
    sys.stdout.buffer.flush()


async def _every(read: Any, account: Any, field: str) -> list[dict[str, Any]]:
    """Every row of a paged venue list (engine and store), following ``next_before``."""
    rows: list[dict[str, Any]] = []
    before = None
    while True:
        page = await read(account, Page(MAX_LIMIT, before))
        rows.extend(page[field])
        before = page["next_before"]
        if before is None:
            return rows


async def _handle(venue: Venue, msg: dict[str, Any]) -> dict[str, Any]:
    op = msg["op"]
    if op == "account":
        created = await venue.create_account(msg["name"], msg.get("role", "trader"))
        return {"account_id": created["account_id"], "api_key": created["api_key"]}
    if op == "evict":
        await venue.flush_store(timeout=60)
        return {"evicted": await venue.evict_if_due()}
    if op == "dump":
        orders: dict[str, Any] = {}
        trades: dict[str, Any] = {}
        for key in msg["keys"]:
            account = venue.authenticate(key)
            assert account is not None, "an acknowledged account is missing"
            orders[account.id] = await _every(venue.orders_page, account, "orders")
            trades[account.id] = await _every(venue.trades_page, account, "trades")
        snapshot = venue.engine.snapshot_bytes()
        return {
            "seq": venue.engine.last_seq,
            "snapshot_sha256": hashlib.sha256(snapshot).hexdigest(),
            "orders": orders,
            "trades": trades,
        }
    if op == "stored":
        caught_up = await venue.flush_store(timeout=60)
        with venue.analytics.store.engine.connect() as conn:
            ids = [row[0] for row in conn.exec_driver_sql("SELECT id FROM trades")]
        return {"caught_up": caught_up, "trades": ids}
    account = venue.authenticate(msg["key"])
    if account is None:
        return {"error": "unauthorized"}
    try:
        if op == "place":
            status, answer = await venue.place_order(account, msg["body"])
            return {"status": status, "order": answer["order"], "fills": answer["fills"]}
        if op == "cancel":
            return {"order": await venue.cancel_order(account, msg["order_id"])}
        if op == "ship":
            return {"trade": await venue.ship(account, msg["trade_id"])}
        if op == "authenticate":
            trade_id, passed = msg["trade_id"], msg["passed"]
            return {"trade": await venue.authenticate_trade(account, trade_id, passed)}
    except ExchangeError as e:
        return {"error": e.code}
    raise ValueError(f"unknown op {op!r}")


async def _serve(data_dir: Path, snapshot_every: int | None) -> None:
    store = os.environ.get("CRASH_CHILD_STORE") == "1"
    cfg = VenueConfig(data_dir=data_dir, fsync=True, demo_catalog=True, store=store)
    if snapshot_every is not None:
        cfg = dataclasses.replace(cfg, snapshot_every=snapshot_every)
    venue = await Venue.open(cfg)
    _write({"ready": True, "seq": venue.engine.last_seq, "skus": venue.skus()[:8]})
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    tasks: set[asyncio.Task[None]] = set()

    async def answer(msg: dict[str, Any]) -> None:
        reply = await _handle(venue, msg)
        _write({"id": msg["id"], **reply})

    while line := await reader.readline():
        task = asyncio.create_task(answer(orjson.loads(line)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)
    await venue.close()


def main() -> None:
    """Serve the venue on ``sys.argv[1]`` until stdin closes (or SIGKILL)."""
    every = int(sys.argv[2]) if len(sys.argv) > 2 else None
    asyncio.run(_serve(Path(sys.argv[1]), every))


if __name__ == "__main__":
    main()
