"""The limit order book of one SKU: a sans-I/O protocol object.

Commands in, events out. :class:`OrderBook` reads no clock, invents no id and
does no I/O: the caller (``exchange/engine.py``) hands in ids, owners and
times inside the commands of :mod:`orderbook.commands`, and gets back a
``list`` of the events of :mod:`orderbook.events`. The same commands in the
same order give the same events, byte for byte.

Layout
------
``book.py`` (this module: commands, matching, the id index, the expiry heap)
→ ``ladder.py`` (one side: ``SortedDict`` price → level) → ``level.py`` (a
FIFO ``deque`` of resting :class:`~orderbook.level.Order` objects, with the
level's total quantity and order count). Both ladders are keyed by the plain
price; the best bid is the last key, the best ask the first.

Example
-------
>>> from orderbook import OrderBook, PlaceOrder, Side, SkuRules
>>> book = OrderBook("DZ5485-612-10", SkuRules(tick_size_cents=100))
>>> [type(e).__name__ for e in book.place(PlaceOrder(1, "ann", Side.ASK, 2, 21_000))]
['Accepted', 'LevelChanged']
>>> events = book.place(PlaceOrder(2, "bob", Side.BID, 1, 22_000))
>>> fill = events[1]
>>> (fill.price_cents, fill.quantity, fill.taker_remaining, fill.maker_remaining)
(21000, 1, 0, 1)
>>> book.best_ask(), book.depth(1), book.seq
(21000, ([], [(21000, 1, 1)]), 5)

Contract
--------
- ``OrderBook(sku, rules)``; ``place(PlaceOrder)``, ``cancel(CancelOrder)``,
  ``amend(AmendOrder)``, ``expire(ExpireOrders)`` and ``handle(cmd)``, which
  dispatches on the command's type, each return ``list[Event]``.
- Price-time priority: better price first, then earlier arrival. A trade
  happens at the resting (maker) order's price, for the smaller of the two
  remaining quantities.
- Every event carries ``seq``, the book's event counter: it rises by exactly
  one per event across all commands (``self.seq`` is the last one used). A
  command that emits nothing (an :class:`ExpireOrders` with nothing due)
  uses no number.
- Events of one command, in order:

  1. ``Accepted`` (a new order) or ``Rejected(reason)``; a ``Rejected``
     command emits nothing else and changes nothing but ``seq``;
     ``Amended`` opens an amend, ``Canceled`` a cancel;
  2. the fills and self-trade cancels, in the order they happen;
  3. the taker's own ``Canceled`` for an unfilled IOC / market / FOK rest;
  4. one ``LevelChanged`` per price level whose quantity or order count
     changed, sorted by side (bid before ask) then price ascending, with
     the level's new total quantity and order count (0 and 0: removed).

- Place checks, in order: the static rules (:func:`rules.check_place`: the
  quantity range, price present for a limit, tick, band, TIF combinations,
  expiry after ``now``) → ``Rejected(<its reason>)``; a live order with the
  same id → ``Rejected(duplicate_order_id)``; a post-only order whose price
  would cross the opposite best → ``Rejected(post_only_would_take)``.
- FOK: checked before any fill. The fillable quantity (:meth:`would_fill`)
  counts only other owners' orders within the limit price; when it is short
  of the whole quantity the order is ``Accepted`` then ``Canceled
  (fok_unfillable)`` and nothing else changes (not even self-trade cancels).
- Market orders ("Buy Now" / "Sell Now") match up to their optional price
  protection (``price_cents``, the worst price they may trade at) and never
  rest: their unfilled rest is ``Canceled(market_remainder)``. A limit IOC's
  rest is ``Canceled(ioc_remainder)``. A GTC limit's rest rests.
- Self-trade prevention: when the incoming order meets a resting order of
  the same owner, the resting one is canceled (``Canceled(self_trade)``, its
  whole remaining quantity) and matching goes on.
- Cancel: ``Canceled(user)`` with the quantity that left. Unknown (or no
  longer resting) id → ``Rejected(unknown_order)``; the same for amend.
- Amend (``quantity`` is the new total including what has filled):

  * the new total must exceed the filled quantity, else ``Rejected
    (quantity_at_or_below_filled)``; above ``max_quantity`` →
    ``Rejected(quantity_out_of_range)``; the new price obeys tick and band;
    neither given → ``Rejected(invalid_order)``; a post-only order may not
    move to a price that would cross → ``Rejected(post_only_would_take)``;
  * same price, lower total: keeps its place in the queue
    (``kept_priority=True``); same price and same total: a no-op that still
    answers ``Amended(kept_priority=True)``;
  * same price, higher total: goes to the back of its level
    (``kept_priority=False``);
  * new price: a cancel-and-replace. The order leaves its level, then
    matches as a taker with the same id (fills, self-trade cancels) at
    resting prices, and its rest rests at the new price, at the back.
    ``Amended.remaining`` is the remaining quantity before that matching.
  * Expiry, owner, side and the post-only flag never change.

- Expiry: ``expires_at`` (GTC only) is the time from which the order is
  expired by :class:`ExpireOrders`; an order past its time still trades until
  that command comes (the engine journals expiry as a command, so replay is
  exact). Due orders go in ``(expires_at, order_id)`` order, each with
  ``Canceled(expired)``. Amends keep the expiry; canceled, filled and
  self-trade-canceled orders never expire.
- Queries: :meth:`best_bid`, :meth:`best_ask`, :meth:`depth`,
  :meth:`order`, :meth:`checksum`, ``len(book)`` (resting orders),
  :meth:`would_fill`.
- :meth:`snapshot` returns a JSON-able ``dict`` and :meth:`restore` builds the
  book back: same orders in the same priority, same ``seq``, so the same
  future commands give the same future events.
- :meth:`check` raises ``AssertionError`` when an invariant breaks (the
  property tests call it after every step).

Invariants (checked by :meth:`check`)
-------------------------------------
- The book is never crossed: best bid < best ask after every command.
- Every live order is in the id index and once, live, in the level of its
  side and price; levels hold only their own side and price.
- A level's ``quantity`` / ``count`` equal the sum / number of its live
  orders. A level emptied by a cancel, an expiry or an amend while not the
  best of its side may stay as a "ghost" (``count == 0``, no entries) until
  an order comes to its price again, matching reaches it or a sweep drops
  it; the best level of a side is never a ghost, and queries never show
  ghosts (``LevelChanged`` still reports the emptied level as 0 and 0).
- For each live order ``0 < remaining <= quantity`` (what has filled is
  ``quantity - remaining``).
- The cached best prices equal the ladders' first / last keys.
- Every order with an expiry has an ``(expires_at, order_id)`` entry, in
  the heap or (as the order itself) in the pending list.

Complexity (L levels on a side, k orders at a level)
----------------------------------------------------
- ``best_bid`` / ``best_ask`` / ``order`` / ``len``: O(1) (best prices are
  cached and refreshed, O(1) by ``peekitem``, when a best level goes).
- ``cancel``: O(1) (the order holds its level), plus O(log L) when it
  empties the best level. The order is marked dead in its queue (lazy
  removal, as in the bare reference loop); each cancel, expiry or re-queue
  spends one unit of a budget of as many dead entries as there are orders
  and levels (plus 16), and a sweep drops them all when it is spent, so
  removal is amortized O(1) and memory stays O(orders + levels). Ghost
  levels are swept when they outnumber the live ones (plus 64).
- ``place`` resting at an existing level (or a ghost): O(1); at a new
  level O(log L); matching costs O(1) per fill plus O(log L) per emptied
  level (and per ghost passed, once).
- ``expire``: O(1) when nothing is due (a compare with the smallest pending
  expiry and a peek at the heap); O(log n) per expired order. A resting
  order with an expiry is appended to a pending list (O(1)); when the
  smallest pending expiry is due, the live pending orders move into the
  exact heap of ``(expires_at, order_id)``, each once. Entries of orders
  gone for other reasons are dropped lazily when they surface, and
  filtered out in one pass whenever they have doubled since the last pass
  (amortized O(1)), so memory stays O(orders).
- ``depth(n)``: O(log L + n + g), ``checksum``: O(log L + 10 + g), where
  g is the number of ghosts passed (fewer than the live levels plus 64).

Performance notes
-----------------
The hot paths (``place`` of a non-crossing GTC limit, ``cancel``, ``_take``)
work on fields and locals directly, compare enums by identity against
``Final`` module constants and keep the best prices cached instead of asking
the ``SortedDict``. Resting orders hold their level, so a cancel looks
nothing up; one stale-entry budget replaces per-queue checks; expiry
bookkeeping is an append and a compare; a level emptied behind the best
stays as a ghost, so a market quoting around a fair value does not remove
and re-insert the same prices.

The package is written to be compiled by mypyc (``setup.py``; ``make``
does it): every field and local on the hot path has a precise type, so
compiled, orders, levels and events are C structs, their integer fields
machine integers, and a method call a C call. Command fields are read as
``Any`` and type-checked by hand before anything relies on their type: a
malformed command is rejected, never a ``TypeError``. Only the
``SortedDict`` and ``deque`` calls stay generic. ``bench/book.py``
measures the book against the bare reference book of ../shared/DESIGN.md,
compiled and as Python.

Determinism and known limitations
---------------------------------
- No hashing of strings, no ``set`` iteration, no clock: the output depends
  only on the commands. Heap ties break on the order id.
- An order id may be reused once its order has left the book; ids are the
  caller's business (the engine never reuses them).
- The FOK check walks the opposite side within the limit, O(orders).
- Compiled, the fields of the book, its levels, orders and events are typed
  at run time: assigning a str to ``OrderBook.seq`` raises ``TypeError``
  (interpreted, it would go through and break later).
"""

