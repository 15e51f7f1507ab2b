"""Per-SKU ticker and candle state kept by the feed from the trades it relays.

Sans I/O: times are the events' own times (the engine's clock, int ns), never
a clock read here, so the same stream gives the same tickers and candles.

Ticker figures follow the analytics definitions (``exchange/analytics.py``):
``volume_24h`` is the number of items traded in the 24 hours up to the
event's time; ``change_24h_pct`` compares the last sale with the last sale at
or before 24 hours earlier, in percent with 2 decimals, ``None`` without such
a reference. Candles start on whole intervals of UTC time (weeks on Monday
00:00 UTC); an interval without trades has no candle.

A SKU's state starts from an optional history (``seed``), asked for once, the
first time the SKU is touched, so that a restarted feed does not report an
empty day; trades whose id is not newer than the history's newest are not
counted twice.

A canceled trade (:class:`TradeCanceled`) stops counting at once: it leaves
the 24-hour window (volume), the last sale falls back to the newest trade
still known and not canceled, and each current candle that contains it is
recomputed from the trades the state keeps (the last 24 hours). A candle
that also holds trades older than that (a day or week candle that started
more than 24 hours before) is left as it is; a candle left without trades is
dropped (no ``candle`` message: the ``trade_canceled`` says why).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from exchange.marketdata import TradeCanceled, TradePrint

from .protocol import INTERVAL_NS, candle_message, ticker_message

__all__ = ["DAY_NS", "HistoryTrade", "MarketState", "candle_start"]

DAY_NS = 86_400 * 1_000_000_000
# 1970-01-01 was a Thursday; weeks start on Monday 1970-01-05.
_WEEK_OFFSET_NS = 4 * DAY_NS

HistoryTrade = tuple[int, int, int, int]
"""A past trade for seeding: ``(trade_id, time_ns, price_cents, quantity)``."""


def candle_start(time_ns: int, interval: str) -> int:
    """The start of the candle of ``interval`` that contains ``time_ns``."""
    width = INTERVAL_NS[interval]
    if interval == "1w":
        return (time_ns - _WEEK_OFFSET_NS) // width * width + _WEEK_OFFSET_NS
    return time_ns // width * width


class _Sku:
    __slots__ = (
        "candles",
        "last_sale",
        "last_trade_id",
        "ref_id",
        "ref_price",
        "sequence",
        "time",
        "volume",
        "window",
    )

    def __init__(self) -> None:
        self.sequence = 0
        self.time = 0
        self.last_sale: int | None = None
        self.last_trade_id = 0
        self.ref_price: int | None = None
        self.ref_id = 0
        # (time, price, qty, trade_id) of trades inside the last 24 hours,
        # oldest first; trade ids let a cancel find its trade.
        self.window: deque[tuple[int, int, int, int]] = deque()
        self.volume = 0
        # interval -> [start, open, high, low, close, volume, sequence]
        self.candles: dict[str, list[int]] = {}

    def add_trade(
        self, time_ns: int, price: int, qty: int, sequence: int, trade_id: int = 0
    ) -> None:
        self.last_sale = price
        self.window.append((time_ns, price, qty, trade_id))
        self.volume += qty
        for interval in INTERVAL_NS:
            start = candle_start(time_ns, interval)
            candle = self.candles.get(interval)
            if candle is None or candle[0] != start:
                self.candles[interval] = [start, price, price, price, price, qty, sequence]
            else:
                if price > candle[2]:
                    candle[2] = price
                if price < candle[3]:
                    candle[3] = price
                candle[4] = price
                candle[5] += qty
                candle[6] = sequence

    def roll(self, now_ns: int) -> None:
        """Drop trades older than 24 hours; the newest dropped is the reference."""
        cutoff = now_ns - DAY_NS
        window = self.window
        while window and window[0][0] <= cutoff:
            _, price, qty, trade_id = window.popleft()
            self.ref_price = price
            self.ref_id = trade_id
            self.volume -= qty

    def cancel_trade(self, trade_id: int, sequence: int) -> list[str]:
        """Stop counting a trade; returns the intervals whose candle changed."""
        window = self.window
        found = None
        for index, entry in enumerate(window):
            if entry[3] == trade_id:
                found = entry
                del window[index]
                break
        if self.ref_id and self.ref_id == trade_id:
            # The reference sale is gone and the one before it is not kept.
            self.ref_price = None
            self.ref_id = 0
            if not window:
                self.last_sale = None  # it was also the last sale
        if found is None:
            return []  # older than what is kept: nothing left to correct
        time_ns, _, qty, _ = found
        self.volume -= qty
        if window:
            self.last_sale = window[-1][1]
        else:
            self.last_sale = self.ref_price
        # Trades older than the window's cutoff are not kept: a candle that
        # starts at or before it cannot be recomputed.
        cutoff = self.time - DAY_NS
        changed: list[str] = []
        for interval, candle in list(self.candles.items()):
            start = candle[0]
            if not start <= time_ns < start + INTERVAL_NS[interval] or start <= cutoff:
                continue
            inside = [e for e in window if start <= e[0] < start + INTERVAL_NS[interval]]
            if not inside:
                del self.candles[interval]
                continue
            prices = [e[1] for e in inside]
            self.candles[interval] = [
                start,
                prices[0],
                max(prices),
                min(prices),
                prices[-1],
                sum(e[2] for e in inside),
                sequence,
            ]
            changed.append(interval)
        return changed

    def change_pct(self) -> float | None:
        if self.ref_price is None or self.last_sale is None:
            return None
        return round((self.last_sale - self.ref_price) * 100 / self.ref_price, 2)


class MarketState:
    """Tickers and current candles of every SKU the feed has seen.

    Args:
        best: ``sku -> (best_bid, best_ask)`` of the released book.
        seed: optional ``sku -> trades`` of the SKU's recent history (any
            order); asked once per SKU, failures count as no history.
        sequence: optional ``sku -> market-data sequence`` of the released
            book, asked once per SKU so that a ticker sent before the SKU's
            next event (on subscribe, after a restart) carries the sequence
            its best bid and ask are current as of, not 0.
    """

    def __init__(
        self,
        best: Callable[[str], tuple[int | None, int | None]],
        seed: Callable[[str], Iterable[HistoryTrade]] | None = None,
        sequence: Callable[[str], int] | None = None,
    ) -> None:
        self._best = best
        self._seed = seed
        self._sequence = sequence
        self._skus: dict[str, _Sku] = {}
        self._bests: dict[str, tuple[int | None, int | None]] = {}

    def _state(self, sku: str, now_ns: int | None = None) -> _Sku:
        state = self._skus.get(sku)
        if state is None:
            state = self._skus[sku] = _Sku()
            if self._seed is not None:
                try:
                    history = sorted(self._seed(sku), key=lambda t: (t[1], t[0]))
                except Exception:  # a missing store must not stop the feed
                    history = []
                for trade_id, time_ns, price, qty in history:
                    state.add_trade(time_ns, price, qty, 0, trade_id)
                    state.last_trade_id = max(state.last_trade_id, trade_id)
                    state.time = max(state.time, time_ns)
            if self._sequence is not None:
                state.sequence = self._sequence(sku)
            state.roll(now_ns if now_ns is not None else state.time)
        return state

    def on_trade(self, event: TradePrint) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Take a trade; returns the new ``ticker`` and the updated ``candle`` of each interval."""
        state = self._state(event.sku, event.time)
        state.sequence = event.sequence
        state.time = event.time
        if event.trade_id > state.last_trade_id:
            state.last_trade_id = event.trade_id
            state.add_trade(
                event.time, event.price_cents, event.quantity, event.sequence, event.trade_id
            )
        state.roll(event.time)
        candles = [self._candle(event.sku, state, interval) for interval in state.candles]
        return self._ticker(event.sku, state), candles

    def on_trade_canceled(
        self, event: TradeCanceled
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Stop counting a canceled trade.

        Returns the new ``ticker`` and the recomputed ``candle`` of each
        interval whose current candle held the trade (none when the trade is
        older than what is kept, or when the candle is left empty).
        """
        state = self._state(event.sku, event.time)
        state.sequence = event.sequence
        state.time = max(state.time, event.time)
        state.roll(event.time)
        changed = state.cancel_trade(event.trade_id, event.sequence)
        candles = [self._candle(event.sku, state, interval) for interval in changed]
        return self._ticker(event.sku, state), candles

    def on_book(self, sku: str, sequence: int, time_ns: int) -> dict[str, Any] | None:
        """Take a book update; returns a ``ticker`` when the best bid or ask changed."""
        state = self._state(sku, time_ns)
        state.sequence = sequence
        state.time = time_ns
        best = self._best(sku)
        if self._bests.get(sku) == best:
            return None
        self._bests[sku] = best
        state.roll(time_ns)
        return self._ticker(sku, state)

    def ticker(self, sku: str) -> dict[str, Any]:
        """The SKU's current ``ticker`` message (sent on subscribe)."""
        return self._ticker(sku, self._state(sku))

    def candle(self, sku: str, interval: str) -> dict[str, Any] | None:
        """The SKU's latest ``candle`` of ``interval``, or None before any trade."""
        state = self._state(sku)
        if interval not in state.candles:
            return None
        return self._candle(sku, state, interval)

    def _ticker(self, sku: str, state: _Sku) -> dict[str, Any]:
        bid, ask = self._best(sku)
        self._bests[sku] = (bid, ask)
        return ticker_message(
            sku,
            state.sequence,
            bid,
            ask,
            state.last_sale,
            state.change_pct(),
            state.volume,
            state.time,
        )

    @staticmethod
    def _candle(sku: str, state: _Sku, interval: str) -> dict[str, Any]:
        start, open_, high, low, close, volume, sequence = state.candles[interval]
        return candle_message(
            sku, interval, sequence or state.sequence, start, (open_, high, low, close), volume
        )
