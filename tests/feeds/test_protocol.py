"""The sans-I/O protocol: parsing, atomic refusals, rate limiting, framing."""

from __future__ import annotations

import orjson
import pytest

from feeds.protocol import (
    Channel,
    ConnectionState,
    Subscription,
    subscriptions_message,
    text_frame,
)

SKUS = {"AAA-10", "BBB-9"}


def state(**kw: float) -> ConnectionState:
    return ConnectionState(SKUS.__contains__, **kw)  # type: ignore[arg-type]


def msg(**fields: object) -> str:
    return orjson.dumps(fields).decode()


def test_subscribe_then_resubscribe_then_unsubscribe() -> None:
    conn = state()
    first = conn.receive(msg(type="subscribe", channels=["book", "candles"], skus=["AAA-10"],
                             interval="1h", req_id=3), 0.0)
    book = Subscription(Channel.BOOK, "AAA-10")
    candles = Subscription(Channel.CANDLES, "AAA-10", "1h")
    assert first.added == [book, candles] and first.initial == [book, candles]
    assert first.replies == [subscriptions_message([book, candles], 3)]
    again = conn.receive(msg(type="subscribe", channels=["book"], skus=["AAA-10"]), 0.0)
    assert again.added == [] and again.initial == [book]  # a fresh snapshot is due
    gone = conn.receive(msg(type="unsubscribe", channels=["book"], skus=["AAA-10", "BBB-9"]),
                        0.0)
    assert gone.removed == [book]
    assert conn.subscriptions == {candles}


def test_a_refused_message_changes_nothing() -> None:
    conn = state(max_subscriptions=2)
    conn.receive(msg(type="subscribe", channels=["trades"], skus=["AAA-10"]), 0.0)
    before = set(conn.subscriptions)
    for bad in (
        msg(type="subscribe", channels=["trades", "book"], skus=["BBB-9", "NOPE"]),
        msg(type="subscribe", channels=["trades", "book"], skus=["BBB-9"]),
        msg(type="unsubscribe", channels=["trades"], skus=["AAA-10"], extra=1),
        msg(type="subscribe", channels=["trades"], skus=["BBB-9"], req_id=[1]),
        b'{"type": "subscribe"}',
    ):
        outcome = conn.receive(bad, 0.0)
        assert [r["type"] for r in outcome.replies] == ["error"]
        assert not outcome.added and not outcome.removed and not outcome.initial
        assert conn.subscriptions == before


def test_token_bucket() -> None:
    conn = state(rate=1.0, burst=2.0)
    ok = msg(type="subscribe", channels=["trades"], skus=["*"])
    codes = [conn.receive(ok, t).replies[0].get("code") for t in (0.0, 0.0, 0.0, 0.5, 1.0)]
    assert codes == [None, None, "rate_limited", "rate_limited", None]


@pytest.mark.parametrize(("size", "header"), [
    (0, b"\x81\x00"),
    (125, b"\x81\x7d"),
    (126, b"\x81\x7e\x00\x7e"),
    (65535, b"\x81\x7e\xff\xff"),
    (65536, b"\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
])
def test_text_frame_headers(size: int, header: bytes) -> None:
    frame = text_frame(b"x" * size)
    assert frame[: len(header)] == header
    assert len(frame) == len(header) + size
