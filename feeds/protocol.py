"""The feed's wire protocol: message shapes and one connection's state, sans I/O.

This module reads no clock and owns no socket: the server feeds it the text of
each client message with the time it arrived and gets back what to send and
how the connection's subscriptions change, the way h11 and websockets' core
work. Everything that crosses the wire is defined here, so ``docs/feed.md``,
the server and the client library agree on one set of names.

Client messages (JSON text frames)::

    {"type": "subscribe", "channels": ["book", "trades"], "skus": ["A-10"],
     "interval": "1m", "req_id": 7}
    {"type": "unsubscribe", "channels": [...], "skus": [...], "req_id": 8}

``skus`` may be ``["*"]`` for ``ticker`` and ``trades`` (every SKU).
``interval`` only matters for ``candles`` (``1m`` default, ``1h``, ``1d``,
``1w``). ``req_id`` (a string or an integer) is echoed in the reply.

A message is handled whole or not at all: any error (``error`` reply with a
stable ``code``) leaves the subscriptions exactly as they were.

Server messages are built by the ``*_message`` functions below and encoded
once with orjson; :func:`text_frame` wraps an encoded message in an unmasked
websocket text frame, identical for every subscriber, so fan-out copies bytes
instead of encoding per client.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from exchange.clock import rfc3339
from exchange.marketdata import BookSnapshot, BookUpdate, TradeCanceled, TradePrint

__all__ = [
    "DEFAULT_INTERVAL",
    "INTERVAL_NS",
    "WILDCARD",
    "Channel",
    "ConnectionState",
    "ErrorCode",
    "Outcome",
    "Subscription",
    "book_message",
    "candle_message",
    "encode",
    "error_message",
    "heartbeat_message",
    "snapshot_message",
    "subscriptions_message",
    "text_frame",
    "ticker_message",
    "trade_canceled_message",
    "trade_message",
]

WILDCARD = "*"
DEFAULT_INTERVAL = "1m"
_MINUTE_NS = 60 * 1_000_000_000
INTERVAL_NS: dict[str, int] = {
    "1m": _MINUTE_NS,
    "1h": 60 * _MINUTE_NS,
    "1d": 24 * 60 * _MINUTE_NS,
    "1w": 7 * 24 * 60 * _MINUTE_NS,
}


class Channel(enum.StrEnum):
    """What a client can subscribe to, per SKU."""

    TICKER = "ticker"
    TRADES = "trades"
    BOOK = "book"
    CANDLES = "candles"


# Channels that accept the "*" wildcard: bounded per event (one message per
# event), unlike book snapshots and candles that would fan out per SKU.
WILDCARD_CHANNELS = frozenset({Channel.TICKER, Channel.TRADES})


class ErrorCode(enum.StrEnum):
    """Stable ``code`` of an ``error`` message; never reused for two causes."""

    INVALID_JSON = "invalid_json"
    INVALID_MESSAGE = "invalid_message"
    UNKNOWN_TYPE = "unknown_type"
    UNKNOWN_CHANNEL = "unknown_channel"
    UNKNOWN_SKU = "unknown_sku"
    UNKNOWN_INTERVAL = "unknown_interval"
    WILDCARD_NOT_ALLOWED = "wildcard_not_allowed"
    TOO_MANY_SUBSCRIPTIONS = "too_many_subscriptions"
    MESSAGE_TOO_LARGE = "message_too_large"
    RATE_LIMITED = "rate_limited"
    SLOW_CONSUMER = "slow_consumer"


@dataclass(frozen=True, slots=True, order=True)
class Subscription:
    """One subscription: a channel and a SKU (or ``*``); ``interval`` for candles."""

    channel: Channel
    sku: str
    interval: str = ""

    def to_json(self) -> dict[str, str]:
        """The subscription as it appears in a ``subscriptions`` message."""
        out = {"channel": str(self.channel), "sku": self.sku}
        if self.interval:
            out["interval"] = self.interval
        return out


@dataclass(slots=True)
class Outcome:
    """What handling one client message asks the server to do.

    Attributes:
        replies: messages to send now, in order (``subscriptions`` or ``error``).
        added: subscriptions that are new on this connection.
        removed: subscriptions that ended.
        initial: subscriptions whose current state must follow the reply
            (a book ``snapshot``, the current ``ticker`` or ``candle``); a
            repeated subscribe lists it again, which is how a client asks for
            a fresh snapshot after a gap.
    """

    replies: list[dict[str, Any]] = field(default_factory=list)
    added: list[Subscription] = field(default_factory=list)
    removed: list[Subscription] = field(default_factory=list)
    initial: list[Subscription] = field(default_factory=list)


class _Refused(Exception):
    """Internal: a client message is refused with ``code`` (it changes nothing)."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_KNOWN_KEYS = frozenset({"type", "channels", "skus", "interval", "req_id"})


