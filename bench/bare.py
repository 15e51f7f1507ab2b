"""The bare reference book: the baseline the book benchmark divides by.

Exactly the baseline of ../shared/DESIGN.md: per SKU two ``SortedDict``s
(price → ``deque`` of ``[order_id, qty]``) and a dict id → entry; cancel is
lazy (qty set to 0, the entry dropped when matching reaches it); price-time
matching at the resting price with partial fills; no events, no checks, no
self-trade prevention, no expiry. A market order matches up to its price
protection and its rest is dropped; a limit order's rest rests.

It comes in three shapes, all the same logic:

- :class:`BareCommandBook`, the primary baseline: one object per SKU with
  ``place(PlaceOrder)`` / ``cancel(CancelOrder)`` methods taking the very
  command tuples our :class:`orderbook.OrderBook` takes, driven by the very
  same timing loop (one bound-method call per command). Book against book,
  the ratio measures what our features cost, not how the loop is written.
- :func:`run_bare`, the same work written inline in one loop over the raw
  workload tuples (no call per event, no command objects). It is as fast as
  plain Python gets here and is reported as a second, stricter ratio
  (``book_vs_inline_loop_ratio``): the difference between the two baselines
  is the cost of a method call and a command unpack per event.
- :class:`BareBook`, the same logic with plain arguments, used by the
  workload generator to know which orders are still live (not timed).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

from sortedcontainers import SortedDict

from orderbook import OrderType, Side

from .workload import CANCEL, LIMIT, Event

__all__ = ["BareBook", "BareCommandBook", "InlineBooks", "new_inline_books", "run_bare"]

# Compared by identity, as our book does: the cheapest test there is, so the
# baseline is not slowed down by string comparisons of StrEnum members.
_BID = Side.BID
_LIMIT = OrderType.LIMIT


class BareBook:
    """One SKU's bare book as methods (for the generator, not for timing)."""

    __slots__ = ("asks", "bids", "index")

    def __init__(self) -> None:
        self.bids: SortedDict = SortedDict()
        self.asks: SortedDict = SortedDict()
        self.index: dict[int, list[int]] = {}

    def best_bid(self) -> int | None:
        """Highest bid price with a live order, dropping dead levels on the way."""
        return self._best(self.bids, -1)

    def best_ask(self) -> int | None:
        """Lowest ask price with a live order, dropping dead levels on the way."""
        return self._best(self.asks, 0)

    @staticmethod
    def _best(side: SortedDict, at: int) -> int | None:
        while side:
            price, queue = side.peekitem(at)
            while queue and not queue[0][1]:
                queue.popleft()
            if queue:
                return int(price)
            del side[price]
        return None

    def place(self, order_id: int, is_bid: bool, price: int, qty: int, rests: bool) -> int:
        """Match, then rest the rest when ``rests``; returns the quantity traded."""
        traded = 0
        index = self.index
        opp = self.asks if is_bid else self.bids
        at = 0 if is_bid else -1
        while qty and opp:
            best, queue = opp.peekitem(at)
            if (best > price) if is_bid else (best < price):
                break
            while queue and qty:
                entry = queue[0]
                if not entry[1]:
                    queue.popleft()
                    continue
                take = entry[1] if entry[1] <= qty else qty
                entry[1] -= take
                qty -= take
                traded += take
                if not entry[1]:
                    queue.popleft()
                    del index[entry[0]]
            if not queue:
                del opp[best]
        if qty and rests:
            own = self.bids if is_bid else self.asks
            queue = own.get(price)
            if queue is None:
                queue = own[price] = deque()
            entry = [order_id, qty]
            queue.append(entry)
            index[order_id] = entry
        return traded

    def cancel(self, order_id: int) -> bool:
        """Lazy cancel; False when the order is not live."""
        entry = self.index.pop(order_id, None)
        if entry is None:
            return False
        entry[1] = 0
        return True


