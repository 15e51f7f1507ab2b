"""The venue's clock: monotonic after the anchor, steps logged, start jumps refused."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from exchange.clock import DAY_NS, HOUR_NS, SECOND_NS
from exchange.venue import Venue, VenueConfig
from exchange.venueclock import (
    CLOCK_STEPS,
    ClockJumpRefused,
    ManualClock,
    VenueClock,
    check_start_jump,
    format_duration,
)

T0 = 1_800_000_000 * SECOND_NS


def make(floor: int = 0, wall: int = T0) -> tuple[ManualClock, VenueClock]:
    manual = ManualClock(wall)
    return manual, VenueClock(floor, wall=manual.wall, mono=manual.mono)


def steps(direction: str) -> float:
    return CLOCK_STEPS.labels(direction)._value.get()  # type: ignore[attr-defined, no-any-return]


def test_time_starts_at_the_wall_clock_and_advances_with_the_monotonic_one() -> None:
    manual, clock = make()
    assert clock.now_ns() == T0
    manual.advance(5 * SECOND_NS)
    assert clock.now_ns() == T0 + 5 * SECOND_NS
    assert clock.check() is None


def test_a_step_back_is_logged_and_does_not_move_the_venue_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    manual, clock = make()
    manual.advance(SECOND_NS)
    before = steps("backward")
    manual.step_wall(-HOUR_NS)
    with caplog.at_level(logging.WARNING, "exchange.clock"):
        assert clock.check() == -HOUR_NS
    assert clock.now_ns() == T0 + SECOND_NS
    manual.advance(SECOND_NS)
    assert clock.now_ns() == T0 + 2 * SECOND_NS  # still advancing, never frozen
    assert steps("backward") == before + 1
    assert "stepped backward by 1h00m00.000s" in caplog.text
    # The same offset is one step, not one per check.
    assert clock.check() is None
    assert clock.steps == 1


def test_a_step_forward_does_not_jump_the_venue_time(caplog: pytest.LogCaptureFixture) -> None:
    manual, clock = make()
    before = steps("forward")
    manual.step_wall(49 * HOUR_NS)
    with caplog.at_level(logging.WARNING, "exchange.clock"):
        assert clock.check() == 49 * HOUR_NS
    assert clock.now_ns() == T0
    assert steps("forward") == before + 1
    assert "stepped forward by 49h00m00.000s" in caplog.text
    # Stepping back to the right time is a second step, back to offset 0.
    manual.step_wall(-49 * HOUR_NS)
    assert clock.check() == -49 * HOUR_NS
    assert clock.wall_offset_ns() == 0


def test_small_drift_is_not_a_step() -> None:
    manual, clock = make()
    manual.step_wall(SECOND_NS // 2)
    assert clock.check() is None
    manual.step_wall(SECOND_NS // 2)
    assert clock.check() is None  # 1 s in total: at the threshold, not past it
    manual.step_wall(1)
    assert clock.check() == SECOND_NS + 1


def test_a_wall_clock_behind_the_journal_anchors_at_the_journal_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, "exchange.clock"):
        manual, clock = make(floor=T0 + HOUR_NS)
    assert clock.now_ns() == T0 + HOUR_NS
    manual.advance(SECOND_NS)
    assert clock.now_ns() == T0 + HOUR_NS + SECOND_NS
    assert "1h00m00.000s behind the journal" in caplog.text
    assert clock.check() is None  # the offset at the anchor is no step


def test_start_jump_refused_beyond_a_day_unless_accepted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    check_start_jump(T0, T0 + DAY_NS)  # exactly a day: fine
    check_start_jump(0, T0 + 100 * DAY_NS)  # empty journal: nothing to compare
    with pytest.raises(ClockJumpRefused) as info:
        check_start_jump(T0, T0 + 49 * HOUR_NS)
    message = str(info.value)
    assert "\n" not in message
    assert "49h00m00.000s ahead" in message and "--accept-clock-jump" in message
    check_start_jump(T0, T0 + 2 * HOUR_NS, max_ahead_ns=HOUR_NS, accept=True)
    assert "accepted by the operator" in caplog.text
    with pytest.raises(ClockJumpRefused):
        check_start_jump(T0, T0 + 2 * HOUR_NS, max_ahead_ns=HOUR_NS)


def test_format_duration() -> None:
    assert format_duration(0) == "0h00m00.000s"
    assert format_duration(-(HOUR_NS + 61 * SECOND_NS)) == "-1h01m01.000s"


# ------------------------------------------------------------- in the venue


def _venue_config(data_dir: Path, manual: ManualClock, **kw: Any) -> VenueConfig:
    return VenueConfig(
        data_dir=data_dir, fsync=False, store=False, tick_interval=0.01,
        wall_clock=manual.wall, monotonic_clock=manual.mono, **kw,
    )


async def test_the_venue_ignores_a_wall_clock_step_and_refuses_a_far_jump_at_start(
    tmp_path: Path,
) -> None:
    manual = ManualClock(T0)
    venue = await Venue.open(_venue_config(tmp_path, manual))
    try:
        a = venue.authenticate((await venue.create_account("alice"))["api_key"])
        b = venue.authenticate((await venue.create_account("bob"))["api_key"])
        assert a is not None and b is not None
        order = {"sku": "DZ5485-612-10", "type": "limit", "price_cents": 20_000, "quantity": 1}
        await venue.place_order(a, {**order, "side": "ask"})
        _, matched = await venue.place_order(b, {**order, "side": "bid"})
        trade_id = matched["fills"][0]["id"]
        assert venue.get_trade(a, trade_id)["settlement_status"] == "awaiting_shipment"

        before = steps("forward")
        manual.step_wall(49 * HOUR_NS)  # past the 48 h ship deadline, on the wall only
        while steps("forward") == before:  # the venue's timer notices the step
            await asyncio.sleep(0.01)
        assert not await venue.tick_if_due()
        assert venue.get_trade(a, trade_id)["settlement_status"] == "awaiting_shipment"
        manual.advance(SECOND_NS)
        _, placed = await venue.place_order(a, {**order, "side": "ask", "price_cents": 30_000})
        assert placed["order"]["created_at"].startswith("2027-01-15T08:00:01")  # T0 + 1 s
    finally:
        await venue.close()

    # Restarted with the wall clock still 49 h ahead: refused, unless confirmed.
    with pytest.raises(ClockJumpRefused):
        await Venue.open(_venue_config(tmp_path, manual))
    venue = await Venue.open(_venue_config(tmp_path, manual, accept_clock_jump=True))
    try:
        assert await venue.tick_if_due()  # now the deadline passes, as confirmed
        a = venue.account(a.id)
        assert a is not None
        assert venue.get_trade(a, trade_id)["settlement_status"] == "canceled"
    finally:
        await venue.close()