class ConnectionState:
    """The subscriptions and inbound limits of one websocket connection.

    Args:
        sku_exists: tells whether a SKU is in the catalog.
        max_subscriptions: the most subscriptions one connection may hold
            (``*`` counts as one).
        max_message_bytes: larger client messages get ``message_too_large``.
        rate: client messages per second allowed on average (token bucket).
        burst: bucket size: messages allowed at once after a quiet spell.
    """

    def __init__(
        self,
        sku_exists: Callable[[str], bool],
        *,
        max_subscriptions: int = 200,
        max_message_bytes: int = 64 * 1024,
        rate: float = 20.0,
        burst: float = 50.0,
    ) -> None:
        self._sku_exists = sku_exists
        self.max_subscriptions = max_subscriptions
        self.max_message_bytes = max_message_bytes
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._last: float | None = None
        self.subscriptions: set[Subscription] = set()

    def receive(self, data: str | bytes, now: float) -> Outcome:
        """Handle one client message that arrived at ``now`` (seconds, monotonic).

        Returns:
            The replies and subscription changes; on any refusal a single
            ``error`` reply and no change.
        """
        req_id: str | int | None = None
        try:
            self._take_token(now)
            if isinstance(data, bytes):
                raise _Refused(ErrorCode.INVALID_MESSAGE, "messages must be JSON text frames")
            if len(data) > self.max_message_bytes:
                raise _Refused(
                    ErrorCode.MESSAGE_TOO_LARGE,
                    f"a message may be at most {self.max_message_bytes} bytes",
                )
            try:
                msg = orjson.loads(data)
            except orjson.JSONDecodeError:
                raise _Refused(ErrorCode.INVALID_JSON, "the message is not valid JSON") from None
            if not isinstance(msg, dict):
                raise _Refused(ErrorCode.INVALID_MESSAGE, "a message must be a JSON object")
            raw_id = msg.get("req_id")
            if raw_id is not None:
                if type(raw_id) not in (str, int):
                    raise _Refused(ErrorCode.INVALID_MESSAGE, "req_id must be a string or integer")
                req_id = raw_id
            kind = msg.get("type")
            if kind == "subscribe":
                return self._subscribe(self._parse(msg), req_id)
            if kind == "unsubscribe":
                return self._unsubscribe(self._parse(msg), req_id)
            raise _Refused(
                ErrorCode.UNKNOWN_TYPE,
                f"unknown message type {kind!r}; expected 'subscribe' or 'unsubscribe'",
            )
        except _Refused as refused:
            return Outcome(replies=[error_message(refused.code, refused.message, req_id)])

    def _take_token(self, now: float) -> None:
        if self._last is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens < 1.0:
            raise _Refused(
                ErrorCode.RATE_LIMITED,
                f"too many messages: at most {self.rate:g} per second (burst {self.burst:g})",
            )
        self._tokens -= 1.0

    def _parse(self, msg: dict[str, Any]) -> list[Subscription]:
        unknown = sorted(set(msg) - _KNOWN_KEYS)
        if unknown:
            raise _Refused(ErrorCode.INVALID_MESSAGE, f"unknown field {unknown[0]!r}")
        channels = _string_list(msg.get("channels"), "channels")
        skus = _string_list(msg.get("skus"), "skus")
        interval = msg.get("interval", DEFAULT_INTERVAL)
        if not isinstance(interval, str):
            raise _Refused(ErrorCode.INVALID_MESSAGE, "interval must be a string")
        if interval not in INTERVAL_NS:
            raise _Refused(
                ErrorCode.UNKNOWN_INTERVAL,
                f"unknown interval {interval!r}; expected one of {', '.join(INTERVAL_NS)}",
            )
        parsed: list[Channel] = []
        for name in channels:
            try:
                parsed.append(Channel(name))
            except ValueError:
                raise _Refused(
                    ErrorCode.UNKNOWN_CHANNEL,
                    f"unknown channel {name!r}; expected ticker, trades, book or candles",
                ) from None
        for sku in skus:
            if sku == WILDCARD:
                for channel in parsed:
                    if channel not in WILDCARD_CHANNELS:
                        raise _Refused(
                            ErrorCode.WILDCARD_NOT_ALLOWED,
                            f"'*' is allowed only on ticker and trades, not on {channel}",
                        )
            elif not self._sku_exists(sku):
                raise _Refused(ErrorCode.UNKNOWN_SKU, f"unknown SKU {sku!r}")
        return [
            Subscription(ch, sku, interval if ch is Channel.CANDLES else "")
            for ch in dict.fromkeys(parsed)
            for sku in dict.fromkeys(skus)
        ]

    def _subscribe(self, subs: list[Subscription], req_id: str | int | None) -> Outcome:
        added = [s for s in subs if s not in self.subscriptions]
        if len(self.subscriptions) + len(added) > self.max_subscriptions:
            raise _Refused(
                ErrorCode.TOO_MANY_SUBSCRIPTIONS,
                f"a connection may hold at most {self.max_subscriptions} subscriptions",
            )
        self.subscriptions.update(added)
        return Outcome(
            replies=[subscriptions_message(self.subscriptions, req_id)],
            added=added,
            initial=list(subs),
        )

    def _unsubscribe(self, subs: list[Subscription], req_id: str | int | None) -> Outcome:
        removed = [s for s in subs if s in self.subscriptions]
        self.subscriptions.difference_update(removed)
        return Outcome(replies=[subscriptions_message(self.subscriptions, req_id)], removed=removed)