class BareCommandBook:
    """One SKU's bare book taking our command tuples: the primary baseline.

    ``place`` takes a :class:`orderbook.PlaceOrder` (or any tuple of the same
    shape) and ``cancel`` a :class:`orderbook.CancelOrder`; each returns the
    quantity it traded (a plain int, no events). The matching is
    :func:`run_bare`'s, line for line.
    """

    __slots__ = ("asks", "bids", "index")

    def __init__(self) -> None:
        self.bids: SortedDict = SortedDict()
        self.asks: SortedDict = SortedDict()
        self.index: dict[int, list[int]] = {}

    def place(self, cmd: Any) -> int:
        """Match a limit or market order, then rest a limit order's rest."""
        order_id, _owner, side, qty, price, order_type, _tif, _post, _exp, _now = cmd
        traded = 0
        if side is _BID:
            asks = self.asks
            while qty and asks:
                best, queue = asks.peekitem(0)
                if best > price:
                    break
                while queue and qty:
                    entry = queue[0]
                    avail = entry[1]
                    if not avail:
                        queue.popleft()
                        continue
                    take = avail if avail <= qty else qty
                    entry[1] = avail - take
                    qty -= take
                    traded += take
                    if avail == take:
                        queue.popleft()
                        del self.index[entry[0]]
                if not queue:
                    del asks[best]
            if qty and order_type is _LIMIT:
                bids = self.bids
                queue = bids.get(price)
                if queue is None:
                    queue = bids[price] = deque()
                entry = [order_id, qty]
                queue.append(entry)
                self.index[order_id] = entry
        else:
            bids = self.bids
            while qty and bids:
                best, queue = bids.peekitem(-1)
                if best < price:
                    break
                while queue and qty:
                    entry = queue[0]
                    avail = entry[1]
                    if not avail:
                        queue.popleft()
                        continue
                    take = avail if avail <= qty else qty
                    entry[1] = avail - take
                    qty -= take
                    traded += take
                    if avail == take:
                        queue.popleft()
                        del self.index[entry[0]]
                if not queue:
                    del bids[best]
            if qty and order_type is _LIMIT:
                asks = self.asks
                queue = asks.get(price)
                if queue is None:
                    queue = asks[price] = deque()
                entry = [order_id, qty]
                queue.append(entry)
                self.index[order_id] = entry
        return traded

    def cancel(self, cmd: Any) -> int:
        """Lazy cancel (the entry's qty set to 0); returns 0, nothing traded."""
        entry = self.index.pop(cmd[0], None)
        if entry is not None:
            entry[1] = 0
        return 0


InlineBooks = list[tuple[Any, Any, dict[int, list[int]]]]


def new_inline_books(n_skus: int) -> InlineBooks:
    """Empty books for :func:`run_bare`: per SKU (bids, asks, id index)."""
    return [(SortedDict(), SortedDict(), {}) for _ in range(n_skus)]


def run_bare(events: Sequence[Event], n_skus: int, books: InlineBooks | None = None) -> int:
    """Run the workload through bare books; returns the quantity traded.

    Fresh books unless ``books`` (from :func:`new_inline_books`) is given, so
    that a workload can be run in slices. The return value is there so the
    work cannot be optimized away and so a run can be compared with the
    book's total fill quantity.
    """
    if books is None:
        books = new_inline_books(n_skus)
    traded = 0
    for kind, sku, order_id, _owner, side, price, qty, _expires_at, _now in events:
        bids, asks, index = books[sku]
        if kind == CANCEL:
            entry = index.pop(order_id, None)
            if entry is not None:
                entry[1] = 0
            continue
        if side == "bid":
            while qty and asks:
                best, queue = asks.peekitem(0)
                if best > price:
                    break
                while queue and qty:
                    entry = queue[0]
                    avail = entry[1]
                    if not avail:
                        queue.popleft()
                        continue
                    take = avail if avail <= qty else qty
                    entry[1] = avail - take
                    qty -= take
                    traded += take
                    if avail == take:
                        queue.popleft()
                        del index[entry[0]]
                if not queue:
                    del asks[best]
            if qty and kind == LIMIT:
                queue = bids.get(price)
                if queue is None:
                    queue = bids[price] = deque()
                entry = [order_id, qty]
                queue.append(entry)
                index[order_id] = entry
        else:
            while qty and bids:
                best, queue = bids.peekitem(-1)
                if best < price:
                    break
                while queue and qty:
                    entry = queue[0]
                    avail = entry[1]
                    if not avail:
                        queue.popleft()
                        continue
                    take = avail if avail <= qty else qty
                    entry[1] = avail - take
                    qty -= take
                    traded += take
                    if avail == take:
                        queue.popleft()
                        del index[entry[0]]
                if not queue:
                    del bids[best]
            if qty and kind == LIMIT:
                queue = asks.get(price)
                if queue is None:
                    queue = asks[price] = deque()
                entry = [order_id, qty]
                queue.append(entry)
                index[order_id] = entry
    return traded