from __future__ import annotations

from heapq import heapify, heappop, heappush
from typing import Any, Final, NamedTuple

from sortedcontainers import SortedDict

from .checksum import CHECKSUM_DEPTH, book_checksum
from .commands import AmendOrder, CancelOrder, Command, ExpireOrders, PlaceOrder
from .events import Accepted, Amended, Canceled, Event, Fill, LevelChanged, Rejected
from .ladder import Ladder
from .level import Level, Order, format_order
from .rules import (
    CancelReason,
    OrderType,
    RejectReason,
    Side,
    SkuRules,
    TimeInForce,
    check_place,
    check_price,
)

__all__ = ["SNAPSHOT_FORMAT", "OrderBook", "OrderView"]

SNAPSHOT_FORMAT: Final = 1

# Module constants bound once: attribute lookups on enum classes are slow in
# the hot path, and `is` against a constant is the cheapest test there is
# (compiled, a Final constant is a C static).
_BID: Final = Side.BID
_ASK: Final = Side.ASK
_LIMIT: Final = OrderType.LIMIT
_MARKET: Final = OrderType.MARKET
_GTC: Final = TimeInForce.GTC
_IOC: Final = TimeInForce.IOC
_FOK: Final = TimeInForce.FOK
_USER: Final = CancelReason.USER
_SELF_TRADE: Final = CancelReason.SELF_TRADE
_EXPIRED: Final = CancelReason.EXPIRED
_IOC_REMAINDER: Final = CancelReason.IOC_REMAINDER
_MARKET_REMAINDER: Final = CancelReason.MARKET_REMAINDER
_FOK_UNFILLABLE: Final = CancelReason.FOK_UNFILLABLE
_DUPLICATE: Final = RejectReason.DUPLICATE_ORDER_ID
_UNKNOWN: Final = RejectReason.UNKNOWN_ORDER
_POST_ONLY: Final = RejectReason.POST_ONLY_WOULD_TAKE
_INVALID: Final = RejectReason.INVALID_ORDER
# Expiry entries are filtered when they number more than twice the live ones
# plus this slack (entries of orders that left for other reasons).
_EXPIRY_SLACK: Final = 1024
# Dead queue entries allowed beyond one per order and level before a sweep.
_STALE_SLACK: Final = 16
# Ghost levels are swept when twice their number exceeds all levels plus this.
_GHOST_SLACK: Final = 64
# `_pending_min` when nothing is pending. Not a real bound: an entry at or
# past it leaves it unchanged, and any `now` that reaches such an entry also
# reaches the sentinel, so the entry is flushed in time all the same. (A
# plain int beyond any nanosecond time, small enough to stay a machine
# integer when compiled.)
_NO_PENDING: Final = (1 << 62) - 1