def _string_list(value: object, name: str) -> list[str]:
    if not isinstance(value, list) or not value:
        raise _Refused(ErrorCode.INVALID_MESSAGE, f"{name} must be a non-empty list of strings")
    for item in value:
        if not isinstance(item, str):
            raise _Refused(ErrorCode.INVALID_MESSAGE, f"{name} must be a non-empty list of strings")
    return value


# --- server messages -------------------------------------------------------


def encode(message: dict[str, Any]) -> bytes:
    """Encode a message as compact JSON (UTF-8 bytes)."""
    return orjson.dumps(message)


def text_frame(payload: bytes) -> bytes:
    """An unmasked, unfragmented websocket text frame carrying ``payload``.

    Server frames are never masked (RFC 6455 section 5.1), so one frame is the
    same bytes for every client and can be built once per message.
    """
    n = len(payload)
    if n < 126:
        header = bytes((0x81, n))
    elif n < 65536:
        header = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return header + payload


def _with_req_id(message: dict[str, Any], req_id: str | int | None) -> dict[str, Any]:
    if req_id is not None:
        message["req_id"] = req_id
    return message


def error_message(code: str, message: str, req_id: str | int | None = None) -> dict[str, Any]:
    """``{"type":"error","code","message","req_id"?}``."""
    return _with_req_id({"type": "error", "code": str(code), "message": message}, req_id)


