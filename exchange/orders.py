"""The order registry: every order of the venue, idempotency and expiry.

:class:`Orders` owns the orders (placed through the engine, matched on the
books), their per-account index, the ``client_order_id`` idempotency keys,
the expiry heap and the order id counter, and its part of the engine's
snapshot. It checks placements, cancels and amends statically
(:meth:`Orders.check_place`, :meth:`Orders.own_open`,
:meth:`Orders.check_amend`) and folds a book command's events into the
orders (:meth:`Orders.fold`).

An order row has the fields :data:`ORDER_KEYS` (times int ns): open orders
are dicts (they change), closed ones tuples in that order (they take a third
of the memory); :meth:`Orders.get` always answers a dict.

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
from collections.abc import Callable
from operator import itemgetter
from typing import Any

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

__all__ = [
    "CLIENT_ORDER_ID_MAX",
    "ORDER_KEYS",
    "SIDES",
    "TIFS",
    "TYPES",
    "Folded",
    "Orders",
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

ORDER_KEYS = (
    "id",
    "account_id",
    "client_order_id",
    "sku",
    "side",
    "type",
    "time_in_force",
    "post_only",
    "price_cents",
    "quantity",
    "filled_quantity",
    "status",
    "cancel_reason",
    "created_at",
    "updated_at",
    "expires_at",
)
"""The fields of an order row, in order (a closed order is kept as a tuple of them)."""

_order_tuple = itemgetter(*ORDER_KEYS)
"""An order row's values as a tuple in ORDER_KEYS order (in C, on the hot path)."""


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
    order: dict[str, Any], placed: tuple[int | None, int], cmd: PlaceOrder, now: int
) -> None:
    """Raise ``client_order_id_reused`` unless ``cmd`` (at ``now``) repeats the
    body that placed ``order`` (``placed``: its price and quantity as placed)."""
    same = (
        order["sku"] == cmd.sku
        and order["side"] == cmd.side
        and order["type"] == cmd.order_type
        and placed == (cmd.price_cents, cmd.quantity)
        and order["time_in_force"] == effective_tif(cmd.order_type, cmd.time_in_force)
        and order["post_only"] == cmd.post_only
        and _expiry_span(order["expires_at"], order["created_at"])
        == _expiry_span(cmd.expires_at, now)
    )
    if not same:
        raise _err(
            "client_order_id_reused",
            f"client_order_id {cmd.client_order_id!r} was already used for a different order.",
        )


Folded = tuple[list[dict[str, Any]], list[tuple[str, int, int]], dict[tuple[str, int], int], bool]
"""What :meth:`Orders.fold` found: ``(trades, changes, counts, levels_changed)``.

``trades`` are the rows :meth:`Orders.fold`'s ``on_fill`` made of the fills,
in match order; ``changes`` the ``(side, price, new_qty)`` level changes and
``counts`` the ``(side, price) -> orders`` of the changed levels (both live
only, empty while replaying); ``levels_changed`` whether any level changed.
"""


