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
FIFO ``deque`` of resting :class:`~orderbook.level.Order` objects with the
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
  orders and are never 0 (an emptied level is removed at once).
- For each order ``quantity == filled + remaining``, ``remaining > 0``.
- The cached best prices equal the ladders' first / last keys.
- Every order with an expiry has an ``(expires_at, order_id)`` entry, in
  the heap or in the bucket of its time.

Complexity (L levels on a side, k orders at a level)
----------------------------------------------------
- ``best_bid`` / ``best_ask`` / ``order`` / ``len``: O(1) (best prices are
  cached and refreshed, O(1) by ``peekitem``, when a best level goes).
- ``cancel``: O(1) index and level lookups, plus O(log L) when the level
  empties. The order is marked dead in its queue (lazy removal, as in the
  bare reference loop); a level compacts when dead entries outnumber live
  ones, so removal is amortized O(1).
- ``place`` resting at an existing level: O(1); at a new level O(log L);
  matching costs O(1) per fill plus O(log L) per emptied level.
- ``expire``: O(1) when nothing is due (a peek at two heaps); O(log n) per
  expired order. Expiry entries wait in coarse time buckets (2**42 ns, about
  73 minutes; appending the order is O(1)) whose numbers sit in a small
  heap; a bucket whose time has come is heapified into the exact heap of
  ``(expires_at, order_id)``. Entries of orders gone for other reasons are
  dropped lazily when they surface, and filtered out in one pass whenever
  the entries have doubled since the last pass (amortized O(1)), so memory
  stays O(orders).
- ``depth(n)``: O(log L + n); ``checksum``: O(log L + 10).

Performance notes
-----------------
The hot paths (``place`` of a non-crossing GTC limit, ``cancel``, ``_take``)
work on slots and locals directly, compare enums by identity against module
constants, build events with ``tuple.__new__`` and keep the best prices
cached instead of asking the ``SortedDict``. ``bench/book.py`` measures them
against the bare reference loop of ../shared/DESIGN.md. What remains is the
price of the features: about 255 bytecodes for a resting order (static
checks, two events, an order object, an expiry entry) against about 50 in
the bare loop.

Determinism and known limitations
---------------------------------
- No hashing of strings, no ``set`` iteration, no clock: the output depends
  only on the commands. Heap ties break on the order id.
- An order id may be reused once its order has left the book; ids are the
  caller's business (the engine never reuses them).
