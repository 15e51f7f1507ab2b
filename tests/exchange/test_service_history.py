"""History leaves memory on a real venue: eviction at the store's position,
paged lists across engine and store, idempotent repeats before and after a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from exchange.errors import ExchangeError
from exchange.history import Page
from exchange.venue import Venue, VenueConfig

SKU = "DZ5485-612-10"


def config(data_dir: Path) -> VenueConfig:
    return VenueConfig(data_dir=data_dir, fsync=False, tick_interval=3600)


def limit(side: str, price: int, **kw: Any) -> dict[str, Any]:
    return {"sku": SKU, "side": side, "type": "limit", "price_cents": price, "quantity": 1, **kw}


async def all_ids(venue: Venue, account: Any, kind: str, limit: int = 7, **kw: Any) -> list[int]:
    """Every id of a paged list, following next_before."""
    method = {"orders": venue.orders_page, "trades": venue.trades_page}[kind]
    ids: list[int] = []
    before = None
    while True:
        page = await method(account, Page(limit, before), **kw)
        ids.extend(r["id"] for r in page[kind])
        before = page["next_before"]
        if before is None:
            return ids


async def test_history_leaves_memory_and_stays_readable_and_idempotent(
    tmp_data_dir: Path,
) -> None:
    venue = await Venue.open(config(tmp_data_dir))
    try:
        seller = venue.authenticate((await venue.create_account("seller"))["api_key"])
        buyer = venue.authenticate((await venue.create_account("buyer"))["api_key"])
        checker = venue.authenticate(
            (await venue.create_account("checker", role="authenticator"))["api_key"]
        )
        assert seller and buyer and checker
        sold = []
        for i in range(12):
            status, placed = await venue.place_order(
                seller, limit("ask", 20_000 + 100 * i, client_order_id=f"k{i}")
            )
            assert status == 201
            sold.append(placed["order"]["id"])
            _, fill = await venue.place_order(buyer, limit("bid", 30_000))
            tid = fill["fills"][0]["id"]
            await venue.ship(seller, tid)
            await venue.authenticate_trade(checker, tid, True)
        # Amended before it filled: a repeat compares with the body as placed.
        _, amended = await venue.place_order(seller, limit("ask", 40_000, client_order_id="am"))
        await venue.amend_order(seller, amended["order"]["id"], {"price_cents": 41_000})
        await venue.cancel_order(seller, amended["order"]["id"])
        _, resting = await venue.place_order(seller, limit("ask", 90_000, client_order_id="open"))
        first = await venue.place_order(seller, limit("ask", 20_000, client_order_id="k0"))
        assert first[0] == 200
        before_orders = await all_ids(venue, seller, "orders")
        before_trades = await all_ids(venue, seller, "trades")
        await venue.flush_store()
        assert await venue.evict_if_due()
        engine = venue.engine
        assert all(engine.order_row(i) is None for i in sold)
        assert engine.order_row(resting["order"]["id"]) is not None
        assert engine.trade_count() == 12 and engine.trade_row(1) is None
        assert not await venue.evict_if_due()  # nothing more is due
        # The lists are the same, now mostly from the store.
        assert await all_ids(venue, seller, "orders") == before_orders
        assert await all_ids(venue, seller, "trades") == before_trades
        filled = await all_ids(venue, seller, "orders", status="filled")
        assert filled == sorted(sold, reverse=True)
        delivered = await all_ids(venue, checker, "trades", settlement_status="delivered")
        assert delivered == list(range(12, 0, -1))
        assert await all_ids(venue, checker, "trades", settlement_status="shipped") == []
        ledger = await venue.ledger_page(seller, Page(1000))
        assert len(ledger["entries"]) == 12 and ledger["next_before"] is None
        public = await venue.sku_trades_page(SKU, Page(5))
        assert [t["id"] for t in public["trades"]] == [12, 11, 10, 9, 8]
        # The feed's history (a sync read) keeps the SKU's recent trades too.
        assert venue.public_trades(SKU, 5) == public["trades"]
        assert [t["id"] for t in venue.public_trades(SKU, 3, before=4)] == [3, 2, 1]
        evicted_public = venue.public_trades(SKU, 100)

        async def check_repeats() -> None:
            status, again = await venue.place_order(
                seller, limit("ask", 20_000, client_order_id="k0")
            )
            assert status == 200 and again == first[1]
            status, again = await venue.place_order(
                seller, limit("ask", 40_000, client_order_id="am")
            )
            assert status == 200 and again["order"]["status"] == "canceled"
            assert again["order"]["price_cents"] == 41_000
            for body in (
                limit("ask", 20_100, client_order_id="k0"),
                limit("bid", 20_000, client_order_id="k0"),
                limit("ask", 41_000, client_order_id="am"),
            ):
                with pytest.raises(ExchangeError) as info:
                    await venue.place_order(seller, body)
                assert info.value.code == "client_order_id_reused"
            results = await venue.place_orders(
                seller, [limit("ask", 20_100, client_order_id="k1"), limit("ask", 50_000)]
            )
            assert results[0]["order"]["id"] == sold[1] and results[1]["order"]["status"] == "open"

        await check_repeats()
        snapshot_seq = engine.last_seq
    finally:
        await venue.close()
    venue = await Venue.open(config(tmp_data_dir))
    try:
        assert venue.engine.evicted_seq > 0 and venue.engine.last_seq >= snapshot_seq
        assert venue.engine.order_row(sold[0]) is None
        seller = venue.account(seller.id)
        checker = venue.account(checker.id)
        assert seller and checker
        assert set(before_orders) <= set(await all_ids(venue, seller, "orders"))
        assert venue.public_trades(SKU, 100) == evicted_public  # read from the store
        await check_repeats()
    finally:
        await venue.close()