class Orders:
    """Every order, the idempotency keys and the expiry heap."""

    def __init__(self) -> None:
        self.next_id = 1
        # Open orders are dicts (they change); closed ones are tuples in
        # ORDER_KEYS order, which take a third of the memory.
        self._orders: dict[int, Any] = {}
        self._idem: dict[tuple[str, str], int] = {}
        self._first_fills: dict[int, list[int]] = {}
        # order id -> (price_cents, quantity) as placed, for orders with a
        # client_order_id (amends change the live values, not the body's).
        self._placed: dict[int, tuple[int | None, int]] = {}
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

    def own(self, account_id: str, order_id: object) -> dict[str, Any]:
        """The account's order ``order_id`` as a row; another's is ``not_found``."""
        order = self.get(order_id) if type(order_id) is int else None
        if order is None or order["account_id"] != account_id:
            raise _err("not_found", f"You have no order {order_id}.")
        return order

    def own_open(self, account_id: str, order_id: object) -> dict[str, Any]:
        """:meth:`own`, and open (else ``order_not_open``)."""
        order = self.own(account_id, order_id)
        if order["status"] != OPEN:
            raise _err("order_not_open", f"Order {order_id} is {order['status']}, not open.")
        return order

    def check_amend(self, cmd: AmendOrder, order: dict[str, Any], rules: SkuRules) -> None:
        """Check an amend of the open ``order`` against the SKU's rules."""
        if cmd.quantity is None and cmd.price_cents is None:
            raise _err("validation_error", "Give a new quantity, a new price_cents, or both.")
        if cmd.quantity is not None:
            if type(cmd.quantity) is not int:
                raise _err("validation_error", "quantity must be an integer.")
            if cmd.quantity <= order["filled_quantity"]:
                raise _err(
                    "quantity_at_or_below_filled",
                    f"The new quantity must be above the {order['filled_quantity']} "
                    "already filled.",
                )
            if cmd.quantity > rules.max_quantity:
                raise _err("quantity_out_of_range", reject_sentence("quantity_out_of_range", rules))
        if cmd.price_cents is not None:
            if type(cmd.price_cents) is not int:
                raise _err("validation_error", "price_cents must be an integer number of cents.")
            reason = check_price(rules, cmd.price_cents)
            if reason is not None:
                raise _err(str(reason), reject_sentence(str(reason), rules))

    def repeat_of(self, cmd: PlaceOrder, now: int) -> dict[str, Any] | None:
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
        order = self.get(order_id)
        assert order is not None
        check_repeat(order, self._placed[order_id], cmd, now)
        return order

    def first_fills(self, order_id: int) -> list[int]:
        """The trade ids of an idempotent order's first placement."""
        return self._first_fills.get(order_id, [])

    # ------------------------------------------------------------ changes

    def new(self, cmd: PlaceOrder, ts: int) -> dict[str, Any]:
        """Register a placed order, open, before the book sees it."""
        oid = self.next_id
        self.next_id = oid + 1
        account_id = cmd.account_id
        tif = cmd.time_in_force
        if tif == "gtc" and cmd.order_type == "market":  # effective_tif, inlined: hot path
            tif = "ioc"
        order: dict[str, Any] = {
            "id": oid,
            "account_id": account_id,
            "client_order_id": cmd.client_order_id,
            "sku": cmd.sku,
            "side": cmd.side,
            "type": cmd.order_type,
            "time_in_force": tif,
            "post_only": cmd.post_only,
            "price_cents": cmd.price_cents,
            "quantity": cmd.quantity,
            "filled_quantity": 0,
            "status": OPEN,
            "cancel_reason": None,
            "created_at": ts,
            "updated_at": ts,
            "expires_at": cmd.expires_at,
        }
        self._orders[oid] = order
        self._by_account.add(account_id, oid)
        if cmd.client_order_id is not None:
            self._idem[(account_id, cmd.client_order_id)] = oid
            # What the body said, for comparing repeats after amends.
            self._placed[oid] = (cmd.price_cents, cmd.quantity)
        self.open_count += 1
        open_by = self.open_by_account
        open_by[account_id] = open_by.get(account_id, 0) + 1
        return order

    def open_row(self, order_id: int) -> dict[str, Any]:
        """An open order's live row (validated commands name open orders)."""
        order: dict[str, Any] = self._orders[order_id]
        return order

    def fold(
        self,
        events: list[Any],
        out: Outcome,
        taker: dict[str, Any] | None,
        on_fill: Callable[[str, Fill, Outcome], dict[str, Any]],
        placing: bool = False,
    ) -> Folded:
        """Fold one book command's events into the orders.

        Each fill goes to ``on_fill(sku, fill, out)`` (which opens its trade) as it comes. A
        book refusal of a new order (``placing``: post-only would take) ends
        it ``rejected``; any other refusal becomes ``out.error``. A placement
        then arms the order's expiry (when it rests) and keeps its first
        fills (when it has a ``client_order_id``). Last, the touched orders'
        store ops follow the trades' (closed orders become tuples).
        """
        ts = out.ts
        orders = self._orders
        open_by = self.open_by_account
        touched: dict[int, dict[str, Any]] = {}
        if taker is not None:
            touched[taker["id"]] = taker
        trades: list[dict[str, Any]] = []
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
                maker["filled_quantity"] += qty
                tk["filled_quantity"] += qty
                maker["updated_at"] = ts
                tk["updated_at"] = ts
                if ev.maker_remaining == 0:
                    maker["status"] = FILLED
                    self.open_count -= 1
                    open_by[ev.maker_owner] -= 1
                if ev.taker_remaining == 0:
                    tk["status"] = FILLED
                    self.open_count -= 1
                    open_by[ev.taker_owner] -= 1
                touched[maker_id] = maker
                touched[taker_id] = tk
                trades.append(on_fill(tk["sku"], ev, out))
            elif kind is _CANCELED:
                o = orders[ev.order_id]
                o["status"] = EXPIRED if ev.reason is _EXPIRED_REASON else CANCELED
                o["cancel_reason"] = _REASONS[ev.reason]
                o["updated_at"] = ts
                self.open_count -= 1
                open_by[o["account_id"]] -= 1
                touched[o["id"]] = o
            elif kind is _AMENDED:
                o = orders[ev.order_id]
                o["price_cents"] = ev.price_cents
                o["quantity"] = ev.quantity
                o["updated_at"] = ts
                touched[o["id"]] = o
            elif kind is _REJECTED:
                if placing and taker is not None:
                    # A new order refused by the book (post-only would take):
                    # journaled all the same, it ends rejected.
                    taker["status"] = REJECTED
                    taker["cancel_reason"] = ev.reason.value
                    self.open_count -= 1
                    open_by[taker["account_id"]] -= 1
                else:
                    out.error = _err(ev.reason.value, reject_sentence(ev.reason.value, SkuRules()))
        if placing and taker is not None:
            # The placement's end: arm a resting order's expiry, keep its first fills.
            if taker["status"] == OPEN and taker["expires_at"] is not None:
                heapq.heappush(self._expiries, (taker["expires_at"], taker["id"]))
            if trades and taker["client_order_id"] is not None:
                self._first_fills[taker["id"]] = [t["id"] for t in trades]
        ops = out.store_ops
        want_ops = out.want_ops
        for o in touched.values():
            if want_ops:
                ops.append(("order", self.store_row(o)))
            if o["status"] != OPEN:
                orders[o["id"]] = _order_tuple(o)
                self.retired.add(out.seq, ORDER, o["id"])
        return trades, changes, counts, levels_changed

    def due_skus(self, ts: int) -> list[str]:
        """Pop the expiries due at ``ts``: the SKUs with an open order to expire, sorted."""
        due: set[str] = set()
        heap = self._expiries
        while heap and heap[0][0] <= ts:
            at, oid = heapq.heappop(heap)
            order = self._orders.get(oid)  # None: ended and evicted since
            if type(order) is dict and order["status"] == OPEN and order["expires_at"] == at:
                due.add(order["sku"])
        return sorted(due)

    def next_expiry(self) -> int | None:
        """The earliest expiry of an open order (stale heap entries are dropped)."""
        heap = self._expiries
        while heap:
            at, oid = heap[0]
            order = self._orders.get(oid)  # None: ended and evicted since
            if type(order) is dict and order["status"] == OPEN and order["expires_at"] == at:
                return at
            heapq.heappop(heap)
        return None

    # ------------------------------------------------------------ queries

    def get(self, order_id: int) -> dict[str, Any] | None:
        """An order as a row dict (a fresh copy for a closed order), or None."""
        order = self._orders.get(order_id)
        if order is None or type(order) is dict:
            return order
        return dict(zip(ORDER_KEYS, order, strict=True))

    def of_account(self, account_id: str) -> list[dict[str, Any]]:
        """The account's orders as rows, oldest first."""
        get = self.get
        return [get(i) or {} for i in self._by_account.ids(account_id)]

    def page(
        self, account_id: str, before: int | None, limit: int, status: str | None, sku: str | None
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` of the account's held orders below ``before``, newest first."""
        get = self.get
        want = None
        if status is not None or sku is not None:

            def want(oid: int) -> bool:
                o = get(oid)
                return (
                    o is not None
                    and (status is None or o["status"] == status)
                    and (sku is None or o["sku"] == sku)
                )

        return [get(i) or {} for i in self._by_account.page(account_id, before, limit, want)]

    def holds(self, order_id: int) -> bool:
        """Whether the order is still in memory (not evicted)."""
        return order_id in self._orders

    def store_row(self, order: dict[str, Any]) -> dict[str, Any]:
        """The store's copy of an order row, with the price and quantity as placed."""
        row = dict(order)
        placed = self._placed.get(order["id"])
        if placed is not None:
            row["placed_price_cents"], row["placed_quantity"] = placed
        return row

    def rows(self) -> list[dict[str, Any]]:
        """Every order as a fresh row (store shape), by id."""
        return [self.store_row(self.get(i) or {}) for i in self._orders]

    def evict(self, order_id: int) -> None:
        """Forget an ended order the store holds durably, with its idempotency key."""
        order = self.get(order_id)
        if order is None:
            return
        del self._orders[order_id]
        account_id = order["account_id"]
        self._by_account.remove(account_id, order_id)
        coid = order["client_order_id"]
        if coid is not None:
            self._idem.pop((account_id, coid), None)
            self._placed.pop(order_id, None)
            self._first_fills.pop(order_id, None)
            self.evicted_keys.add(account_id)

    # ------------------------------------------------------------ snapshot

    def _values(self, order_id: int) -> list[Any]:
        order = self._orders[order_id]
        if type(order) is dict:
            return list(_order_tuple(order))
        return list(order)

    def to_snapshot(self, into: dict[str, Any]) -> None:
        """Write the snapshot's ``orders``, ``placed``, ``idempotency`` and ``first_fills``.

        Rows are arrays in ORDER_KEYS order: a third of the size (and time)
        of dicts repeating their keys.
        """
        into["orders"] = [self._values(i) for i in sorted(self._orders)]
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
            o = dict(zip(ORDER_KEYS, values, strict=True))
            reg._orders[o["id"]] = o if o["status"] == OPEN else tuple(values)
            reg._by_account.add(o["account_id"], o["id"])
            if o["status"] == OPEN:
                reg.open_count += 1
                reg.open_by_account[o["account_id"]] = reg.open_of(o["account_id"]) + 1
                if o["expires_at"] is not None:
                    reg._expiries.append((o["expires_at"], o["id"]))
        heapq.heapify(reg._expiries)
        reg._placed = {i: (p, q) for i, p, q in data["placed"]}
        reg._idem = {(a, c): o for a, c, o in data["idempotency"]}
        reg._first_fills = {i: list(ids) for i, ids in data["first_fills"]}
        reg.evicted_keys = set(data.get("evicted_keys", ()))
        return reg
