"""A deterministic workload shaped like a resale market.

About 100 SKUs with Zipf-like popularity (a few hot sneakers, a long tail);
each SKU has a fair value between $80 and $2,000 that follows a random walk;
prices sit on 100-cent ticks; quantities are mostly 1. The mix, by share of
events: about 60% resting limit orders (a few ticks away from fair value,
expiring in 1-60 days as on StockX), 15% crossing orders (half "Buy Now" /
"Sell Now" market orders with price protection, half limit orders priced
through the spread, whose rest rests) and 25% cancels of orders that are
still live (the generator runs a bare book alongside to know which).

Events are plain tuples, the same for every consumer::

    (kind, sku_index, order_id, owner, side, price_cents, quantity, expires_at, now)

``kind`` is :data:`LIMIT`, :data:`MARKET` or :data:`CANCEL`; ``side`` is
``"bid"`` or ``"ask"``; for a market order ``price_cents`` is its price
protection; a cancel carries its SKU and order id, the other fields 0 / "" /
None. Times are int nanoseconds since the epoch. The same seed gives the
same list.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random

__all__ = [
    "CANCEL",
    "LIMIT",
    "MARKET",
    "Event",
    "Workload",
    "generate",
]

LIMIT = 0
MARKET = 1
CANCEL = 2

Event = tuple[int, int, int, str, str, int | None, int, int | None, int]

TICK = 100
DAY_NS = 86_400 * 1_000_000_000
START_NS = 1_767_225_600 * 1_000_000_000  # 2026-01-01T00:00:00Z


class Workload:
    """A generated workload: the events and how many SKUs they span."""

    __slots__ = ("events", "n_skus", "seed")

    def __init__(self, events: list[Event], n_skus: int, seed: int) -> None:
        self.events = events
        self.n_skus = n_skus
        self.seed = seed

    def mix(self) -> dict[str, int]:
        """Event counts by kind (``limit``, ``market``, ``cancel``)."""
        names = {LIMIT: "limit", MARKET: "market", CANCEL: "cancel"}
        counts = dict.fromkeys(names.values(), 0)
        for event in self.events:
            counts[names[event[0]]] += 1
        return counts


def _quantity(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.85:
        return 1
    if r < 0.95:
        return 2
    return rng.randint(3, 5)


def _on_tick(cents: float) -> int:
    return max(TICK, round(cents / TICK) * TICK)


def generate(
    n_events: int = 1_000_000,
    *,
    n_skus: int = 100,
    n_owners: int = 5_000,
    seed: int = 20260101,
    zipf_s: float = 1.1,
) -> Workload:
    """Build ``n_events`` events; deterministic for a given seed and sizes."""
    from .bare import BareBook  # bare.py imports this module's constants

    rng = random.Random(seed)
    cum_weights = list(itertools.accumulate(1.0 / (rank + 1) ** zipf_s for rank in range(n_skus)))
    total_weight = cum_weights[-1]
    # log-uniform fair values between $80 and $2,000, kept as floats in cents
    fair = [math.exp(rng.uniform(math.log(8_000), math.log(200_000))) for _ in range(n_skus)]
    books = [BareBook() for _ in range(n_skus)]
    live: list[tuple[int, int]] = []  # (sku, order_id), maybe stale; pruned on pick
    events: list[Event] = []
    next_id = 1
    now = START_NS
    while len(events) < n_events:
        now += rng.randint(1_000_000, 20_000_000)  # 1-20 ms between events
        r = rng.random()
        if r >= 0.75 and live:
            # Cancel a random live order; orders that filled meanwhile are
            # dropped from the candidate list as they are drawn.
            while live:
                j = rng.randrange(len(live))
                live[j], live[-1] = live[-1], live[j]
                sku, order_id = live.pop()
                if books[sku].cancel(order_id):
                    events.append((CANCEL, sku, order_id, "", "", None, 0, None, now))
                    break
            continue
        sku = bisect.bisect_left(cum_weights, rng.random() * total_weight)
        sku = min(sku, n_skus - 1)
        value = fair[sku] = min(200_000.0, max(8_000.0, fair[sku] * math.exp(rng.gauss(0, 0.002))))
        is_bid = rng.random() < 0.5
        side = "bid" if is_bid else "ask"
        owner = f"u{rng.randrange(n_owners)}"
        qty = _quantity(rng)
        order_id = next_id
        next_id += 1
        book = books[sku]
        if r < 0.60:
            # Resting: a few ticks on its own side of fair value.
            ticks = 1 + min(int(rng.expovariate(0.3)), 40)
            price = _on_tick(value - ticks * TICK if is_bid else value + ticks * TICK)
            expires_at = now + rng.randint(1, 60) * DAY_NS
            events.append((LIMIT, sku, order_id, owner, side, price, qty, expires_at, now))
            book.place(order_id, is_bid, price, qty, True)
            live.append((sku, order_id))
        elif r < 0.675:
            # Buy Now / Sell Now with 15% price protection.
            price = _on_tick(value * 1.15 if is_bid else value * 0.85)
            events.append((MARKET, sku, order_id, owner, side, price, qty, None, now))
            book.place(order_id, is_bid, price, qty, False)
        else:
            # A limit priced through the spread: trades, and its rest rests.
            ticks = rng.randint(2, 6)
            price = _on_tick(value + ticks * TICK if is_bid else value - ticks * TICK)
            expires_at = now + rng.randint(1, 60) * DAY_NS
            events.append((LIMIT, sku, order_id, owner, side, price, qty, expires_at, now))
            book.place(order_id, is_bid, price, qty, True)
            live.append((sku, order_id))
    return Workload(events, n_skus, seed)