def subscriptions_message(
    subscriptions: Iterable[Subscription], req_id: str | int | None = None
) -> dict[str, Any]:
    """The connection's current subscriptions, sorted, after a (un)subscribe."""
    subs = [s.to_json() for s in sorted(subscriptions)]
    return _with_req_id({"type": "subscriptions", "subscriptions": subs}, req_id)


def book_message(event: BookUpdate) -> dict[str, Any]:
    """A ``book`` delta: ``changes`` are ``[side, price_cents, new_quantity]``."""
    return {
        "type": "book",
        "sku": event.sku,
        "sequence": event.sequence,
        "prev_sequence": event.prev_sequence,
        "changes": event.changes,
        "checksum": event.checksum,
        "time": rfc3339(event.time),
    }


def snapshot_message(snapshot: BookSnapshot) -> dict[str, Any]:
    """A full L2 ``snapshot``: levels ``[price_cents, quantity]`` best first."""
    return {
        "type": "snapshot",
        "sku": snapshot.sku,
        "sequence": snapshot.sequence,
        "bids": [[p, q] for p, q, _ in snapshot.bids],
        "asks": [[p, q] for p, q, _ in snapshot.asks],
        "checksum": snapshot.checksum,
    }


def trade_message(event: TradePrint) -> dict[str, Any]:
    """A ``trade``: every match, with its id, price, quantity and taker side."""
    return {
        "type": "trade",
        "sku": event.sku,
        "sequence": event.sequence,
        "prev_sequence": event.prev_sequence,
        "id": event.trade_id,
        "price_cents": event.price_cents,
        "quantity": event.quantity,
        "taker_side": event.taker_side,
        "time": rfc3339(event.time),
    }


def trade_canceled_message(event: TradeCanceled) -> dict[str, Any]:
    """A ``trade_canceled``: a trade printed earlier is no longer a sale.

    Sent on the ``trades`` channel; its ``sequence`` and ``prev_sequence``
    continue the channel's chain like a ``trade``'s. ``time`` is the cancel's.
    """
    return {
        "type": "trade_canceled",
        "sku": event.sku,
        "sequence": event.sequence,
        "prev_sequence": event.prev_sequence,
        "id": event.trade_id,
        "price_cents": event.price_cents,
        "quantity": event.quantity,
        "time": rfc3339(event.time),
    }


def ticker_message(
    sku: str,
    sequence: int,
    best_bid_cents: int | None,
    best_ask_cents: int | None,
    last_sale_cents: int | None,
    change_24h_pct: float | None,
    volume_24h: int,
    time_ns: int,
) -> dict[str, Any]:
    """A ``ticker``: best bid and ask, last sale, 24h change (percent) and volume.

    ``time`` is that of the last event reflected, ``None`` before any.
    """
    return {
        "type": "ticker",
        "sku": sku,
        "sequence": sequence,
        "best_bid_cents": best_bid_cents,
        "best_ask_cents": best_ask_cents,
        "last_sale_cents": last_sale_cents,
        "change_24h_pct": change_24h_pct,
        "volume_24h": volume_24h,
        "time": rfc3339(time_ns) if time_ns else None,
    }


def candle_message(
    sku: str,
    interval: str,
    sequence: int,
    start_ns: int,
    ohlc: tuple[int, int, int, int],
    volume: int,
) -> dict[str, Any]:
    """A ``candle``: the current candle of ``interval``, updated on every trade."""
    open_, high, low, close = ohlc
    return {
        "type": "candle",
        "sku": sku,
        "interval": interval,
        "sequence": sequence,
        "start": rfc3339(start_ns),
        "open_cents": open_,
        "high_cents": high,
        "low_cents": low,
        "close_cents": close,
        "volume": volume,
    }


def heartbeat_message(time_ns: int) -> dict[str, Any]:
    """A ``heartbeat``: sent when a connection has been quiet for a while."""
    return {"type": "heartbeat", "time": rfc3339(time_ns)}