class OrderView(NamedTuple):
    """A read-only copy of one resting order's state.

    ``quantity`` is the total (including what has filled);
    ``quantity == filled + remaining``. Resting orders are always GTC.
    """

    order_id: int
    owner: str
    side: Side
    price_cents: int
    quantity: int
    filled: int
    remaining: int
    expires_at: int | None
    time_in_force: TimeInForce
    post_only: bool


def _norm(enum_cls: Any, value: Any) -> Any:
    """``value`` as a member of ``enum_cls``, or None when it is not one."""
    if isinstance(value, enum_cls):
        return value
    try:
        return enum_cls(value)
    except ValueError:
        return None


class OrderBook:
    """The order book of one SKU; see the module docstring for the contract.

    Args:
        sku: The SKU this book trades (carried for snapshots and messages).
        rules: The SKU's tick, price band and maximum quantity (defaults when None).

    Attributes:
        sku: The SKU.
        rules: Its :class:`~orderbook.rules.SkuRules`.
        seq: The ``seq`` of the last event emitted (0 before any).
    """

    __slots__ = (
        "_ask_levels",
        "_asks",
        "_best_ask",
        "_best_bid",
        "_bid_levels",
        "_bids",
        "_expiry_limit",
        "_ghosts",
        "_heap",
        "_max_price",
        "_max_quantity",
        "_min_price",
        "_orders",
        "_pending",
        "_pending_min",
        "_stale_left",
        "_tick",
        "rules",
        "seq",
        "sku",
    )

    def __init__(self, sku: str, rules: SkuRules | None = None) -> None:
        self.sku = sku
        self.rules = rules if rules is not None else SkuRules()
        self.seq = 0
        self._bids = Ladder(_BID)
        self._asks = Ladder(_ASK)
        # The ladders' SortedDicts, held directly for the hot path, and the
        # best prices cached: maintained wherever a level appears or goes.
        self._bid_levels: SortedDict = self._bids.levels
        self._ask_levels: SortedDict = self._asks.levels
        self._best_bid: int | None = None
        self._best_ask: int | None = None
        self._orders: dict[int, Order] = {}
        # Empty levels left in the ladders behind the best (see ladder.py).
        self._ghosts = 0
        # Expiry: orders with an expiry are appended to `_pending` as they
        # rest (an append and a compare: the cheapest bookkeeping there is),
        # with the smallest expiry among them in `_pending_min`. When that is
        # due, the live pending orders move into `_heap`, the exact heap of
        # (expires_at, order_id). Entries of orders that left meanwhile are
        # stale: dropped when they surface, or by `_compact_expiry`.
        self._heap: list[tuple[int, int]] = []
        self._pending: list[Order] = []
        self._pending_min: int = _NO_PENDING
        self._expiry_limit = _EXPIRY_SLACK
        # Dead entries (and stale expiry entries) that may still appear
        # before `_sweep` drops them: each cancel, expiry or re-queue spends
        # one. One counter is cheaper than checking every queue as it goes.
        self._stale_left = _STALE_SLACK
        r = self.rules
        # The rules as plain ints for the inline check. The band starts at its
        # first multiple of the tick, so `min <= p <= max and not p % tick`
        # is exactly "on tick and in band".
        self._tick: int = r.tick_size_cents
        self._min_price: int = -(-r.min_price_cents // r.tick_size_cents) * r.tick_size_cents
        self._max_price: int = r.max_price_cents
        self._max_quantity: int = r.max_quantity

    # ------------------------------------------------------------------ commands

    def handle(self, cmd: Command) -> list[Event]:
        """Apply any command; dispatches to :meth:`place`, :meth:`cancel`, ...

        Raises:
            TypeError: ``cmd`` is not a command (a bug in the caller).
        """
        if isinstance(cmd, PlaceOrder):
            return self.place(cmd)
        if isinstance(cmd, CancelOrder):
            return self.cancel(cmd)
        if isinstance(cmd, AmendOrder):
            return self.amend(cmd)
        if isinstance(cmd, ExpireOrders):
            return self.expire(cmd)
        raise TypeError(f"not an order book command: {cmd!r}")

    def place(self, cmd: PlaceOrder) -> list[Event]:
        """Place a new order.

        Emits ``Rejected`` alone, or ``Accepted``, then ``Fill`` and
        ``Canceled(self_trade)`` as matching goes, then the taker's
        ``Canceled(ioc_remainder | market_remainder | fok_unfillable)`` if its
        rest does not rest, then ``LevelChanged`` per changed level.
        """
        # Read untyped: a malformed field must reach the checks below and be
        # rejected, not fail a type check on the way in.
        fields: tuple[Any, ...] = cmd
        order_id, owner, side, quantity, price, order_type, tif, post_only, expires_at, now = (
            fields
        )
        # The common cases (valid orders given as enum members, not
        # post-only) are checked inline; anything else takes the general
        # check, which also normalizes str enums. The type checks come first
        # because True == 1 and 1.0 == 1 would pass the comparisons.
        if (
            type(quantity) is int
            and 0 < quantity <= self._max_quantity
            and type(order_id) is int
            and type(owner) is str
            and not post_only
            and (side is _BID or side is _ASK)
        ):
            if (
                order_type is _LIMIT
                and tif is _GTC
                and type(price) is int
                and self._min_price <= price <= self._max_price
                and not price % self._tick
                and (expires_at is None or (type(expires_at) is int and expires_at > now))
            ):
                orders = self._orders
                if order_id in orders:
                    return self._reject(order_id, _DUPLICATE)
                if side is _BID:
                    best = self._best_ask
                    rests = best is None or best > price
                    levels = self._bid_levels
                else:
                    best = self._best_bid
                    rests = best is None or best < price
                    levels = self._ask_levels
                if rests:
                    # The common path: nothing to match, the order rests at once.
                    level: Level | None = levels.get(price)
                    if level is None:
                        level = self._add_level(side, price)
                    elif not level.count:
                        self._ghosts -= 1  # an empty level comes back to life
                    order = Order(order_id, owner, level, quantity, quantity, expires_at, False)
                    level.orders.append(order)
                    level_qty = level.quantity = level.quantity + quantity
                    count = level.count = level.count + 1
                    orders[order_id] = order
                    if expires_at is not None:
                        self._pending.append(order)
                        if expires_at < self._pending_min:
                            self._pending_min = expires_at
                    seq = self.seq
                    self.seq = seq + 2
                    return [
                        Accepted(seq + 1, order_id, owner, side, _LIMIT, _GTC, price, quantity),
                        LevelChanged(seq + 2, side, price, level_qty, count),
                    ]
                fast = True
            else:
                # Market orders and limit IOC / FOK with valid fields: no
                # expiry, a price in the band (optional for a market order).
                fast = (
                    expires_at is None
                    and (tif is _GTC or tif is _IOC or tif is _FOK)
                    and (
                        (
                            type(price) is int
                            and self._min_price <= price <= self._max_price
                            and not price % self._tick
                        )
                        or (price is None and order_type is _MARKET)
                    )
                    and (order_type is _LIMIT or order_type is _MARKET)
                )
        else:
            fast = False
        if not fast:
            reason, side, order_type, tif = self._check_place(cmd)
            if reason is not None:
                return self._reject(order_id, reason)
        return self._place_checked(
            order_id, owner, side, quantity, price, order_type, tif, bool(post_only), expires_at
        )

    def _place_checked(
        self,
        order_id: int,
        owner: str,
        side: Side,
        quantity: int,
        price: int | None,
        order_type: OrderType,
        tif: TimeInForce,
        post_only: bool,
        expires_at: int | None,
    ) -> list[Event]:
        """Place an order that passed the static checks: match, then rest or cancel."""
        orders = self._orders
        if order_id in orders:
            return self._reject(order_id, _DUPLICATE)
        is_bid = side is _BID
        if is_bid:
            best = self._best_ask
            crosses = best is not None and (price is None or best <= price)
        else:
            best = self._best_bid
            crosses = best is not None and (price is None or best >= price)
        if post_only and crosses:
            return self._reject(order_id, _POST_ONLY)
        seq = self.seq + 1
        events: list[Event] = [
            Accepted(seq, order_id, owner, side, order_type, tif, price, quantity)
        ]
        if tif is _FOK and self.would_fill(side, price, quantity, owner) < quantity:
            seq += 1
            events.append(Canceled(seq, order_id, _FOK_UNFILLABLE, quantity))
            self.seq = seq
            return events
        touched: list[Level] = []
        remaining = quantity
        if crosses:
            remaining, seq = self._take(
                order_id, owner, is_bid, price, quantity, events, seq, touched
            )
            # Makers that left keep stale expiry entries: keep those bounded.
            if len(self._pending) > self._expiry_limit:
                self._compact_expiry()
        rest: Level | None = None
        if remaining:
            if order_type is _MARKET:
                seq += 1
                events.append(Canceled(seq, order_id, _MARKET_REMAINDER, remaining))
            elif tif is not _GTC:
                seq += 1
                events.append(Canceled(seq, order_id, _IOC_REMAINDER, remaining))
            else:
                assert price is not None  # a limit order
                rest = self._rest(
                    order_id, owner, side, price, quantity, remaining, expires_at, post_only
                )
        # Level changes: bid levels ascending, then ask levels ascending. A
        # bid taker touched asks from the lowest up; an ask taker touched bids
        # from the highest down, hence the reversal.
        if is_bid:
            if rest is not None:
                seq += 1
                events.append(LevelChanged(seq, _BID, rest.price, rest.quantity, rest.count))
            for level in touched:
                seq += 1
                events.append(LevelChanged(seq, _ASK, level.price, level.quantity, level.count))
        else:
            for level in reversed(touched):
                seq += 1
                events.append(LevelChanged(seq, _BID, level.price, level.quantity, level.count))
            if rest is not None:
                seq += 1
                events.append(LevelChanged(seq, _ASK, rest.price, rest.quantity, rest.count))
        self.seq = seq
        return events

    def cancel(self, cmd: CancelOrder) -> list[Event]:
        """Cancel a resting order: ``Canceled(user)`` then its ``LevelChanged``.

        An unknown id emits ``Rejected(unknown_order)``.
        """
        order_id: Any = cmd[0]
        order = self._orders.pop(order_id, None) if type(order_id) is int else None
        if order is None:
            return self._reject(order_id, _UNKNOWN)
        remaining = order.remaining
        order.remaining = 0
        level = order.level
        level_qty = level.quantity = level.quantity - remaining
        count = level.count = level.count - 1
        if not count:
            self._emptied(level)
        stale = self._stale_left - 1
        self._stale_left = stale
        if not stale:
            self._sweep()
        seq = self.seq
        self.seq = seq + 2
        return [
            Canceled(seq + 1, order_id, _USER, remaining),
            LevelChanged(seq + 2, level.side, level.price, level_qty, count),
        ]

    def amend(self, cmd: AmendOrder) -> list[Event]:
        """Change a resting order's total quantity and/or price.

        Emits ``Rejected`` alone, or ``Amended``, then (after a price change)
        ``Fill`` / ``Canceled(self_trade)`` as it matches, then
        ``LevelChanged`` per changed level. See the module docstring for
        which changes keep time priority.
        """
        fields: tuple[Any, ...] = cmd
        order_id, new_qty, new_price, _now = fields
        order = self._orders.get(order_id) if type(order_id) is int else None
        reason = self._check_amend(order, new_qty, new_price)
        if reason is not None or order is None:
            return self._reject(order_id, reason or _UNKNOWN)
        level = order.level
        old_price = level.price
        old_total = order.quantity
        old_remaining = order.remaining
        filled = old_total - old_remaining
        quantity: int = old_total if new_qty is None else new_qty
        price: int = old_price if new_price is None else new_price
        side = level.side
        is_bid = side is _BID
        seq = self.seq + 1
        if price == old_price:
            delta = quantity - old_total
            kept = delta <= 0
            events: list[Event] = [
                Amended(seq, order_id, price, quantity, old_remaining + delta, kept)
            ]
            if delta < 0:
                order.quantity = quantity
                order.remaining = old_remaining + delta
                level.quantity += delta
            elif delta > 0:
                # Losing priority: mark this entry dead, queue a copy at the back.
                fresh = Order(
                    order_id, order.owner, level, quantity, old_remaining + delta,
                    order.expires_at, order.post_only,
                )
                order.remaining = 0
                level.orders.append(fresh)
                level.quantity += delta
                self._orders[order_id] = fresh
                if fresh.expires_at is not None:
                    self._add_expiry(fresh)
                self._spend_stale()
            if delta:
                seq += 1
                events.append(LevelChanged(seq, side, price, level.quantity, level.count))
            self.seq = seq
            return events

        # A price change: cancel-and-replace, matching first.
        remaining = quantity - filled
        del self._orders[order_id]
        self._unlink(order, level)
        events = [Amended(seq, order_id, price, quantity, remaining, False)]
        touched: list[Level] = []
        best = self._best_ask if is_bid else self._best_bid
        if best is not None and (best <= price if is_bid else best >= price):
            remaining, seq = self._take(
                order_id, order.owner, is_bid, price, remaining, events, seq, touched
            )
        rest: Level | None = None
        if remaining:
            rest = self._rest(
                order_id, order.owner, side, price, quantity, remaining, order.expires_at,
                order.post_only,
            )
        if len(self._pending) > self._expiry_limit:
            self._compact_expiry()
        # The old level and the new one are on the order's side, the touched
        # ones opposite; sort all by (bid before ask, price ascending).
        own_rank = 0 if is_bid else 1
        changed: list[tuple[int, int, Level]] = [(own_rank, old_price, level)]
        if rest is not None:
            changed.append((own_rank, price, rest))
        for lvl in touched:
            changed.append((1 - own_rank, lvl.price, lvl))
        changed.sort(key=_level_key)
        for _rank, _price, lvl in changed:
            seq += 1
            events.append(LevelChanged(seq, lvl.side, lvl.price, lvl.quantity, lvl.count))
        self.seq = seq
        return events

    def expire(self, cmd: ExpireOrders) -> list[Event]:
        """Expire every order whose ``expires_at`` is at or before ``cmd.now``.

        Emits ``Canceled(expired)`` per order in ``(expires_at, order_id)``
        order, then ``LevelChanged`` per changed level; nothing (and no
        ``seq``) when nothing is due, in O(1).
        """
        now: int = cmd[0]
        if self._pending_min <= now:
            self._flush_pending()
        heap = self._heap
        if not heap or heap[0][0] > now:
            return []
        orders = self._orders
        events: list[Event] = []
        seq = self.seq
        touched: dict[tuple[int, int], Level] = {}
        while heap and heap[0][0] <= now:
            expires_at, order_id = heappop(heap)
            order = orders.get(order_id)
            if order is None or order.expires_at != expires_at:
                continue  # a stale entry: the order left or the id was reused
            del orders[order_id]
            level = order.level
            remaining = order.remaining
            self._unlink(order, level)
            seq += 1
            events.append(Canceled(seq, order_id, _EXPIRED, remaining))
            touched[(0 if level.side is _BID else 1, level.price)] = level
        for key in sorted(touched):
            level = touched[key]
            seq += 1
            events.append(LevelChanged(seq, level.side, level.price, level.quantity, level.count))
        self.seq = seq
        return events

    @property
    def _expiry_count(self) -> int:
        """Expiry entries held, live or stale (white-box tests check the bound)."""
        return len(self._heap) + len(self._pending)

    # ------------------------------------------------------------------ queries

    def best_bid(self) -> int | None:
        """The highest bid price, or None; O(1)."""
        return self._best_bid

    def best_ask(self) -> int | None:
        """The lowest ask price, or None; O(1)."""
        return self._best_ask

    def depth(
        self, n: int | None = None
    ) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
        """``(bids, asks)``: top ``n`` levels (all when None) as ``(price, quantity, orders)``.

        Bids from the highest price down, asks from the lowest up;
        O(log L + n).
        """
        return self._bids.depth(n), self._asks.depth(n)

    def order(self, order_id: int) -> OrderView | None:
        """A read-only view of a resting order, or None when it is not in the book."""
        o = self._orders.get(order_id)
        if o is None:
            return None
        return _view(o)

    def orders(self) -> list[OrderView]:
        """Every resting order in priority order: bids best first, then asks."""
        return [
            _view(o) for ladder in (self._bids, self._asks) for level in ladder
            for o in level.live()
        ]

    def checksum(self) -> int:
        """:func:`orderbook.checksum.book_checksum` of the top 10 levels each side."""
        return book_checksum(self._asks.depth(CHECKSUM_DEPTH), self._bids.depth(CHECKSUM_DEPTH))

    def __len__(self) -> int:
        """The number of resting orders."""
        return len(self._orders)

    def __contains__(self, order_id: object) -> bool:
        """Whether an order with this id rests in the book."""
        return order_id in self._orders

    def would_fill(self, side: Side, price_cents: int | None, quantity: int, owner: str) -> int:
        """How much of ``quantity`` could fill now against other owners' orders.

        Counts the opposite side's resting orders within ``price_cents`` (no
        limit when None), skipping ``owner``'s own (self-trade prevention
        would cancel them, not fill them). Returns at most ``quantity``; stops
        early once it is reached.
        """
        ladder = self._asks if side is _BID else self._bids
        total = 0
        for level in ladder.best_first(price_cents):
            for o in level.orders:
                if o.remaining and o.owner != owner:
                    total += o.remaining
                    if total >= quantity:
                        return quantity
        return total

    # ------------------------------------------------------------------ snapshot

    def snapshot(self) -> dict[str, Any]:
        """The whole book as a JSON-able dict (plain str/int/bool/None/list/dict).

        Orders are listed in priority order (bids best first, then asks, each
        level oldest first), so :meth:`restore` rebuilds the same queues.
        """
        r = self.rules
        return {
            "format": SNAPSHOT_FORMAT,
            "sku": self.sku,
            "seq": self.seq,
            "rules": {
                "tick_size_cents": r.tick_size_cents,
                "min_price_cents": r.min_price_cents,
                "max_price_cents": r.max_price_cents,
                "max_quantity": r.max_quantity,
            },
            "orders": [
                {
                    "order_id": v.order_id,
                    "owner": v.owner,
                    "side": v.side.value,
                    "price_cents": v.price_cents,
                    "quantity": v.quantity,
                    "filled": v.filled,
                    "expires_at": v.expires_at,
                    "time_in_force": v.time_in_force.value,
                    "post_only": v.post_only,
                }
                for v in self.orders()
            ],
        }

    @classmethod
    def restore(cls, data: dict[str, Any]) -> OrderBook:
        """Build a book from :meth:`snapshot` output (also after a JSON round trip).

        Raises:
            ValueError: an unknown snapshot format.
        """
        if data.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"unknown order book snapshot format: {data.get('format')!r}")
        book = cls(str(data["sku"]), SkuRules(**data["rules"]))
        book.seq = int(data["seq"])
        for row in data["orders"]:
            quantity = int(row["quantity"])
            book._rest(
                int(row["order_id"]),
                str(row["owner"]),
                Side(row["side"]),
                int(row["price_cents"]),
                quantity,
                quantity - int(row["filled"]),
                None if row["expires_at"] is None else int(row["expires_at"]),
                bool(row["post_only"]),
            )
        return book

    # ------------------------------------------------------------------ invariants

    def check(self) -> None:
        """Assert every invariant of the module docstring.

        Raises:
            AssertionError: naming the first invariant found broken.
        """
        seen = 0
        ghosts = 0
        for ladder in (self._bids, self._asks):
            best = ladder.best()
            _require(best is None or best.count > 0, f"the best level is empty: {best!r}")
            for price, level in ladder.levels.items():
                _require(level.price == price, f"level key {price} holds {level!r}")
                _require(level.side is ladder.side, f"{level!r} in the {ladder.side} ladder")
                live = level.live()
                _require(len(live) == level.count, f"{level!r} counts {len(live)} live orders")
                if not level.count:
                    ghosts += 1
                    _require(not level.orders, f"ghost level holds entries: {level!r}")
                total = sum(o.remaining for o in live)
                _require(total == level.quantity, f"{level!r} holds quantity {total}")
                for o in level.orders:
                    text = format_order(o)
                    _require(o.remaining >= 0, f"negative remaining: {text}")
                    if not o.remaining:
                        continue
                    _require(self._orders.get(o.order_id) is o, f"live entry not indexed: {text}")
                    _require(o.level is level, f"{text} points to another level")
                    _require(0 < o.remaining <= o.quantity, f"remaining beyond the total: {text}")
                    seen += 1
        _require(seen == len(self._orders), f"{len(self._orders)} indexed, {seen} in levels")
        _require(ghosts == self._ghosts, f"{ghosts} ghost levels, {self._ghosts} counted")
        _require(self._best_bid == self._bids.best_price(), f"stale best bid {self._best_bid}")
        _require(self._best_ask == self._asks.best_price(), f"stale best ask {self._best_ask}")
        bid, ask = self._best_bid, self._best_ask
        _require(bid is None or ask is None or bid < ask, f"crossed book: {bid} >= {ask}")
        entries = set(self._heap)
        pending_min = _NO_PENDING
        for o in self._pending:
            expires_at = o.expires_at
            _require(expires_at is not None, f"pending without expiry: {format_order(o)}")
            if o.remaining and expires_at is not None:
                entries.add((expires_at, o.order_id))
                pending_min = min(pending_min, expires_at)
        _require(self._pending_min <= pending_min, f"pending minimum {self._pending_min} too high")
        for o in self._orders.values():
            if o.expires_at is not None:
                _require(
                    (o.expires_at, o.order_id) in entries,
                    f"no expiry entry for {format_order(o)}",
                )
        _require(self.seq >= 0, "negative seq")

    # ------------------------------------------------------------------ internals

    def _reject(self, order_id: object, reason: RejectReason) -> list[Event]:
        """A command's one event, ``Rejected(reason)`` (order id 0 when not an int)."""
        self.seq += 1
        return [Rejected(self.seq, order_id if type(order_id) is int else 0, reason)]

    def _check_place(
        self, cmd: PlaceOrder
    ) -> tuple[RejectReason | None, Side, OrderType, TimeInForce]:
        """The general static check of a place; also normalizes str enums."""
        fields: tuple[Any, ...] = cmd
        order_id, owner, side_in, quantity, price, type_in, tif_in, post_only, expires_at, now = (
            fields
        )
        side = _norm(Side, side_in)
        order_type = _norm(OrderType, type_in)
        tif = _norm(TimeInForce, tif_in)
        if side is None or order_type is None or tif is None:
            return _INVALID, _BID, _LIMIT, _GTC
        if type(order_id) is not int or type(owner) is not str:
            return _INVALID, side, order_type, tif
        if expires_at is not None and type(expires_at) is not int:
            return _INVALID, side, order_type, tif
        if type(now) is not int:
            return _INVALID, side, order_type, tif
        reason = check_place(
            self.rules, order_type, price, quantity, tif, bool(post_only), expires_at, now
        )
        return reason, side, order_type, tif

    def _check_amend(
        self, order: Order | None, quantity: Any, price: Any
    ) -> RejectReason | None:
        """Why an amend is refused, or None."""
        if order is None:
            return _UNKNOWN
        if quantity is None and price is None:
            return _INVALID
        if quantity is not None:
            if type(quantity) is not int:
                return RejectReason.INVALID_QUANTITY
            if quantity <= order.quantity - order.remaining:
                return RejectReason.QUANTITY_AT_OR_BELOW_FILLED
            if quantity > self.rules.max_quantity:
                return RejectReason.INVALID_QUANTITY
        if price is not None:
            reason = check_price(self.rules, price)
            if reason is not None:
                return reason
            level = order.level
            if order.post_only and price != level.price:
                is_bid = level.side is _BID
                best = self._best_ask if is_bid else self._best_bid
                if best is not None and (best <= price if is_bid else best >= price):
                    return _POST_ONLY
        return None

    def _add_level(self, side: Side, price: int) -> Level:
        """A new, empty level at ``price`` on ``side``, in its ladder; O(log L).

        Refreshes the side's cached best price when the new level beats it.
        """
        level = Level(price, side)
        if side is _BID:
            self._bid_levels[price] = level
            best = self._best_bid
            if best is None or price > best:
                self._best_bid = price
        else:
            self._ask_levels[price] = level
            best = self._best_ask
            if best is None or price < best:
                self._best_ask = price
        return level

    def _emptied(self, level: Level) -> None:
        """Deal with a level whose last live order just left (not by matching).

        The best level goes at once, with any ghosts behind it, so that the
        cached best price stays that of a live level. Any other level stays
        as a ghost (see ladder.py), ready for the next order at its price;
        when ghosts outnumber the live levels (plus a slack), they are swept.
        """
        # Dead entries point back at their level: clear them so that they
        # (and a removed level) are freed by reference counting alone.
        level.orders.clear()
        price = level.price
        if level.side is _BID:
            if price == self._best_bid:
                levels = self._bid_levels
                del levels[price]
                self._best_bid = self._next_best(levels, -1)
                return
        elif price == self._best_ask:
            levels = self._ask_levels
            del levels[price]
            self._best_ask = self._next_best(levels, 0)
            return
        ghosts = self._ghosts = self._ghosts + 1
        if 2 * ghosts > len(self._bid_levels) + len(self._ask_levels) + _GHOST_SLACK:
            self._sweep_ghosts()

    def _next_best(self, levels: SortedDict, best_index: int) -> int | None:
        """The best live price of a side whose best level was just removed.

        Ghosts found at the top are removed on the way (O(log L) each, paid
        once per ghost).
        """
        while levels:
            item: tuple[int, Level] = levels.peekitem(best_index)
            price, level = item
            if level.count:
                return price
            del levels[price]
            self._ghosts -= 1
        return None

    def _sweep_ghosts(self) -> None:
        """Remove every ghost level: O(L log L), after as many ghosts appeared."""
        for ladder in (self._bids, self._asks):
            for price in ladder.ghosts():
                ladder.remove(price)
        self._ghosts = 0

    def _rest(
        self,
        order_id: int,
        owner: str,
        side: Side,
        price: int,
        quantity: int,
        remaining: int,
        expires_at: int | None,
        post_only: bool,
    ) -> Level:
        """Put a new live order at the back of its level (created if needed), index it.

        ``quantity`` is its total, ``remaining`` what is left of it to trade.
        """
        level: Level | None = (self._bid_levels if side is _BID else self._ask_levels).get(price)
        if level is None:
            level = self._add_level(side, price)
        elif not level.count:
            self._ghosts -= 1  # an empty level comes back to life
        order = Order(order_id, owner, level, quantity, remaining, expires_at, post_only)
        level.append(order)
        self._orders[order_id] = order
        if expires_at is not None:
            self._add_expiry(order)
        return level

    def _unlink(self, order: Order, level: Level) -> None:
        """Take a live order out of ``level`` (the caller un-indexes it)."""
        level.quantity -= order.remaining
        level.count -= 1
        order.remaining = 0
        if not level.count:
            self._emptied(level)
        self._spend_stale()

    def _spend_stale(self) -> None:
        """Count one new dead entry; sweep when the budget is spent."""
        self._stale_left -= 1
        if self._stale_left <= 0:
            self._sweep()

    def _sweep(self) -> None:
        """Drop every dead queue entry, and the stale expiry entries if many.

        O(levels + entries); the next sweep comes after as many new dead
        entries as there are orders and levels (plus a slack), so the cost is
        amortized O(1) and dead entries never outnumber live ones by more
        than the slack.
        """
        for levels in (self._bid_levels, self._ask_levels):
            for level in dict.values(levels):
                if len(level.orders) != level.count:
                    level.compact()
        if len(self._pending) > self._expiry_limit:
            self._compact_expiry()
        self._stale_left = (
            len(self._orders) + len(self._bid_levels) + len(self._ask_levels) + _STALE_SLACK
        )

    def _add_expiry(self, order: Order) -> None:
        """File a live order's expiry among the pending ones."""
        expires_at = _expires(order)
        self._pending.append(order)
        if expires_at < self._pending_min:
            self._pending_min = expires_at

    def _flush_pending(self) -> None:
        """Move the live pending orders' ``(expires_at, order_id)`` into the heap.

        Each entry moves once: O(log n) per entry, or O(n) by one heapify
        when the batch is large next to the heap.
        """
        heap = self._heap
        batch = [_expiry_entry(o) for o in self._pending if o.remaining]
        self._pending = []
        self._pending_min = _NO_PENDING
        if len(batch) * 8 > len(heap):
            heap.extend(batch)
            heapify(heap)
        else:
            for entry in batch:
                heappush(heap, entry)
        if len(heap) > self._expiry_limit:
            self._compact_expiry()

    def _compact_expiry(self) -> None:
        """Drop stale expiry entries; set the next limit at twice what is left.

        Entries of orders that left (canceled, filled, re-queued) stay until
        they surface; this keeps them at most about half of all, in a pass
        of O(entries) that runs after as many additions: amortized O(1).
        """
        orders = self._orders
        pending = [o for o in self._pending if o.remaining]
        self._pending = pending
        self._pending_min = min([_expires(o) for o in pending], default=_NO_PENDING)
        # dict.fromkeys keeps one entry per (expires_at, order_id), in order:
        # an order re-queued by an amend may have left a twin behind.
        kept: dict[tuple[int, int], None] = {}
        for entry in self._heap:
            o = orders.get(entry[1])
            if o is not None and o.expires_at == entry[0]:
                kept[entry] = None
        heap = list(kept)
        heapify(heap)
        self._heap = heap
        self._expiry_limit = 2 * max(len(heap), len(pending)) + _EXPIRY_SLACK

    def _take(
        self,
        order_id: int,
        owner: str,
        is_bid: bool,
        limit: int | None,
        remaining: int,
        events: list[Event],
        seq: int,
        touched: list[Level],
    ) -> tuple[int, int]:
        """Match a taker against the opposite side, best price first.

        Appends ``Fill`` / ``Canceled(self_trade)`` events to ``events`` and
        every opposite level it reaches to ``touched`` (best first). Returns
        the taker's remaining quantity and the last ``seq`` used, and leaves
        the opposite side's cached best price right.
        """
        if is_bid:
            levels = self._ask_levels
            best_index = 0
            side = _BID
            price = self._best_ask
        else:
            levels = self._bid_levels
            best_index = -1
            side = _ASK
            price = self._best_bid
        orders = self._orders
        # `price` walks the opposite side from its cached best; the SortedDict
        # is asked for the next best only when a level empties.
        while remaining and price is not None:
            if limit is not None and (price > limit if is_bid else price < limit):
                break
            level: Level = levels[price]
            touched.append(level)
            queue = level.orders
            while queue:
                maker: Order = queue[0]
                available = maker.remaining
                if not available:
                    queue.popleft()  # a dead entry (canceled, expired, re-queued)
                    continue
                maker_id = maker.order_id
                maker_owner = maker.owner
                if maker_owner == owner:
                    seq += 1
                    events.append(Canceled(seq, maker_id, _SELF_TRADE, available))
                    maker.remaining = 0
                    level.quantity -= available
                    level.count -= 1
                    del orders[maker_id]
                    queue.popleft()
                    continue
                traded = available if available <= remaining else remaining
                remaining -= traded
                available -= traded
                maker.remaining = available
                level.quantity -= traded
                seq += 1
                events.append(
                    Fill(
                        seq, order_id, maker_id, owner, maker_owner, side,
                        price, traded, remaining, available,
                    )
                )
                if not available:
                    level.count -= 1
                    del orders[maker_id]
                    queue.popleft()
                if not remaining:
                    break
            if not level.count:
                # Every entry left is dead; clearing frees them (they point
                # back at the level) without the cycle collector.
                queue.clear()
                del levels[price]
                price = self._next_best(levels, best_index)
        if is_bid:
            self._best_ask = price
        else:
            self._best_bid = price
        return remaining, seq


def _expires(o: Order) -> int:
    """The expiry time of an order that has one (one filed for expiry)."""
    expires_at = o.expires_at
    assert expires_at is not None
    return expires_at


def _expiry_entry(o: Order) -> tuple[int, int]:
    """The ``(expires_at, order_id)`` heap entry of an order with an expiry."""
    return _expires(o), o.order_id


def _view(o: Order) -> OrderView:
    """The :class:`OrderView` of a live order."""
    level = o.level
    return OrderView(
        o.order_id,
        o.owner,
        level.side,
        level.price,
        o.quantity,
        o.quantity - o.remaining,
        o.remaining,
        o.expires_at,
        _GTC,
        o.post_only,
    )


def _level_key(item: tuple[int, int, Level]) -> tuple[int, int]:
    return item[0], item[1]


def _require(condition: bool, message: str) -> None:
    """Raise AssertionError(message) unless ``condition``; survives ``python -O``."""
    if not condition:
        raise AssertionError(message)