- The FOK check walks the opposite side within the limit, O(orders).
"""

from __future__ import annotations

from heapq import heapify, heappop, heappush
from typing import Any, NamedTuple

from sortedcontainers import SortedDict

from .checksum import CHECKSUM_DEPTH, book_checksum
from .commands import AmendOrder, CancelOrder, Command, ExpireOrders, PlaceOrder
from .events import Accepted, Amended, Canceled, Event, Fill, LevelChanged, Rejected
from .ladder import Ladder
from .level import Level, Order
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

SNAPSHOT_FORMAT = 1

# Module constants bound once: attribute lookups on enum classes are slow in
# the hot path, and `is` against a global is the cheapest test there is.
_BID = Side.BID
_ASK = Side.ASK
_LIMIT = OrderType.LIMIT
_MARKET = OrderType.MARKET
_GTC = TimeInForce.GTC
_FOK = TimeInForce.FOK
_USER = CancelReason.USER
_SELF_TRADE = CancelReason.SELF_TRADE
_EXPIRED = CancelReason.EXPIRED
_IOC_REMAINDER = CancelReason.IOC_REMAINDER
_MARKET_REMAINDER = CancelReason.MARKET_REMAINDER
_FOK_UNFILLABLE = CancelReason.FOK_UNFILLABLE
_DUPLICATE = RejectReason.DUPLICATE_ORDER_ID
_UNKNOWN = RejectReason.UNKNOWN_ORDER
_POST_ONLY = RejectReason.POST_ONLY_WOULD_TAKE
# Events are NamedTuples; tuple.__new__ skips their Python-level __new__ and
# builds them in about half the time. The field order is the class's.
_new = tuple.__new__
# Expiry entries are rebuilt when they number more than twice the live orders
# plus this slack (entries of orders that left for other reasons).
_EXPIRY_SLACK = 1024
# Expiry entries wait in buckets of 2**42 ns (about 73 minutes) until their
# bucket comes due; only then do they enter the exact heap. Appending to a
# bucket is several times cheaper than a push into a heap of 100k entries.
_BUCKET_SHIFT = 42


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
        "_bucket_heap",
        "_buckets",
        "_expiry_count",
        "_expiry_limit",
        "_heap",
        "_migrated",
        "_orders",
        "_rules_fast",
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
        # Expiry: (expires_at, order_id) entries in the exact heap, or, when
        # due later than bucket `_migrated`, the Order objects themselves in
        # a bucket by expires_at >> _BUCKET_SHIFT (bucket numbers in their
        # own heap). A bucket entry whose order has died (remaining == 0) is
        # stale and dropped at migration or compaction.
        self._heap: list[tuple[int, int]] = []
        self._buckets: dict[int, list[Order]] = {}
        self._bucket_heap: list[int] = []
        self._migrated = -(1 << 62)
        self._expiry_count = 0
        self._expiry_limit = _EXPIRY_SLACK
        r = self.rules
        # Valid prices and quantities as ranges: `in` checks them in O(1).
        # The price range starts at the first multiple of the tick in the band.
        first_price = -(-r.min_price_cents // r.tick_size_cents) * r.tick_size_cents
        self._rules_fast = (
            range(first_price, r.max_price_cents + 1, r.tick_size_cents),
            range(1, r.max_quantity + 1),
        )

    # ------------------------------------------------------------------ commands

    def handle(self, cmd: Command) -> list[Event]:
        """Apply any command; dispatches to :meth:`place`, :meth:`cancel`, ...

        Raises:
            TypeError: ``cmd`` is not a command (a bug in the caller).
        """
        kind = type(cmd)
        if kind is PlaceOrder:
            return self.place(cmd)  # type: ignore[arg-type]
        if kind is CancelOrder:
            return self.cancel(cmd)  # type: ignore[arg-type]
        if kind is AmendOrder:
            return self.amend(cmd)  # type: ignore[arg-type]
        if kind is ExpireOrders:
            return self.expire(cmd)  # type: ignore[arg-type]
        raise TypeError(f"not an order book command: {cmd!r}")

    def place(self, cmd: PlaceOrder) -> list[Event]:
        """Place a new order.

        Emits ``Rejected`` alone, or ``Accepted``, then ``Fill`` and
        ``Canceled(self_trade)`` as matching goes, then the taker's
        ``Canceled(ioc_remainder | market_remainder | fok_unfillable)`` if its
        rest does not rest, then ``LevelChanged`` per changed level.
        """
        order_id, owner, side, quantity, price, order_type, tif, post_only, expires_at, now = cmd
        valid_prices, valid_quantities = self._rules_fast
        # The common case (a valid GTC limit, not post-only) is checked inline;
        # anything else takes the general check, which also normalizes enums.
        # `x in range(...)` tests band and tick in one C call, for ints only
        # (hence the type checks first: True == 1 and 1.0 == 1).
        if (
            type(quantity) is int
            and quantity in valid_quantities
            and type(price) is int
            and price in valid_prices
            and order_type is _LIMIT
            and tif is _GTC
            and not post_only
            and (side is _BID or side is _ASK)
            and (expires_at is None or (type(expires_at) is int and expires_at > now))
        ):
            simple = True
        else:
            reason, side, order_type, tif = self._check_place(cmd)
            if reason is not None:
                self.seq += 1
                return [_new(Rejected, (self.seq, order_id, reason))]
            simple = order_type is _LIMIT and tif is _GTC
        orders = self._orders
        if order_id in orders:
            self.seq += 1
            return [_new(Rejected, (self.seq, order_id, _DUPLICATE))]
        is_bid = side is _BID
        if is_bid:
            best = self._best_ask
            crosses = best is not None and (price is None or best <= price)
        else:
            best = self._best_bid
            crosses = best is not None and (price is None or best >= price)

        if simple and not crosses:
            # The common path: nothing to match, the order rests at once.
            seq = self.seq
            self.seq = seq + 2
            if is_bid:
                levels = self._bid_levels
                level = levels.get(price)
                if level is None:
                    level = levels[price] = Level(price)  # type: ignore[arg-type]
                    if self._best_bid is None or price > self._best_bid:  # type: ignore[operator]
                        self._best_bid = price
            else:
                levels = self._ask_levels
                level = levels.get(price)
                if level is None:
                    level = levels[price] = Level(price)  # type: ignore[arg-type]
                    if self._best_ask is None or price < self._best_ask:  # type: ignore[operator]
                        self._best_ask = price
            order = Order(
                order_id, owner, side, price, quantity, 0, expires_at, post_only  # type: ignore[arg-type]
            )
            level.orders.append(order)
            level_qty = level.quantity = level.quantity + quantity
            count = level.count = level.count + 1
            orders[order_id] = order
            if expires_at is not None:
                # _add_expiry inlined for its common case: a future bucket
                # that already exists.
                bucket = expires_at >> _BUCKET_SHIFT
                waiting = self._buckets.get(bucket)
                if waiting is not None and bucket > self._migrated:
                    waiting.append(order)
                    count_exp = self._expiry_count = self._expiry_count + 1
                    if count_exp > self._expiry_limit:
                        self._compact_expiry()
                else:
                    self._add_expiry(order)
            return [
                _new(Accepted, (seq + 1, order_id, owner, side, order_type, tif, price, quantity)),
                _new(LevelChanged, (seq + 2, side, price, level_qty, count)),
            ]

        if post_only and crosses:
            self.seq += 1
            return [_new(Rejected, (self.seq, order_id, _POST_ONLY))]
        seq = self.seq + 1
        events: list[Event] = [
            _new(Accepted, (seq, order_id, owner, side, order_type, tif, price, quantity))
        ]
        if tif is _FOK and self.would_fill(side, price, quantity, owner) < quantity:
            seq += 1
            events.append(_new(Canceled, (seq, order_id, _FOK_UNFILLABLE, quantity)))
            self.seq = seq
            return events
        touched: list[Level] = []
        remaining = quantity
        if crosses:
            remaining, seq = self._take(
                order_id, owner, is_bid, price, quantity, events, seq, touched
            )
        rest: Level | None = None
        if remaining:
            if order_type is _MARKET:
                seq += 1
                events.append(_new(Canceled, (seq, order_id, _MARKET_REMAINDER, remaining)))
            elif tif is not _GTC:
                seq += 1
                events.append(_new(Canceled, (seq, order_id, _IOC_REMAINDER, remaining)))
            else:
                order = Order(
                    order_id, owner, side, price,  # type: ignore[arg-type]
                    quantity, quantity - remaining, expires_at, post_only,
                )
                rest = self._rest(order)
        # Level changes: bid levels ascending, then ask levels ascending. A
        # bid taker touched asks from the lowest up; an ask taker touched bids
        # from the highest down, hence the reversal.
        if is_bid:
            if rest is not None:
                seq += 1
                events.append(_new(LevelChanged, (seq, _BID, price, rest.quantity, rest.count)))
            for level in touched:
                seq += 1
                events.append(
                    _new(LevelChanged, (seq, _ASK, level.price, level.quantity, level.count))
                )
        else:
            for level in reversed(touched):
                seq += 1
                events.append(
                    _new(LevelChanged, (seq, _BID, level.price, level.quantity, level.count))
                )
            if rest is not None:
                seq += 1
                events.append(_new(LevelChanged, (seq, _ASK, price, rest.quantity, rest.count)))
        self.seq = seq
        return events

    def cancel(self, cmd: CancelOrder) -> list[Event]:
        """Cancel a resting order: ``Canceled(user)`` then its ``LevelChanged``.

        An unknown id emits ``Rejected(unknown_order)``.
        """
        order_id = cmd[0]
        order = self._orders.pop(order_id, None)
        if order is None:
            self.seq += 1
            return [_new(Rejected, (self.seq, order_id, _UNKNOWN))]
        side = order.side
        price = order.price
        remaining = order.remaining
        order.remaining = 0
        if side is _BID:
            levels = self._bid_levels
            level = levels[price]
            level_qty = level.quantity = level.quantity - remaining
            count = level.count = level.count - 1
            if not count:
                del levels[price]
                if price == self._best_bid:
                    self._best_bid = levels.peekitem(-1)[0] if levels else None
            elif len(level.orders) > 2 * count + 16:
                level.compact()
        else:
            levels = self._ask_levels
            level = levels[price]
            level_qty = level.quantity = level.quantity - remaining
            count = level.count = level.count - 1
            if not count:
                del levels[price]
                if price == self._best_ask:
                    self._best_ask = levels.peekitem(0)[0] if levels else None
            elif len(level.orders) > 2 * count + 16:
                level.compact()
        seq = self.seq
        self.seq = seq + 2
        return [
            _new(Canceled, (seq + 1, order_id, _USER, remaining)),
            _new(LevelChanged, (seq + 2, side, price, level_qty, count)),
        ]

    def amend(self, cmd: AmendOrder) -> list[Event]:
        """Change a resting order's total quantity and/or price.

        Emits ``Rejected`` alone, or ``Amended``, then (after a price change)
        ``Fill`` / ``Canceled(self_trade)`` as it matches, then
        ``LevelChanged`` per changed level. See the module docstring for
        which changes keep time priority.
        """
        order_id, new_qty, new_price, _now = cmd
        order = self._orders.get(order_id)
        reason = self._check_amend(order, new_qty, new_price)
        if reason is not None or order is None:
            self.seq += 1
            return [_new(Rejected, (self.seq, order_id, reason or _UNKNOWN))]
        quantity = order.quantity if new_qty is None else new_qty
        price = order.price if new_price is None else new_price
        side = order.side
        is_bid = side is _BID
        own = self._bid_levels if is_bid else self._ask_levels
        level: Level = own[order.price]
        seq = self.seq + 1
        if price == order.price:
            delta = quantity - order.quantity
            kept = delta <= 0
            events: list[Event] = [
                _new(Amended, (seq, order_id, price, quantity, order.remaining + delta, kept))
            ]
            if delta < 0:
                order.quantity = quantity
                order.remaining += delta
                level.quantity += delta
            elif delta > 0:
                # Losing priority: mark this entry dead, queue a copy at the back.
                fresh = order.replaced(price, quantity)
                order.remaining = 0
                level.orders.append(fresh)
                level.quantity += delta
                self._orders[order_id] = fresh
                level.compact()
                if fresh.expires_at is not None:
                    self._add_expiry(fresh)
            if delta:
                seq += 1
                events.append(_new(LevelChanged, (seq, side, price, level.quantity, level.count)))
            self.seq = seq
            return events

        # A price change: cancel-and-replace, matching first.
        remaining = quantity - order.filled
        del self._orders[order_id]
        self._unlink(order, level)
        events = [_new(Amended, (seq, order_id, price, quantity, remaining, False))]
        touched: list[Level] = []
        best = self._best_ask if is_bid else self._best_bid
        if best is not None and (best <= price if is_bid else best >= price):
            remaining, seq = self._take(
                order_id, order.owner, is_bid, price, remaining, events, seq, touched
            )
        rest: Level | None = None
        if remaining:
            fresh = order.replaced(price, quantity)
            fresh.remaining = remaining
            fresh.filled = quantity - remaining
            rest = self._rest(fresh)
        # The old level and the new one are on the order's side, the touched
        # ones opposite; sort all by (bid before ask, price ascending).
        own_rank = 0 if is_bid else 1
        changed = [(own_rank, level.price, side, level)]
        if rest is not None:
            changed.append((own_rank, price, side, rest))
        other = _ASK if is_bid else _BID
        for lvl in touched:
            changed.append((1 - own_rank, lvl.price, other, lvl))
        changed.sort(key=_level_key)
        for _rank, lvl_price, lvl_side, lvl in changed:
            seq += 1
            events.append(_new(LevelChanged, (seq, lvl_side, lvl_price, lvl.quantity, lvl.count)))
        self.seq = seq
        return events

    def expire(self, cmd: ExpireOrders) -> list[Event]:
        """Expire every order whose ``expires_at`` is at or before ``cmd.now``.

        Emits ``Canceled(expired)`` per order in ``(expires_at, order_id)``
        order, then ``LevelChanged`` per changed level; nothing (and no
        ``seq``) when nothing is due, in O(1).
        """
        now = cmd[0]
        heap = self._heap
        bucket_heap = self._bucket_heap
        if bucket_heap and bucket_heap[0] <= now >> _BUCKET_SHIFT:
            self._migrate(now >> _BUCKET_SHIFT)
        if not heap or heap[0][0] > now:
            return []
        orders = self._orders
        events: list[Event] = []
        seq = self.seq
        touched: dict[tuple[int, int], Level] = {}
        while heap and heap[0][0] <= now:
            expires_at, order_id = heappop(heap)
            self._expiry_count -= 1
            order = orders.get(order_id)
            if order is None or order.expires_at != expires_at:
                continue  # a stale entry: the order left or the id was reused
            del orders[order_id]
            is_bid = order.side is _BID
            level: Level = (self._bid_levels if is_bid else self._ask_levels)[order.price]
            remaining = order.remaining
            self._unlink(order, level)
            seq += 1
            events.append(_new(Canceled, (seq, order_id, _EXPIRED, remaining)))
            touched[(0 if is_bid else 1, order.price)] = level
        for rank, price in sorted(touched):
            level = touched[(rank, price)]
            seq += 1
            lvl_side = _BID if rank == 0 else _ASK
            events.append(_new(LevelChanged, (seq, lvl_side, price, level.quantity, level.count)))
        self.seq = seq
        return events

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
        return OrderView(
            o.order_id,
            o.owner,
            o.side,
            o.price,
            o.quantity,
            o.filled,
            o.remaining,
            o.expires_at,
            _GTC,
            o.post_only,
        )

    def orders(self) -> list[OrderView]:
        """Every resting order in priority order: bids best first, then asks."""
        out: list[OrderView] = []
        for ladder in (self._bids, self._asks):
            for level in ladder:
                for o in level.live():
                    view = self.order(o.order_id)
                    if view is not None:
                        out.append(view)
        return out

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
            order = Order(
                int(row["order_id"]),
                str(row["owner"]),
                Side(row["side"]),
                int(row["price_cents"]),
                int(row["quantity"]),
                int(row["filled"]),
                None if row["expires_at"] is None else int(row["expires_at"]),
                bool(row["post_only"]),
            )
            book._rest(order)
        return book

    # ------------------------------------------------------------------ invariants

    def check(self) -> None:
        """Assert every invariant of the module docstring.

        Raises:
            AssertionError: naming the first invariant found broken.
        """
        seen = 0
        for ladder in (self._bids, self._asks):
            for price, level in ladder.levels.items():
                _require(level.price == price, f"level key {price} holds {level!r}")
                live = level.live()
                _require(len(live) == level.count, f"{level!r} counts {len(live)} live orders")
                _require(level.count > 0, f"empty level left in the ladder: {level!r}")
                total = sum(o.remaining for o in live)
                _require(total == level.quantity, f"{level!r} holds quantity {total}")
                for o in level.orders:
                    _require(o.remaining >= 0, f"negative remaining: {o!r}")
                    if not o.remaining:
                        continue
                    _require(self._orders.get(o.order_id) is o, f"live entry not indexed: {o!r}")
                    _require(o.side is ladder.side, f"{o!r} on the {ladder.side} side")
                    _require(o.price == price, f"{o!r} at level {price}")
                    _require(o.filled >= 0, f"negative fill: {o!r}")
                    _require(o.quantity == o.filled + o.remaining, f"quantity drift: {o!r}")
                    seen += 1
        _require(seen == len(self._orders), f"{len(self._orders)} indexed, {seen} in levels")
        _require(self._best_bid == self._bids.best_price(), f"stale best bid {self._best_bid}")
        _require(self._best_ask == self._asks.best_price(), f"stale best ask {self._best_ask}")
        bid, ask = self._best_bid, self._best_ask
        _require(bid is None or ask is None or bid < ask, f"crossed book: {bid} >= {ask}")
        entries = set(self._heap)
        waiting_total = 0
        for bucket, waiting in self._buckets.items():
            _require(bucket > self._migrated, f"bucket {bucket} missed its migration")
            for o in waiting:
                _require(o.expires_at is not None, f"no expiry: {o!r}")
                _require(o.expires_at >> _BUCKET_SHIFT == bucket, f"misfiled: {o!r}")  # type: ignore[operator]
                if o.remaining:
                    entries.add((o.expires_at, o.order_id))  # type: ignore[arg-type]
            waiting_total += len(waiting)
        _require(sorted(self._buckets) == sorted(self._bucket_heap), "bucket heap out of step")
        _require(
            len(self._heap) + waiting_total == self._expiry_count, "expiry entries miscounted"
        )
        for o in self._orders.values():
            if o.expires_at is not None:
                _require((o.expires_at, o.order_id) in entries, f"no expiry entry for {o!r}")
        _require(self.seq >= 0, "negative seq")

    # ------------------------------------------------------------------ internals

    def _check_place(
        self, cmd: PlaceOrder
    ) -> tuple[RejectReason | None, Side, OrderType, TimeInForce]:
        """The general static check of a place; also normalizes str enums."""
        side = _norm(Side, cmd.side)
        order_type = _norm(OrderType, cmd.order_type)
        tif = _norm(TimeInForce, cmd.time_in_force)
        if side is None or order_type is None or tif is None:
            return RejectReason.INVALID_ORDER, _BID, _LIMIT, _GTC
        if cmd.expires_at is not None and type(cmd.expires_at) is not int:
            return RejectReason.INVALID_ORDER, side, order_type, tif
        reason = check_place(
            self.rules,
            order_type,
            cmd.price_cents,
            cmd.quantity,
            tif,
            bool(cmd.post_only),
            cmd.expires_at,
            cmd.now,
        )
        return reason, side, order_type, tif

    def _check_amend(
        self, order: Order | None, quantity: int | None, price: int | None
    ) -> RejectReason | None:
        """Why an amend is refused, or None."""
        if order is None:
            return RejectReason.UNKNOWN_ORDER
        if quantity is None and price is None:
            return RejectReason.INVALID_ORDER
        if quantity is not None:
            if type(quantity) is not int:
                return RejectReason.INVALID_QUANTITY
            if quantity <= order.filled:
                return RejectReason.QUANTITY_AT_OR_BELOW_FILLED
            if quantity > self.rules.max_quantity:
                return RejectReason.INVALID_QUANTITY
        if price is not None:
            reason = check_price(self.rules, price)
            if reason is not None:
                return reason
            if order.post_only and price != order.price:
                best = self._best_ask if order.side is _BID else self._best_bid
                if best is not None and (best <= price if order.side is _BID else best >= price):
                    return RejectReason.POST_ONLY_WOULD_TAKE
        return None

    def _rest(self, order: Order) -> Level:
        """Put a live order at the back of its level (created if needed) and index it."""
        price = order.price
        if order.side is _BID:
            levels = self._bid_levels
            if self._best_bid is None or price > self._best_bid:
                self._best_bid = price
        else:
            levels = self._ask_levels
            if self._best_ask is None or price < self._best_ask:
                self._best_ask = price
        level: Level | None = levels.get(price)
        if level is None:
            level = levels[price] = Level(price)
        level.append(order)
        self._orders[order.order_id] = order
        if order.expires_at is not None:
            self._add_expiry(order)
        return level

    def _unlink(self, order: Order, level: Level) -> None:
        """Take a live order out of ``level`` (the caller un-indexes it)."""
        level.quantity -= order.remaining
        level.count -= 1
        order.remaining = 0
        if level.count:
            level.compact()
            return
        price = level.price
        if order.side is _BID:
            levels = self._bid_levels
            del levels[price]
            if price == self._best_bid:
                self._best_bid = levels.peekitem(-1)[0] if levels else None
        else:
            levels = self._ask_levels
            del levels[price]
            if price == self._best_ask:
                self._best_ask = levels.peekitem(0)[0] if levels else None

    def _add_expiry(self, order: Order) -> None:
        """File a live order's expiry: into its bucket, or the heap once that is due."""
        expires_at: int = order.expires_at  # type: ignore[assignment]
        bucket = expires_at >> _BUCKET_SHIFT
        if bucket > self._migrated:
            waiting = self._buckets.get(bucket)
            if waiting is None:
                self._buckets[bucket] = [order]
                heappush(self._bucket_heap, bucket)
            else:
                waiting.append(order)
        else:
            heappush(self._heap, (expires_at, order.order_id))
        self._expiry_count += 1
        if self._expiry_count > self._expiry_limit:
            self._compact_expiry()

    def _migrate(self, upto: int) -> None:
        """Move the live entries of every bucket numbered ``upto`` or less into the heap."""
        bucket_heap = self._bucket_heap
        heap = self._heap
        before = len(heap)
        moved = 0
        while bucket_heap and bucket_heap[0] <= upto:
            waiting = self._buckets.pop(heappop(bucket_heap))
            moved += len(waiting)
            heap.extend([(o.expires_at, o.order_id) for o in waiting if o.remaining])  # type: ignore[misc]
        heapify(heap)
        self._expiry_count -= moved - (len(heap) - before)
        self._migrated = max(self._migrated, upto)

    def _compact_expiry(self) -> None:
        """Drop stale expiry entries; set the next limit at twice what is left.

        Entries of orders that left (canceled, filled, re-queued) stay until
        they surface; this keeps them at most about half of all, in a pass
        of O(entries) that runs after as many additions: amortized O(1).
        """
        orders = self._orders
        for bucket in list(self._buckets):
            live = [o for o in self._buckets[bucket] if o.remaining]
            if live:
                self._buckets[bucket] = live
            else:
                del self._buckets[bucket]
        self._bucket_heap = list(self._buckets)
        heapify(self._bucket_heap)
        heap = []
        for expires_at, order_id in self._heap:
            o = orders.get(order_id)
            if o is not None and o.expires_at == expires_at:
                heap.append((expires_at, order_id))
        heapify(heap)
        self._heap = heap
        self._expiry_count = len(heap) + sum(len(w) for w in self._buckets.values())
        self._expiry_limit = 2 * self._expiry_count + _EXPIRY_SLACK

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
                maker = queue[0]
                available = maker.remaining
                if not available:
                    queue.popleft()  # a dead entry (canceled, expired, re-queued)
                    continue
                maker_id = maker.order_id
                if maker.owner == owner:
                    seq += 1
                    events.append(_new(Canceled, (seq, maker_id, _SELF_TRADE, available)))
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
                maker.filled += traded
                level.quantity -= traded
                seq += 1
                events.append(
                    _new(
                        Fill,
                        (
                            seq, order_id, maker_id, owner, maker.owner, side,
                            price, traded, remaining, available,
                        ),
                    )
                )
                if not available:
                    level.count -= 1
                    del orders[maker_id]
                    queue.popleft()
                if not remaining:
                    break
            if not level.count:
                del levels[price]
                price = levels.peekitem(best_index)[0] if levels else None
        if is_bid:
            self._best_ask = price
        else:
            self._best_bid = price
        return remaining, seq


def _level_key(item: tuple[int, int, Side, Level]) -> tuple[int, int]:
    return item[0], item[1]


def _require(condition: bool, message: str) -> None:
    """Raise AssertionError(message) unless ``condition``; survives ``python -O``."""
    if not condition:
        raise AssertionError(message)
