"""Simulated traders for ``exchange demo``: a market that moves and trades.

A few accounts quote bids and asks around a per-SKU fair value that follows
a random walk (a few ticks at a time, never below the SKU's band), on a
handful of SKUs of the demo catalog. Most orders rest near the touch; about
one in six crosses the spread (a limit through the opposite best, or a
"Buy Now"/"Sell Now" market order) so trades happen. Each trader keeps at
most a dozen resting orders, canceling its oldest, so books stay small.
Everything goes in-process through the venue, exactly like REST orders.
When the demo stops (the server shuts down), its traders cancel their
resting orders: the next run trades with new accounts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from typing import TYPE_CHECKING, Any

from exchange.errors import ExchangeError

if TYPE_CHECKING:
    from exchange.venue import Venue

__all__ = ["DemoMarket", "run_demo_traders"]

log = logging.getLogger("api.demo")

TRADER_NAMES = ("Ada (demo)", "Bo (demo)", "Cy (demo)", "Di (demo)", "Ed (demo)")
MAX_RESTING = 12
# The README's quick start trades this SKU by hand; the simulation leaves it
# alone so that the reader's bid meets the reader's own ask.
QUICKSTART_SKU = "DZ5485-612-10"


class DemoMarket:
    """The simulation's state: fair values per SKU and each trader's open orders.

    ``next_order()`` is pure given the random generator (testable without a
    venue): it returns ``(trader index, order body)``.
    """

    def __init__(self, skus: list[tuple[str, int, dict[str, int]]], traders: int,
                 rng: random.Random) -> None:
        """``skus``: (sku, retail cents, rules) of the SKUs to trade."""
        self.rng = rng
        self.skus = skus
        self.traders = traders
        self.fair: dict[str, int] = {}
        for sku, retail, rules in skus:
            tick = rules["tick_size_cents"]
            start = int(retail * rng.uniform(1.0, 1.6))
            self.fair[sku] = self._clamp(start - start % tick, rules)

    @staticmethod
    def _clamp(price: int, rules: dict[str, int]) -> int:
        return max(rules["min_price_cents"], min(rules["max_price_cents"], price))

    def next_order(self) -> tuple[int, dict[str, Any]]:
        """Move one SKU's fair value and make one order around it."""
        rng = self.rng
        sku, _retail, rules = rng.choice(self.skus)
        tick = rules["tick_size_cents"]
        fair = self.fair[sku]
        # Random walk of the fair value, in ticks, scaled to the price.
        step = max(1, fair // (200 * tick))
        fair = self._clamp(fair + rng.randint(-step, step) * tick, rules)
        self.fair[sku] = fair
        side = rng.choice(("bid", "ask"))
        trader = rng.randrange(self.traders)
        spread = max(1, fair // (100 * tick))
        body: dict[str, Any] = {"sku": sku, "side": side, "quantity": rng.choice((1, 1, 1, 2, 3))}
        if rng.random() < 1 / 6:
            # Cross: through the fair value far enough to meet resting orders.
            offset = rng.randint(1, 3) * spread * tick
            price = fair + offset if side == "bid" else fair - offset
            if rng.random() < 0.5:
                body.update(type="market", price_cents=self._clamp(price, rules))
            else:
                body.update(type="limit", price_cents=self._clamp(price, rules),
                            time_in_force="ioc")
        else:
            offset = rng.randint(1, 4) * spread * tick
            price = fair - offset if side == "bid" else fair + offset
            body.update(type="limit", price_cents=self._clamp(price, rules))
        return trader, body


async def run_demo_traders(
    venue: Venue, *, rate: float = 8.0, seed: int | None = None, skus: int = 24
) -> None:
    """Trade forever (until canceled) at about ``rate`` orders per second."""
    if rate <= 0:
        return
    rng = random.Random(seed)
    catalog = [
        (s["sku"], p["retail_price_cents"])
        for p in venue.products()
        for s in p["skus"]
        if s["sku"] != QUICKSTART_SKU
    ]
    if not catalog:
        return
    chosen = rng.sample(catalog, min(skus, len(catalog)))
    market = DemoMarket(
        [(sku, retail, dict(venue.sku_rules(sku))) for sku, retail in chosen], len(TRADER_NAMES),
        rng,
    )
    accounts = []
    for name in TRADER_NAMES:
        created = await venue.create_account(name, role="trader")
        account = venue.authenticate(created["api_key"])
        assert account is not None  # just created
        accounts.append(account)
    resting: list[deque[int]] = [deque() for _ in accounts]
    try:
        while True:
            trader, body = market.next_order()
            account = accounts[trader]
            try:
                _status, result = await venue.place_order(account, body)
                order = result["order"]
                if order["status"] == "open":
                    resting[trader].append(order["id"])
                while len(resting[trader]) > MAX_RESTING:
                    old = resting[trader].popleft()
                    with contextlib.suppress(ExchangeError):
                        await venue.cancel_order(account, old)
            except ExchangeError as exc:
                log.debug("demo order refused: %s", exc)
            await asyncio.sleep(rng.expovariate(rate))
    finally:
        # Each run trades with new accounts, so orders left resting would stay
        # on the books for good, at stale prices, owned by accounts nobody can
        # use: take them off when the demo stops.
        await _cancel_resting(venue, accounts, resting)


async def _cancel_resting(venue: Venue, accounts: list[Any], resting: list[deque[int]]) -> None:
    for account, orders in zip(accounts, resting, strict=True):
        while orders:
            order_id = orders.popleft()
            with contextlib.suppress(ExchangeError):
                await venue.cancel_order(account, order_id)
