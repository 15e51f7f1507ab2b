"""The limit order book of one SKU: a sans-I/O protocol object.

CONTRACT (to be kept true by the implementation; helpers fill in the bodies):

- ``OrderBook(sku, rules)``; commands in, ``list[Event]`` out:
  ``place(PlaceOrder)``, ``cancel(CancelOrder)``, ``amend(AmendOrder)``,
  ``expire(ExpireOrders)``, and ``handle(cmd)`` that dispatches on the type.
- Price-time priority; a trade happens at the resting order's price.
- Events per command, in order: ``Accepted`` or ``Rejected`` first (a
  ``Rejected`` command emits nothing else and changes nothing), then fills /
  self-trade cancels in the order they happen, then the taker's own
  ``Canceled`` for an unfilled IOC/market/FOK rest, then one ``LevelChanged``
  per touched level sorted by (side: bid before ask, price ascending).
- Self-trade prevention: when the incoming order meets a resting order of the
  same owner, the resting one is canceled (``Canceled(reason=self_trade)``)
  and matching goes on.
- FOK: checked before any fill; the fillable quantity counts only other
  owners' orders within the limit price. If it cannot fill whole, the order
  is accepted then canceled (``fok_unfillable``) and nothing else changes.
- Post-only: if its price would cross the opposite best, ``Rejected
  (post_only_would_take)``.
- Market orders never rest; their unfilled rest is ``Canceled
  (market_remainder)``. IOC rest: ``Canceled(ioc_remainder)``.
- Amend: new total quantity (including filled) must exceed the filled
  quantity, else ``Rejected(quantity_at_or_below_filled)``. Lowering at the same
  price keeps priority; raising or changing price loses it; a price change may
  trade (as a new taker with the same id) before resting.
- Expiry: a heap of (expires_at, order_id), lazily cleaned; ``expire`` is O(1)
  when nothing is due. Each expired order: ``Canceled(reason=expired)``.
- Queries are O(1) or O(log n): ``best_bid()``, ``best_ask()``,
  ``depth(n) -> (bids, asks)`` of ``(price, quantity, orders)``,
  ``order(order_id)``, ``checksum()``.
- ``snapshot() -> dict`` (JSON-able) and ``OrderBook.restore(dict)``; a
  round trip gives an equal book (same future events).
- ``check()`` asserts every invariant (used after each hypothesis step).
"""
