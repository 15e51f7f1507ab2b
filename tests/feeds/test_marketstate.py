"""Ticker and candle state: 24h window, reference sale, candle starts, seeding."""

from __future__ import annotations

from exchange.clock import parse_rfc3339
from exchange.marketdata import TradeCanceled, TradePrint
from feeds.marketstate import MarketState, candle_start

HOUR = 3600 * 10**9
T0 = parse_rfc3339("2026-11-25T10:00:00Z")


def trade(seq: int, trade_id: int, price: int, qty: int, time: int) -> TradePrint:
    return TradePrint("AAA-10", seq, seq - 1, trade_id, price, qty, "bid", time)


def test_change_and_volume_over_24_hours() -> None:
    state = MarketState(lambda sku: (9000, 11000))
    ticker, _ = state.on_trade(trade(1, 1, 10000, 1, T0))
    assert ticker["change_24h_pct"] is None and ticker["volume_24h"] == 1
    state.on_trade(trade(2, 2, 11000, 2, T0 + HOUR))
    ticker, candles = state.on_trade(trade(3, 3, 12100, 3, T0 + 25 * HOUR))
    # The reference is the last sale at or before 24 hours earlier: 11000.
    assert ticker["change_24h_pct"] == 10.0
    assert ticker["volume_24h"] == 3
    assert ticker["best_bid_cents"] == 9000 and ticker["sequence"] == 3
    assert {c["interval"] for c in candles} == {"1m", "1h", "1d", "1w"}


def test_candle_starts() -> None:
    t = parse_rfc3339("2026-11-25T15:44:22.123Z")  # a Wednesday
    assert candle_start(t, "1m") == parse_rfc3339("2026-11-25T15:44:00Z")
    assert candle_start(t, "1h") == parse_rfc3339("2026-11-25T15:00:00Z")
    assert candle_start(t, "1d") == parse_rfc3339("2026-11-25T00:00:00Z")
    assert candle_start(t, "1w") == parse_rfc3339("2026-11-23T00:00:00Z")  # Monday


def test_candle_ohlc_and_a_new_interval() -> None:
    state = MarketState(lambda sku: (None, None))
    for seq, (price, minute) in enumerate([(100, 0), (300, 0), (50, 0), (200, 1)], 1):
        state.on_trade(trade(seq, seq, price, 1, T0 + minute * 60 * 10**9))
    hour = state.candle("AAA-10", "1h")
    assert hour is not None
    assert (hour["open_cents"], hour["high_cents"], hour["low_cents"], hour["close_cents"],
            hour["volume"], hour["sequence"]) == (100, 300, 50, 200, 4, 4)
    minute = state.candle("AAA-10", "1m")
    assert minute is not None and minute["open_cents"] == 200 and minute["volume"] == 1


def test_seeded_history_is_not_counted_twice() -> None:
    history = [(1, T0, 10000, 1), (2, T0 + HOUR, 10500, 2)]
    state = MarketState(lambda sku: (None, None), lambda sku: history)
    assert state.ticker("AAA-10")["volume_24h"] == 3
    ticker, _ = state.on_trade(trade(5, 2, 10500, 2, T0 + HOUR))  # already in the history
    assert ticker["volume_24h"] == 3 and ticker["sequence"] == 5
    ticker, _ = state.on_trade(trade(6, 3, 11000, 1, T0 + 2 * HOUR))
    assert ticker["volume_24h"] == 4 and ticker["last_sale_cents"] == 11000


def test_book_update_gives_a_ticker_only_when_the_best_changes() -> None:
    best = {"AAA-10": (9000, 11000)}
    state = MarketState(lambda sku: best[sku])
    assert state.on_book("AAA-10", 1, T0) is not None
    assert state.on_book("AAA-10", 2, T0) is None
    best["AAA-10"] = (9100, 11000)
    ticker = state.on_book("AAA-10", 3, T0)
    assert ticker is not None and ticker["best_bid_cents"] == 9100 and ticker["sequence"] == 3


def cancel(seq: int, prev: int, t: TradePrint, time: int) -> TradeCanceled:
    return TradeCanceled(t.sku, seq, prev, t.trade_id, t.price_cents, t.quantity, time)


