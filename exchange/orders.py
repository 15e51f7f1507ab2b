"""The order registry: every order of the venue, idempotency and expiry.

:class:`Orders` owns the orders (placed through the engine, matched on the
books), their per-account index, the ``client_order_id`` idempotency keys,
the expiry heap and the order id counter, and its part of the engine's
snapshot. It checks placements, cancels and amends statically
(:meth:`Orders.check_place`, :meth:`Orders.own_open`,
:meth:`Orders.check_amend`) and folds a book command's events into the
orders (:meth:`Orders.fold`).

An order is an :class:`OrderRecord` (a slotted record, times int ns, money
int cents; its fields in :data:`ORDER_KEYS` order): as small as a tuple of
its values, and changed in place while it is open. Outside the engine it
goes out as a store row (:meth:`OrderRecord.to_row`) or a wire shape
(:func:`exchange.wire.order_wire`); the snapshot keeps it as an array of its
values (:meth:`OrderRecord.values`).

Idempotency: ``(account_id, client_order_id)`` is unique for good.
:meth:`Orders.repeat_of` finds the order a repeated placement names, when
the normalized body is the same (the price and quantity as placed, not as
amended since; the expiry compared as a duration, ``expires_at -
created_at``, because the venue derives ``expires_at`` from the body's
``expires_in_days`` and the record's time); a different body raises
``client_order_id_reused``.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

from orderbook.events import Accepted, Amended, Canceled, Fill, LevelChanged, Rejected
from orderbook.rules import (
    CancelReason,
    OrderType,
    Side,
    SkuRules,
    TimeInForce,
    check_place,
    check_price,
)

from .commands import AmendOrder, PlaceOrder
from .errors import ExchangeError
from .eviction import ORDER, IdIndex, Retirements
from .outcome import Outcome
from .trades import TradeRecord

__all__ = [
    "CLIENT_ORDER_ID_MAX",
    "ORDER_KEYS",
    "SIDES",
    "TIFS",
    "TYPES",
    "Folded",
    "OrderRecord",
    "Orders",
    "Placed",
    "check_repeat",
    "effective_tif",
    "reject_sentence",
]

OPEN = "open"
FILLED = "filled"
CANCELED = "canceled"
EXPIRED = "expired"
REJECTED = "rejected"

CLIENT_ORDER_ID_MAX = 64

SIDES = {"bid": Side.BID, "ask": Side.ASK}
TYPES = {"limit": OrderType.LIMIT, "market": OrderType.MARKET}
TIFS = {"gtc": TimeInForce.GTC, "ioc": TimeInForce.IOC, "fok": TimeInForce.FOK}

# Hot-path constants bound once (enum attribute lookups cost in loops).
_ACCEPTED = Accepted
_FILL = Fill
_LEVEL = LevelChanged
_CANCELED = Canceled
_AMENDED = Amended
_REJECTED = Rejected
_EXPIRED_REASON = CancelReason.EXPIRED
_BID = Side.BID
# Enum .value goes through a descriptor; a dict lookup is cheaper on the hot path.
_REASONS = {reason: str(reason.value) for reason in CancelReason}


@dataclass(slots=True)
class OrderRecord:
    """One order (times int ns, money int cents), changed in place while open.

    ``side`` is ``bid``|``ask``, ``type`` ``limit``|``market``,
    ``time_in_force`` the effective one (:func:`effective_tif`), ``status``
    one of ``open``, ``filled``, ``canceled``, ``expired``, ``rejected``;
    ``price_cents`` and ``quantity`` are the live ones (as amended).
    """

    id: int
    account_id: str
    client_order_id: str | None
    sku: str
    side: str
    type: str
    time_in_force: str
    post_only: bool
    price_cents: int | None
    quantity: int
    filled_quantity: int
    status: str
    cancel_reason: str | None
    created_at: int
    updated_at: int
    expires_at: int | None

    def values(self) -> list[Any]:
        """The fields' values in :data:`ORDER_KEYS` order (the snapshot's array)."""
        return [
            self.id,
            self.account_id,
            self.client_order_id,
            self.sku,
            self.side,
            self.type,
            self.time_in_force,
            self.post_only,
            self.price_cents,
            self.quantity,
            self.filled_quantity,
            self.status,
            self.cancel_reason,
            self.created_at,
            self.updated_at,
            self.expires_at,
        ]

    def to_row(self) -> dict[str, Any]:
        """A fresh dict of the fields (the store's ``orders`` columns)."""
        return {
            "id": self.id,
            "account_id": self.account_id,
            "client_order_id": self.client_order_id,
            "sku": self.sku,
            "side": self.side,
            "type": self.type,
            "time_in_force": self.time_in_force,
            "post_only": self.post_only,
            "price_cents": self.price_cents,
            "quantity": self.quantity,
            "filled_quantity": self.filled_quantity,
            "status": self.status,
            "cancel_reason": self.cancel_reason,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> OrderRecord:
        """The record of a store row (its extra columns ignored)."""
        return cls(*[row[k] for k in ORDER_KEYS])


ORDER_KEYS: tuple[str, ...] = tuple(f.name for f in fields(OrderRecord))
"""The fields of an order, in order (the snapshot's arrays)."""


class Placed(NamedTuple):
    """An order's price and quantity as placed (an amend changes the live ones)."""

    price_cents: int | None
    quantity: int


def _err(code: str, message: str) -> ExchangeError:
    return ExchangeError(code, message)


def reject_sentence(code: str, rules: SkuRules) -> str:
    """The sentence for a reason code of :func:`orderbook.rules.check_place` or the book."""
    if code == "off_tick":
        return f"price_cents must be a multiple of the tick size, {rules.tick_size_cents} cents."
    if code == "price_out_of_band":
        return (
            f"price_cents must lie between {rules.min_price_cents} and "
            f"{rules.max_price_cents} cents."
        )
    if code == "quantity_out_of_range":
        return f"quantity must be between 1 and {rules.max_quantity}."
    if code == "missing_price":
        return "A limit order needs price_cents."
    if code == "expiry_in_past":
        return "The order would expire before it is placed."
    if code == "quantity_at_or_below_filled":
        return "The new quantity must be above the quantity already filled."
    if code == "post_only_would_take":
        return "A post-only order may not take liquidity."
    return (
        "This combination is not allowed: market orders cannot be post-only or "
        "expire, post-only and expiry need time_in_force 'gtc'."
    )


def effective_tif(order_type: str, time_in_force: str) -> str:
    """The time in force an order is kept and shown with.

    A market order never rests, so "good till canceled" would be wrong:
    one sent with ``gtc`` (the default) is ``ioc``; ``ioc`` and ``fok`` stay.
    The book gets the command's own value (it treats a market order's rest
    alike either way), so replay is unchanged.
    """
    if order_type == "market" and time_in_force == "gtc":
        return "ioc"
    return time_in_force


def _expiry_span(expires_at: int | None, created_at: int) -> int | None:
    return None if expires_at is None else expires_at - created_at


def check_repeat(
    order: OrderRecord, placed: Sequence[int | None], cmd: PlaceOrder, now: int
) -> None:
    """Raise ``client_order_id_reused`` unless ``cmd`` (at ``now``) repeats the
    body that placed ``order`` (``placed``: its price and quantity as placed)."""
    same = (
        order.sku == cmd.sku
        and order.side == cmd.side
        and order.type == cmd.order_type
        and tuple(placed) == (cmd.price_cents, cmd.quantity)
        and order.time_in_force == effective_tif(cmd.order_type, cmd.time_in_force)
        and order.post_only == cmd.post_only
        and _expiry_span(order.expires_at, order.created_at) == _expiry_span(cmd.expires_at, now)
    )
    if not same:
        raise _err(
            "client_order_id_reused",
            f"client_order_id {cmd.client_order_id!r} was already used for a different order.",
        )


@dataclass(slots=True)
class Folded:
    """What :meth:`Orders.fold` found in one book command's events.

    Attributes:
        trades: the trades :meth:`Orders.fold`'s ``on_fill`` opened, in match order.
        changes: the ``(side, price, new_qty)`` level changes (live only,
            empty while replaying).
        counts: ``(side, price) -> orders`` of the changed levels (live only).
        levels_changed: whether any level changed (replaying too).
    """

    trades: list[TradeRecord]
    changes: list[tuple[str, int, int]]
    counts: dict[tuple[str, int], int]
    levels_changed: bool


class Orders:
    """Every order, the idempotency keys and the expiry heap."""

    def __init__(self) -> None:
        self.next_id = 1
        self._orders: dict[int, OrderRecord] = {}
        self._idem: dict[tuple[str, str], int] = {}
        self._first_fills: dict[int, list[int]] = {}
        # Orders with a client_order_id: what the body said, for comparing
        # repeats after amends.
        self._placed: dict[int, Placed] = {}
        # Derived (rebuilt on restore, never snapshotted).
        self._by_account = IdIndex(self._orders.__contains__)
        self.retired = Retirements()
        """Shared with the trades: where an order that ends is queued for eviction."""
        self.evicted_keys: set[str] = set()
        """Accounts with an evicted ``client_order_id``: their new keys must be
        looked up in the store too (snapshotted; bounded by the accounts)."""
        self._expiries: list[tuple[int, int]] = []
        self.open_count = 0
        self.open_by_account: dict[str, int] = {}
        """account id -> its open orders (derived; read it, never change it)."""

    # ------------------------------------------------------------ checks

    def check_place(self, cmd: PlaceOrder, rules: SkuRules, now: int) -> None:
        """Check a placement's fields, its ``client_order_id`` and the SKU's rules.

        Raises:
            ExchangeError: the placement must not be journaled.
        """
        if not isinstance(cmd.side, str) or cmd.side not in SIDES:
            raise _err("validation_error", "side must be 'bid' or 'ask'.")
        otype = TYPES.get(cmd.order_type) if isinstance(cmd.order_type, str) else None
        if otype is None:
            raise _err("validation_error", "type must be 'limit' or 'market'.")
        tif = TIFS.get(cmd.time_in_force) if isinstance(cmd.time_in_force, str) else None
        if tif is None:
            raise _err("validation_error", "time_in_force must be 'gtc', 'ioc' or 'fok'.")
        if type(cmd.post_only) is not bool:
            raise _err("validation_error", "post_only must be true or false.")
        # bool is an int subclass; a JSON true must never pass for a quantity.
        if type(cmd.quantity) is not int:
            raise _err("validation_error", "quantity must be an integer.")
        if cmd.price_cents is not None and type(cmd.price_cents) is not int:
            raise _err("validation_error", "price_cents must be an integer number of cents.")
        if cmd.expires_at is not None and type(cmd.expires_at) is not int:
            raise _err("validation_error", "expires_at must be an integer time in ns.")
        coid = cmd.client_order_id
        if coid is not None:
            if not isinstance(coid, str) or not 1 <= len(coid) <= CLIENT_ORDER_ID_MAX:
                raise _err(
                    "validation_error",
                    f"client_order_id must be a string of 1 to {CLIENT_ORDER_ID_MAX} characters.",
                )
            if (cmd.account_id, coid) in self._idem:
                raise _err(
                    "client_order_id_reused",
                    f"client_order_id {coid!r} was already used for a different order.",
                )
        reason = check_place(
            rules, otype, cmd.price_cents, cmd.quantity, tif, cmd.post_only, cmd.expires_at, now
        )
        if reason is not None:
            raise _err(str(reason), reject_sentence(str(reason), rules))

    def open_of(self, account_id: str) -> int:
        """How many open orders the account has (O(1))."""
        return self.open_by_account.get(account_id, 0)

    def own(self, account_id: str, order_id: object) -> OrderRecord:
        """The account's order ``order_id``; another's is ``not_found``."""
        order = self._orders.get(order_id) if type(order_id) is int else None
        if order is None or order.account_id != account_id:
            raise _err("not_found", f"You have no order {order_id}.")
        return order

    def own_open(self, account_id: str, order_id: object) -> OrderRecord:
        """:meth:`own`, and open (else ``order_not_open``)."""
        order = self.own(account_id, order_id)
        if order.status != OPEN:
            raise _err("order_not_open", f"Order {order_id} is {order.status}, not open.")
        return order

    def check_amend(self, cmd: AmendOrder, order: OrderRecord, rules: SkuRules) -> None:
        """Check an amend of the open ``order`` against the SKU's rules."""
        if cmd.quantity is None and cmd.price_cents is None:
            raise _err("validation_error", "Give a new quantity, a new price_cents, or both.")
        if cmd.quantity is not None:
            if type(cmd.quantity) is not int:
                raise _err("validation_error", "quantity must be an integer.")
            if cmd.quantity <= order.filled_quantity:
                raise _err(
                    "quantity_at_or_below_filled",
                    f"The new quantity must be above the {order.filled_quantity} already filled.",
                )
            if cmd.quantity > rules.max_quantity:
                raise _err("quantity_out_of_range", reject_sentence("quantity_out_of_range", rules))
        if cmd.price_cents is not None:
            if type(cmd.price_cents) is not int:
                raise _err("validation_error", "price_cents must be an integer number of cents.")
            reason = check_price(rules, cmd.price_cents)
            if reason is not None:
                raise _err(str(reason), reject_sentence(str(reason), rules))

    def repeat_of(self, cmd: PlaceOrder, now: int) -> OrderRecord | None:
        """The order a repeated placement names, or None when its id is new.

        Raises:
            ExchangeError: ``client_order_id_reused`` for a different body.
        """
        coid = cmd.client_order_id
        if coid is None:
            return None
        order_id = self._idem.get((cmd.account_id, coid))
        if order_id is None:
            return None
        order = self._orders[order_id]
        check_repeat(order, self._placed[order_id], cmd, now)
        return order

    def first_fills(self, order_id: int) -> list[int]:
        """The trade ids of an idempotent order's first placement."""
        return self._first_fills.get(order_id, [])

    # ------------------------------------------------------------ changes

    def new(self, cmd: PlaceOrder, ts: int) -> OrderRecord:
        """Register a placed order, open, before the book sees it."""
        oid = self.next_id
        self.next_id = oid + 1
        account_id = cmd.account_id
        coid = cmd.client_order_id
        tif = cmd.time_in_force
        if tif == "gtc" and cmd.order_type == "market":  # effective_tif, inlined: hot path
            tif = "ioc"
        order = OrderRecord(
            oid,
            account_id,
            coid,
            cmd.sku,
            cmd.side,
            cmd.order_type,
            tif,
            cmd.post_only,
            cmd.price_cents,
            cmd.quantity,
            0,
            OPEN,
            None,
            ts,
            ts,
            cmd.expires_at,
        )
        self._orders[oid] = order
        self._by_account.add(account_id, oid)
        if coid is not None:
            self._idem[(account_id, coid)] = oid
            self._placed[oid] = Placed(cmd.price_cents, cmd.quantity)
        self.open_count += 1
        open_by = self.open_by_account
        open_by[account_id] = open_by.get(account_id, 0) + 1
        return order

    def open_row(self, order_id: int) -> OrderRecord:
        """An open order's live record (validated commands name open orders)."""
        return self._orders[order_id]

    def fold(
        self,
        events: list[Any],
        out: Outcome,
        taker: OrderRecord | None,
        on_fill: Callable[[str, Fill, Outcome], TradeRecord],
        placing: bool = False,
    ) -> Folded:
        """Fold one book command's events into the orders.

        Each fill goes to ``on_fill(sku, fill, out)`` (which opens its trade) as it comes. A
        book refusal of a new order (``placing``: post-only would take) ends
        it ``rejected``; any other refusal becomes ``out.error``. A placement
        then arms the order's expiry (when it rests) and keeps its first
        fills (when it has a ``client_order_id``). Last, the touched orders'
        store ops follow the trades' (an order that ended is queued for eviction).
        """
        ts = out.ts
        orders = self._orders
        open_by = self.open_by_account
        touched: dict[int, OrderRecord] = {}
        if taker is not None:
            touched[taker.id] = taker
        trades: list[TradeRecord] = []
        changes: list[tuple[str, int, int]] = []
        counts: dict[tuple[str, int], int] = {}
        live = out.live
        levels_changed = False
        for ev in events:
            kind = type(ev)
            if kind is _ACCEPTED:
                continue
            if kind is _LEVEL:
                levels_changed = True
                if live:  # a replay builds no BookUpdate: skip its parts
                    side = "bid" if ev.side is _BID else "ask"
                    price = ev.price_cents
                    changes.append((side, price, ev.quantity))
                    counts[(side, price)] = ev.orders
            elif kind is _FILL:
                taker_id = ev.taker_order_id
                maker_id = ev.maker_order_id
                qty = ev.quantity
                maker = orders[maker_id]
                tk = orders[taker_id]
                maker.filled_quantity += qty
                tk.filled_quantity += qty
                maker.updated_at = ts
                tk.updated_at = ts
                if ev.maker_remaining == 0:
                    maker.status = FILLED
                    self.open_count -= 1
                    open_by[ev.maker_owner] -= 1
                if ev.taker_remaining == 0:
                    tk.status = FILLED
                    self.open_count -= 1
                    open_by[ev.taker_owner] -= 1
                touched[maker_id] = maker
                touched[taker_id] = tk
                trades.append(on_fill(tk.sku, ev, out))
            elif kind is _CANCELED:
                o = orders[ev.order_id]
                o.status = EXPIRED if ev.reason is _EXPIRED_REASON else CANCELED
                o.cancel_reason = _REASONS[ev.reason]
                o.updated_at = ts
                self.open_count -= 1
                open_by[o.account_id] -= 1
                touched[o.id] = o
            elif kind is _AMENDED:
                o = orders[ev.order_id]
                o.price_cents = ev.price_cents
                o.quantity = ev.quantity
                o.updated_at = ts
                touched[o.id] = o
            elif kind is _REJECTED:
                if placing and taker is not None:
                    # A new order refused by the book (post-only would take):
                    # journaled all the same, it ends rejected.
                    taker.status = REJECTED
                    taker.cancel_reason = ev.reason.value
                    self.open_count -= 1
                    open_by[taker.account_id] -= 1
                else:
                    out.error = _err(ev.reason.value, reject_sentence(ev.reason.value, SkuRules()))
        if placing and taker is not None:
            # The placement's end: arm a resting order's expiry, keep its first fills.
            if taker.status == OPEN and taker.expires_at is not None:
                heapq.heappush(self._expiries, (taker.expires_at, taker.id))
            if trades and taker.client_order_id is not None:
                self._first_fills[taker.id] = [t.id for t in trades]
        ops = out.store_ops
        want_ops = out.want_ops
        for o in touched.values():
            if want_ops:
                ops.append(("order", self.store_row(o)))
            if o.status != OPEN:
                self.retired.add(out.seq, ORDER, o.id)
        return Folded(trades, changes, counts, levels_changed)

    def _armed(self, order_id: int, at: int) -> OrderRecord | None:
        """The open order whose expiry at ``at`` a heap entry names (else None:
        the entry is stale, the order ended or was evicted since)."""
        order = self._orders.get(order_id)
        if order is not None and order.status == OPEN and order.expires_at == at:
            return order
        return None

    def due_skus(self, ts: int) -> list[str]:
        """Pop the expiries due at ``ts``: the SKUs with an open order to expire, sorted."""
        due: set[str] = set()
        heap = self._expiries
        while heap and heap[0][0] <= ts:
            at, oid = heapq.heappop(heap)
            order = self._armed(oid, at)
            if order is not None:
                due.add(order.sku)
        return sorted(due)

    def next_expiry(self) -> int | None:
        """The earliest expiry of an open order (stale heap entries are dropped)."""
        heap = self._expiries
        while heap:
            at, oid = heap[0]
            if self._armed(oid, at) is not None:
                return at
            heapq.heappop(heap)
        return None

    # ------------------------------------------------------------ queries

    def get(self, order_id: int) -> OrderRecord | None:
        """An order (the live record: read it, never change it), or None."""
        return self._orders.get(order_id)

    def of_account(self, account_id: str) -> list[OrderRecord]:
        """The account's orders, oldest first."""
        orders = self._orders
        return [orders[i] for i in self._by_account.ids(account_id)]

    def page(
        self, account_id: str, before: int | None, limit: int, status: str | None, sku: str | None
    ) -> list[OrderRecord]:
        """Up to ``limit`` of the account's held orders below ``before``, newest first."""
        orders = self._orders
        want = None
        if status is not None or sku is not None:

            def want(oid: int) -> bool:
                o = orders.get(oid)
                return (
                    o is not None
                    and (status is None or o.status == status)
                    and (sku is None or o.sku == sku)
                )

        return [orders[i] for i in self._by_account.page(account_id, before, limit, want)]

    def holds(self, order_id: int) -> bool:
        """Whether the order is still in memory (not evicted)."""
        return order_id in self._orders

    def store_row(self, order: OrderRecord) -> dict[str, Any]:
        """The store's row of an order, with the price and quantity as placed."""
        row = order.to_row()
        placed = self._placed.get(order.id)
        if placed is not None:
            row["placed_price_cents"], row["placed_quantity"] = placed
        return row

    def rows(self) -> list[dict[str, Any]]:
        """Every order as a fresh store row, by id."""
        return [self.store_row(o) for o in self._orders.values()]

    def evict(self, order_id: int) -> None:
        """Forget an ended order the store holds durably, with its idempotency key."""
        order = self._orders.pop(order_id, None)
        if order is None:
            return
        account_id = order.account_id
        self._by_account.remove(account_id, order_id)
        coid = order.client_order_id
        if coid is not None:
            self._idem.pop((account_id, coid), None)
            self._placed.pop(order_id, None)
            self._first_fills.pop(order_id, None)
            self.evicted_keys.add(account_id)

    # ------------------------------------------------------------ snapshot

    def to_snapshot(self, into: dict[str, Any]) -> None:
        """Write the snapshot's ``orders``, ``placed``, ``idempotency`` and ``first_fills``.

        Orders are arrays in ORDER_KEYS order: a third of the size (and time)
        of dicts repeating their keys.
        """
        orders = self._orders
        into["orders"] = [orders[i].values() for i in sorted(orders)]
        into["placed"] = [[i, *self._placed[i]] for i in sorted(self._placed)]
        into["idempotency"] = sorted([a, c, o] for (a, c), o in self._idem.items())
        into["first_fills"] = [[i, self._first_fills[i]] for i in sorted(self._first_fills)]
        into["evicted_keys"] = sorted(self.evicted_keys)

    @classmethod
    def from_snapshot(cls, data: dict[str, Any], next_id: int) -> Orders:
        """Inverse of :meth:`to_snapshot`; rebuilds the derived indexes."""
        reg = cls()
        reg.next_id = next_id
        for values in data["orders"]:
            o = OrderRecord(*values)
            reg._orders[o.id] = o
            reg._by_account.add(o.account_id, o.id)
            if o.status == OPEN:
                reg.open_count += 1
                reg.open_by_account[o.account_id] = reg.open_of(o.account_id) + 1
                if o.expires_at is not None:
                    reg._expiries.append((o.expires_at, o.id))
        heapq.heapify(reg._expiries)
        reg._placed = {i: Placed(p, q) for i, p, q in data["placed"]}
        reg._idem = {(a, c): o for a, c, o in data["idempotency"]}
        reg._first_fills = {i: list(ids) for i, ids in data["first_fills"]}
        reg.evicted_keys = set(data.get("evicted_keys", ()))
        return reg
