"""Property tests: random command sequences through the book and the reference.

A hypothesis state machine places every kind of order (GTC with and without
expiry, IOC, FOK, market with and without protection, post-only), cancels,
amends and expires, with three owners (so self-trade prevention happens),
nine valid price points plus an off-tick and an out-of-band one (so crossing
is frequent and rejections happen), and a small id space (so duplicate and
unknown ids and reuse after an order left all happen). After every step:

- the book's events equal the brute-force reference's (tests/orderbook/reference.py);
- a twin restored from the previous step's JSON snapshot gives the same events;
- ``seq`` is gap-free across all events; the book is never crossed;
- quantity is conserved: submitted = 2 * filled + canceled + resting
  (a fill takes from two orders);
- L2 depth equals the sum of the live orders; order views, best prices and
  the checksum agree with the reference; ``book.check()`` passes.

Under the ``ci`` profile (the default) it runs 2,000 examples of up to 30 steps.
"""

from __future__ import annotations

import json
import os

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from orderbook import (
    Accepted,
    Amended,
    AmendOrder,
    Canceled,
    CancelOrder,
    Command,
    Event,
    ExpireOrders,
    Fill,
    OrderBook,
    OrderType,
    PlaceOrder,
    Side,
    SkuRules,
    TimeInForce,
    book_checksum,
)

from .reference import ReferenceBook

RULES = SkuRules(tick_size_cents=100, min_price_cents=9_600, max_price_cents=10_400, max_quantity=5)
VALID_PRICES = list(range(9_600, 10_401, 100))
# Mostly valid prices, some off tick or out of band (a flat list: one_of would
# give the invalid ones half the draws).
PRICES = st.sampled_from([*VALID_PRICES, 9_500, 10_050, 10_500])
QUANTITIES = st.sampled_from([1, 1, 1, 2, 2, 3, 4, 5, 0, 6])  # 0 and 6 are out of range
ORDER_IDS = st.integers(min_value=1, max_value=30)
OWNERS = st.sampled_from(["alice", "bob", "carol"])
SIDES = st.sampled_from([Side.BID, Side.ASK])
KINDS = st.sampled_from(
    ["gtc", "gtc", "gtc_expiring", "gtc_expiring", "ioc", "fok", "market", "market", "post_only"]
)
PICK = st.one_of(st.integers(0, 50), st.integers(0, 50), st.integers(0, 50), st.none())

_CI = os.environ.get("HYPOTHESIS_PROFILE", "ci") == "ci"


