"""What crosses NATS between the roles: requests, answers, market data.

Requests to a shard's engine (``rpc.<K>``) are orjson objects ``{"op",
"account", "args", "dir"}``: the operation (a :class:`exchange.venue.Venue`
method, see ``cluster.engine``), the caller's account id (None for public
calls), its arguments, and ``dir``, the seq of shard 0's journal the
caller's directory had applied (a shard waits until it has applied at
least that much of shard 0's accounts and products). Answers are ``{"ok":
value, "seq": released seq}`` or ``{"error": [code, message, status]}``, the
error being the engine's :class:`exchange.errors.ExchangeError` as it is.

Market data goes out on ``md.<sku>`` after it was released (durable): one
message per SKU and journal group, a list of events, each ``[kind, fields...]``
(the NamedTuples of :mod:`exchange.marketdata`), a book update followed by
the order counts of the levels it changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from exchange.errors import ExchangeError
from exchange.history import Page
from exchange.marketdata import BookUpdate, MarketDataEvent, TradeCanceled, TradePrint

__all__ = [
    "decode_answer",
    "decode_events",
    "decode_page",
    "encode_answer",
    "encode_error",
    "encode_events",
    "encode_page",
    "encode_request",
]

_KINDS: dict[type, str] = {BookUpdate: "b", TradePrint: "t", TradeCanceled: "c"}
_TYPES: dict[str, Any] = {v: k for k, v in _KINDS.items()}

Counts = dict[tuple[str, int], int]


def _default(value: object) -> Any:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot send {type(value).__name__} over the cluster")


def dumps(value: object) -> bytes:
    """orjson with the few extra types answers hold."""
    return orjson.dumps(value, default=_default, option=orjson.OPT_NON_STR_KEYS)


def encode_request(op: str, account: str | None, args: Sequence[Any], dir_seq: int) -> bytes:
    """A request to a shard's engine."""
    return dumps({"op": op, "account": account, "args": list(args), "dir": dir_seq})


def encode_answer(value: Any, seq: int) -> bytes:
    """A successful answer, with the shard's released journal seq."""
    return dumps({"ok": value, "seq": seq})


def encode_error(exc: ExchangeError) -> bytes:
    """A refusal, as the engine raised it."""
    return dumps({"error": [exc.code, exc.message, exc.status]})


def decode_answer(data: bytes) -> tuple[Any, int]:
    """``(value, seq)`` of an answer.

    Raises:
        ExchangeError: the engine's refusal.
    """
    answer = orjson.loads(data)
    error = answer.get("error")
    if error is not None:
        code, message, status = error
        raise ExchangeError(code, message, status=status)
    return answer["ok"], int(answer.get("seq", 0))


def encode_page(page: Page) -> list[int | None]:
    """A :class:`Page` as ``[limit, before]``."""
    return [page.limit, page.before]


def decode_page(data: Sequence[int | None]) -> Page:
    """Inverse of :func:`encode_page`."""
    limit, before = data
    assert limit is not None
    return Page(limit=limit, before=before)


def encode_events(events: Sequence[MarketDataEvent], counts: Sequence[Counts | None]) -> bytes:
    """One SKU's released events with the order counts of changed levels."""
    out: list[list[Any]] = []
    for ev, cnt in zip(events, counts, strict=True):
        row: list[Any] = [_KINDS[type(ev)], *ev]
        if type(ev) is BookUpdate:
            row.append([[side, price, n] for (side, price), n in (cnt or {}).items()])
        out.append(row)
    return orjson.dumps(out)


def decode_events(data: bytes) -> list[tuple[MarketDataEvent, Counts | None]]:
    """Inverse of :func:`encode_events`."""
    out: list[tuple[MarketDataEvent, Counts | None]] = []
    for row in orjson.loads(data):
        kind = _TYPES[row[0]]
        if kind is BookUpdate:
            sku, seq, prev, changes, checksum, time, counts = row[1:]
            ev: MarketDataEvent = BookUpdate(
                sku, seq, prev, tuple((s, p, q) for s, p, q in changes), checksum, time
            )
            out.append((ev, {(s, p): n for s, p, n in counts}))
        else:
            out.append((kind(*row[1:]), None))
    return out