def test_a_canceled_trade_stops_counting_at_once() -> None:
    state = MarketState(lambda sku: (None, None))
    first = trade(1, 1, 10000, 1, T0)
    second = trade(2, 2, 12000, 3, T0 + 60 * 10**9)
    third = trade(3, 3, 11000, 2, T0 + 2 * 60 * 10**9)
    for t in (first, second, third):
        state.on_trade(t)
    # Cancel the middle one: the last sale stays, volume and candles drop it.
    ticker, candles = state.on_trade_canceled(cancel(4, 3, second, T0 + HOUR // 2))
    assert ticker["volume_24h"] == 3 and ticker["last_sale_cents"] == 11000
    assert ticker["sequence"] == 4
    # Its 1m candle is no longer current; the 1w one started before the kept 24 h.
    assert [c["interval"] for c in candles] == ["1h", "1d"]
    hour = candles[0]
    assert (hour["open_cents"], hour["high_cents"], hour["low_cents"], hour["close_cents"],
            hour["volume"], hour["sequence"]) == (10000, 11000, 10000, 11000, 3, 4)
    # Cancel the last sale: it falls back to the newest one left, and the
    # current minute candle, left empty, is dropped.
    ticker, candles = state.on_trade_canceled(cancel(5, 4, third, T0 + HOUR // 2))
    assert ticker["volume_24h"] == 1 and ticker["last_sale_cents"] == 10000
    assert state.candle("AAA-10", "1m") is None
    assert [c["interval"] for c in candles] == ["1h", "1d"] and candles[0]["volume"] == 1
    ticker, _ = state.on_trade_canceled(cancel(6, 5, first, T0 + HOUR // 2))
    assert ticker["volume_24h"] == 0 and ticker["last_sale_cents"] is None
    assert state.candle("AAA-10", "1h") is None
    week = state.candle("AAA-10", "1w")
    assert week is not None and week["volume"] == 6  # left as it was


def test_a_cancel_older_than_what_is_kept_leaves_candles_alone() -> None:
    state = MarketState(lambda sku: (None, None))
    monday = parse_rfc3339("2026-11-23T01:00:00Z")
    old = trade(1, 1, 10000, 1, monday)
    state.on_trade(old)
    state.on_trade(trade(2, 2, 11000, 1, monday + 30 * HOUR))
    ticker, candles = state.on_trade_canceled(cancel(3, 2, old, monday + 31 * HOUR))
    # The old sale was the 24h reference; nothing earlier is known.
    assert ticker["change_24h_pct"] is None and ticker["volume_24h"] == 1
    assert candles == []
    week = state.candle("AAA-10", "1w")
    assert week is not None and week["volume"] == 2  # older than the kept 24 h
    # Past 24 hours the last sale is the reference, and the sales before it
    # are not kept: canceling it leaves no last sale rather than a wrong one.
    later = trade(4, 3, 12000, 1, monday + 32 * HOUR)
    state.on_trade(later)
    ticker, _ = state.on_trade_canceled(cancel(5, 4, later, monday + 60 * HOUR))
    assert ticker["last_sale_cents"] is None and ticker["volume_24h"] == 0


def test_a_seeded_trade_can_be_canceled() -> None:
    history = [(7, T0, 10000, 2), (8, T0 + HOUR, 10500, 1)]
    state = MarketState(lambda sku: (None, None), lambda sku: history)
    seeded = trade(9, 8, 10500, 1, T0 + HOUR)
    ticker, _ = state.on_trade_canceled(cancel(9, 5, seeded, T0 + 2 * HOUR))
    assert ticker["volume_24h"] == 2 and ticker["last_sale_cents"] == 10000


def test_first_ticker_takes_the_sequence_from_the_book() -> None:
    # After a restart the feed starts from the venue's book at sequence N: a
    # ticker before the SKU's next event reflects that book, so it says N.
    state = MarketState(lambda sku: (9_000, 11_000), sequence=lambda sku: 129)
    assert state.ticker("AAA-10")["sequence"] == 129


def test_without_a_sequence_source_the_first_ticker_says_0() -> None:
    assert MarketState(lambda sku: (None, None)).ticker("AAA-10")["sequence"] == 0
