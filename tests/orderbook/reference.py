"""A brute-force reference model of the order book: plain lists, no cleverness.

Every resting order sits in one flat list. Matching sorts the candidates
afresh, the level changes come from diffing the whole L2 picture before and
after a command, expiry scans every order. It is slow and obviously right,
which is the point: the property tests drive it and
:class:`orderbook.OrderBook` with the same commands and demand the same events.

It shares only the rule tables with the book (:mod:`orderbook.rules`: the
static check of a new order and of a price), not any of its code.
"""

from __future__ import annotations

from dataclasses import dataclass

from orderbook import (
    Accepted,
    Amended,
    AmendOrder,
    Canceled,
    CancelOrder,
    CancelReason,
    Command,
    Event,
    ExpireOrders,
    Fill,
    LevelChanged,
    OrderType,
    PlaceOrder,
    Rejected,
    RejectReason,
    Side,
    SkuRules,
    TimeInForce,
    check_place,
    check_price,
)

__all__ = ["RefOrder", "ReferenceBook"]


@dataclass
class RefOrder:
    """One resting order; ``stamp`` orders time priority (lower is earlier)."""

    order_id: int
    owner: str
    side: Side
    price: int
    quantity: int
    filled: int
    expires_at: int | None
    post_only: bool
    stamp: int

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled


class ReferenceBook:
    """The same contract as :class:`orderbook.OrderBook`, the slow way."""

    def __init__(self, rules: SkuRules) -> None:
        self.rules = rules
        self.orders: list[RefOrder] = []
        self.seq = 0
        self.stamp = 0
        self._events: list[Event] = []

    # ---------------------------------------------------------------- helpers

    def _emit(self, cls: type, *fields: object) -> None:
        self.seq += 1
        self._events.append(cls(self.seq, *fields))

    def _next_stamp(self) -> int:
        self.stamp += 1
        return self.stamp

    def find(self, order_id: int) -> RefOrder | None:
        for o in self.orders:
            if o.order_id == order_id:
                return o
        return None

    def levels(self) -> dict[tuple[Side, int], tuple[int, int]]:
        """(side, price) -> (total remaining, order count), from scratch."""
        out: dict[tuple[Side, int], tuple[int, int]] = {}
        for o in self.orders:
            qty, count = out.get((o.side, o.price), (0, 0))
            out[(o.side, o.price)] = (qty + o.remaining, count + 1)
        return out

    def depth(self) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
        """All levels, bids highest first, asks lowest first."""
        levels = self.levels()
        bids = sorted(
            ((p, q, n) for (s, p), (q, n) in levels.items() if s is Side.BID), reverse=True
        )
        asks = sorted((p, q, n) for (s, p), (q, n) in levels.items() if s is Side.ASK)
        return bids, asks

    def _best(self, side: Side) -> int | None:
        prices = [o.price for o in self.orders if o.side is side]
        if not prices:
            return None
        return max(prices) if side is Side.BID else min(prices)

    @staticmethod
    def _crosses(side: Side, limit: int | None, resting_price: int) -> bool:
        if limit is None:
            return True
        return resting_price <= limit if side is Side.BID else resting_price >= limit

    def _fillable(self, side: Side, limit: int | None, owner: str) -> int:
        return sum(
            o.remaining
            for o in self.orders
            if o.side is not side and o.owner != owner and self._crosses(side, limit, o.price)
        )

    def _match(self, order_id: int, owner: str, side: Side, limit: int | None, qty: int) -> int:
        """Trade ``qty`` against the opposite side; returns what is left."""
        candidates = [
            o for o in self.orders if o.side is not side and self._crosses(side, limit, o.price)
        ]
        if side is Side.BID:
            candidates.sort(key=lambda o: (o.price, o.stamp))
        else:
            candidates.sort(key=lambda o: (-o.price, o.stamp))
        for maker in candidates:
            if qty == 0:
                break
            if maker.owner == owner:
                self._emit(Canceled, maker.order_id, CancelReason.SELF_TRADE, maker.remaining)
                self.orders.remove(maker)
                continue
            traded = min(qty, maker.remaining)
            qty -= traded
            maker.filled += traded
            self._emit(
                Fill,
                order_id,
                maker.order_id,
                owner,
                maker.owner,
                side,
                maker.price,
                traded,
                qty,
                maker.remaining,
            )
            if maker.remaining == 0:
                self.orders.remove(maker)
        return qty

    # ---------------------------------------------------------------- commands

    def handle(self, cmd: Command) -> list[Event]:
        """Apply one command; the events, level changes last (from an L2 diff)."""
        self._events = []
        before = self.levels()
        if isinstance(cmd, PlaceOrder):
            self._place(cmd)
        elif isinstance(cmd, CancelOrder):
            self._cancel(cmd)
        elif isinstance(cmd, AmendOrder):
            self._amend(cmd)
        elif isinstance(cmd, ExpireOrders):
            self._expire(cmd)
        else:
            raise TypeError(cmd)
        after = self.levels()
        changed = [key for key in set(before) | set(after) if before.get(key) != after.get(key)]
        changed.sort(key=lambda key: (0 if key[0] is Side.BID else 1, key[1]))
        for side, price in changed:
            qty, count = after.get((side, price), (0, 0))
            self._emit(LevelChanged, side, price, qty, count)
        return self._events

    def _place(self, cmd: PlaceOrder) -> None:
        reason = check_place(
            self.rules,
            cmd.order_type,
            cmd.price_cents,
            cmd.quantity,
            cmd.time_in_force,
            cmd.post_only,
            cmd.expires_at,
            cmd.now,
        )
        if reason is not None:
            self._emit(Rejected, cmd.order_id, reason)
            return
        if self.find(cmd.order_id) is not None:
            self._emit(Rejected, cmd.order_id, RejectReason.DUPLICATE_ORDER_ID)
            return
        opposite = Side.ASK if cmd.side is Side.BID else Side.BID
        best = self._best(opposite)
        crosses = best is not None and self._crosses(cmd.side, cmd.price_cents, best)
        if cmd.post_only and crosses:
            self._emit(Rejected, cmd.order_id, RejectReason.POST_ONLY_WOULD_TAKE)
            return
        self._emit(
            Accepted,
            cmd.order_id,
            cmd.owner,
            cmd.side,
            cmd.order_type,
            cmd.time_in_force,
            cmd.price_cents,
            cmd.quantity,
        )
        if (
            cmd.time_in_force is TimeInForce.FOK
            and self._fillable(cmd.side, cmd.price_cents, cmd.owner) < cmd.quantity
        ):
            self._emit(Canceled, cmd.order_id, CancelReason.FOK_UNFILLABLE, cmd.quantity)
            return
        left = self._match(cmd.order_id, cmd.owner, cmd.side, cmd.price_cents, cmd.quantity)
        if left == 0:
            return
        if cmd.order_type is OrderType.MARKET:
            self._emit(Canceled, cmd.order_id, CancelReason.MARKET_REMAINDER, left)
        elif cmd.time_in_force is not TimeInForce.GTC:
            self._emit(Canceled, cmd.order_id, CancelReason.IOC_REMAINDER, left)
        else:
            assert cmd.price_cents is not None
            self.orders.append(
                RefOrder(
                    cmd.order_id,
                    cmd.owner,
                    cmd.side,
                    cmd.price_cents,
                    cmd.quantity,
                    cmd.quantity - left,
                    cmd.expires_at,
                    cmd.post_only,
                    self._next_stamp(),
                )
            )

    def _cancel(self, cmd: CancelOrder) -> None:
        order = self.find(cmd.order_id)
        if order is None:
            self._emit(Rejected, cmd.order_id, RejectReason.UNKNOWN_ORDER)
            return
        self.orders.remove(order)
        self._emit(Canceled, order.order_id, CancelReason.USER, order.remaining)

    def _amend_reason(self, order: RefOrder | None, cmd: AmendOrder) -> RejectReason | None:
        if order is None:
            return RejectReason.UNKNOWN_ORDER
        if cmd.quantity is None and cmd.price_cents is None:
            return RejectReason.INVALID_ORDER
        if cmd.quantity is not None:
            if type(cmd.quantity) is not int:
                return RejectReason.INVALID_QUANTITY
            if cmd.quantity <= order.filled:
                return RejectReason.QUANTITY_AT_OR_BELOW_FILLED
            if cmd.quantity > self.rules.max_quantity:
                return RejectReason.INVALID_QUANTITY
        if cmd.price_cents is not None:
            reason = check_price(self.rules, cmd.price_cents)
            if reason is not None:
                return reason
            if order.post_only and cmd.price_cents != order.price:
                opposite = Side.ASK if order.side is Side.BID else Side.BID
                best = self._best(opposite)
                if best is not None and self._crosses(order.side, cmd.price_cents, best):
                    return RejectReason.POST_ONLY_WOULD_TAKE
        return None

    def _amend(self, cmd: AmendOrder) -> None:
        order = self.find(cmd.order_id)
        reason = self._amend_reason(order, cmd)
        if reason is not None or order is None:
            self._emit(Rejected, cmd.order_id, reason or RejectReason.UNKNOWN_ORDER)
            return
        quantity = order.quantity if cmd.quantity is None else cmd.quantity
        price = order.price if cmd.price_cents is None else cmd.price_cents
        if price == order.price:
            kept = quantity <= order.quantity
            if quantity > order.quantity:
                order.stamp = self._next_stamp()
            order.quantity = quantity
            self._emit(Amended, order.order_id, price, quantity, order.remaining, kept)
            return
        self.orders.remove(order)
        left = quantity - order.filled
        self._emit(Amended, order.order_id, price, quantity, left, False)
        left = self._match(order.order_id, order.owner, order.side, price, left)
        if left:
            order.price = price
            order.quantity = quantity
            order.filled = quantity - left
            order.stamp = self._next_stamp()
            self.orders.append(order)

    def _expire(self, cmd: ExpireOrders) -> None:
        due = [o for o in self.orders if o.expires_at is not None and o.expires_at <= cmd.now]
        due.sort(key=lambda o: (o.expires_at, o.order_id))
        for order in due:
            self.orders.remove(order)
            self._emit(Canceled, order.order_id, CancelReason.EXPIRED, order.remaining)