class BookVersusReference(RuleBasedStateMachine):
    """Drives :class:`OrderBook`, a restored twin and the reference in lockstep."""

    def __init__(self) -> None:
        super().__init__()
        self.book = OrderBook("TEST-SKU", RULES)
        self.twin = OrderBook("TEST-SKU", RULES)
        self.ref = ReferenceBook(RULES)
        self.now = 1_000
        self.last_seq = 0
        self.totals: dict[int, int] = {}  # live order id -> its current total
        self.submitted = 0
        self.filled = 0
        self.canceled = 0
        self.next_id = 1

    def apply(self, cmd: Command) -> list[Event]:
        got = self.book.handle(cmd)
        want = self.ref.handle(cmd)
        assert got == want, f"{cmd}\nbook: {got}\nref:  {want}"
        assert self.twin.handle(cmd) == got, f"restored twin diverged on {cmd}"
        for event in got:
            assert event.seq == self.last_seq + 1, f"seq gap before {event}"
            self.last_seq = event.seq
            self._account(event)
        assert self.book.seq == self.last_seq
        snap = json.loads(json.dumps(self.book.snapshot()))
        self.twin = OrderBook.restore(snap)
        assert self.twin.snapshot() == snap
        return got

    def _account(self, event: Event) -> None:
        if type(event) is Accepted:
            self.submitted += event.quantity
            self.totals[event.order_id] = event.quantity
        elif type(event) is Amended:
            self.submitted += event.quantity - self.totals[event.order_id]
            self.totals[event.order_id] = event.quantity
        elif type(event) is Fill:
            self.filled += event.quantity
        elif type(event) is Canceled:
            self.canceled += event.quantity

    def _fresh_id(self, order_id: int, reuse: int) -> int:
        """Mostly a new id; one time in eight ``order_id`` (maybe live, maybe gone)."""
        if reuse == 0:
            return order_id
        self.next_id += 1
        return self.next_id

    @rule(
        order_id=ORDER_IDS,
        reuse=st.integers(0, 7),
        owner=OWNERS,
        side=SIDES,
        kind=KINDS,
        price=PRICES,
        quantity=QUANTITIES,
        protect=st.booleans(),
        ttl=st.integers(min_value=-1, max_value=6),
    )
    def place(
        self,
        order_id: int,
        reuse: int,
        owner: str,
        side: Side,
        kind: str,
        price: int,
        quantity: int,
        protect: bool,
        ttl: int,
    ) -> None:
        order_type = OrderType.MARKET if kind == "market" else OrderType.LIMIT
        tif = {"ioc": TimeInForce.IOC, "fok": TimeInForce.FOK}.get(kind, TimeInForce.GTC)
        self.apply(
            PlaceOrder(
                order_id=self._fresh_id(order_id, reuse),
                owner=owner,
                side=side,
                quantity=quantity,
                price_cents=None if kind == "market" and not protect else price,
                order_type=order_type,
                time_in_force=tif,
                post_only=kind == "post_only",
                expires_at=self.now + ttl if kind == "gtc_expiring" else None,
                now=self.now,
            )
        )

    @rule(
        owner=OWNERS,
        side=SIDES,
        quantity=st.integers(min_value=1, max_value=5),
        price=st.sampled_from(VALID_PRICES),
        ttl=st.one_of(st.none(), st.integers(min_value=1, max_value=8)),
    )
    def place_resting(
        self, owner: str, side: Side, quantity: int, price: int, ttl: int | None
    ) -> None:
        """A valid GTC limit at a fresh id: keeps the book deep enough to trade."""
        self.next_id += 1
        expires_at = None if ttl is None else self.now + ttl
        self.apply(
            PlaceOrder(
                self.next_id, owner, side, quantity, price, expires_at=expires_at, now=self.now
            )
        )

    def _target(self, order_id: int, pick: int | None) -> int:
        """A live order's id when ``pick`` is given and one rests, else ``order_id``."""
        live = sorted(o.order_id for o in self.ref.orders)
        if pick is None or not live:
            return order_id
        return live[pick % len(live)]

    @rule(order_id=ORDER_IDS, pick=PICK)
    def cancel(self, order_id: int, pick: int | None) -> None:
        self.apply(CancelOrder(self._target(order_id, pick), self.now))

    @rule(
        order_id=ORDER_IDS,
        pick=PICK,
        quantity=st.one_of(st.none(), QUANTITIES),
        price=st.one_of(st.none(), PRICES),
    )
    def amend(
        self, order_id: int, pick: int | None, quantity: int | None, price: int | None
    ) -> None:
        self.apply(AmendOrder(self._target(order_id, pick), quantity, price, self.now))

    @rule(advance=st.integers(min_value=0, max_value=4))
    def expire(self, advance: int) -> None:
        self.now += advance
        self.apply(ExpireOrders(self.now))

    @invariant()
    def agrees_with_reference(self) -> None:
        book, ref = self.book, self.ref
        book.check()
        bids, asks = book.depth()
        assert (bids, asks) == ref.depth()
        bid, ask = book.best_bid(), book.best_ask()
        assert bid == (bids[0][0] if bids else None)
        assert ask == (asks[0][0] if asks else None)
        assert bid is None or ask is None or bid < ask, "crossed book"
        resting = sum(q for _, q, _ in bids) + sum(q for _, q, _ in asks)
        assert self.submitted == 2 * self.filled + self.canceled + resting
        assert len(book) == len(ref.orders)
        for o in ref.orders:
            view = book.order(o.order_id)
            assert view is not None
            assert (view.price_cents, view.quantity, view.filled, view.remaining) == (
                o.price,
                o.quantity,
                o.filled,
                o.remaining,
            )
        assert book.checksum() == book_checksum(asks, bids)


BookVersusReference.TestCase.settings = settings(
    max_examples=2_000 if _CI else settings().max_examples,
    stateful_step_count=30,
    deadline=None,
)
TestBookVersusReference = BookVersusReference.TestCase
