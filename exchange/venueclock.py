"""The venue's clock: wall-clock time at start, advanced by the monotonic clock.

CONTRACT

- :class:`VenueClock` anchors to the wall clock once, when it is made (or
  at :meth:`VenueClock.anchor`), and from then on advances with the
  monotonic clock: ``now_ns() = anchor_wall + (monotonic() - anchor_mono)``.
  A step of the wall clock while the venue runs (an operator, a bad NTP
  server, a VM resumed from suspend) never moves the venue's time: a step
  back does not freeze every timestamp at the last one, a step forward does
  not fire every ship deadline and expiry at once.
- :meth:`VenueClock.check` compares the wall clock with the venue's time.
  An offset that moved by more than ``step_threshold_ns`` since the last
  one seen is a *step*: it is logged once (``venue clock: the wall clock
  stepped forward by 49h00m00.000s ...``), counted in
  ``exchange_clock_steps_total{direction}``, and returned. The venue calls
  it from its timer; it never re-anchors (a restart does).
- ``now_ns()`` never goes below ``floor_ns`` (the journal's last record
  time, given at start): a wall clock behind the journal at start anchors
  at the journal's time instead, so times never run backwards across a
  restart and still advance.
- :func:`check_start_jump` is the start's guard: a wall clock more than
  ``max_ahead_ns`` (a day by default) ahead of the journal's last record
  raises :class:`ClockJumpRefused` (one line), unless the operator accepted
  it. The deadlines such a jump would fire (ship deadlines, with seller
  penalties; order expiries) cannot be undone.
- Both clocks are injectable (``wall``, ``mono``: callables returning int
  ns), so tests move time without sleeping.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from prometheus_client import Counter

from .clock import DAY_NS, HOUR_NS, SECOND_NS, rfc3339

__all__ = [
    "CLOCK_STEPS",
    "DEFAULT_MAX_AHEAD_NS",
    "DEFAULT_STEP_THRESHOLD_NS",
    "ClockJumpRefused",
    "ManualClock",
    "VenueClock",
    "check_start_jump",
    "format_duration",
]

log = logging.getLogger("exchange.clock")

DEFAULT_STEP_THRESHOLD_NS = 1 * SECOND_NS
"""A wall-clock offset change larger than this is a step (NTP slews far less)."""
DEFAULT_MAX_AHEAD_NS = DAY_NS
"""How far ahead of the journal's last record a start accepts the wall clock."""

CLOCK_STEPS = Counter(
    "exchange_clock_steps_total",
    "Steps of the wall clock seen while running (the venue's time did not follow them).",
    ["direction"],
)


def format_duration(ns: int) -> str:
    """``ns`` as ``[-]XhYYmZZ.zzzs`` (hours unbounded), for log lines.

    >>> format_duration(49 * 3600 * 10**9 + 1_500_000_000)
    '49h00m01.500s'
    >>> format_duration(-2_000_000)
    '-0h00m00.002s'
    """
    sign = "-" if ns < 0 else ""
    ms = abs(ns) // 1_000_000
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{sign}{hours}h{minutes:02d}m{rest / 1000:06.3f}s"


class ClockJumpRefused(Exception):
    """The wall clock is too far ahead of the journal to start without confirmation.

    ``str()`` is one line saying by how much, what it would do and which
    flag confirms it.
    """

    def __init__(self, wall_ns: int, last_ns: int, max_ahead_ns: int) -> None:
        self.wall_ns = wall_ns
        self.last_ns = last_ns
        self.max_ahead_ns = max_ahead_ns
        super().__init__(
            f"the wall clock ({rfc3339(wall_ns)}) is {format_duration(wall_ns - last_ns)} "
            f"ahead of the journal's last record ({rfc3339(last_ns)}), more than the "
            f"{max_ahead_ns / HOUR_NS:g} h allowed: every ship deadline and order expiry in "
            "between would fire at once, irreversibly; fix the clock, or start with "
            "--accept-clock-jump if that time is right"
        )


def check_start_jump(
    last_ns: int, wall_ns: int, *, max_ahead_ns: int = DEFAULT_MAX_AHEAD_NS, accept: bool = False
) -> None:
    """Refuse a start whose wall clock is far ahead of the journal's last record.

    Args:
        last_ns: time of the journal's last record (0 for an empty journal:
            nothing to compare, always accepted).
        wall_ns: the wall clock now.
        max_ahead_ns: the largest accepted gap.
        accept: the operator confirmed the jump (logged as a warning).

    Raises:
        ClockJumpRefused: the gap is larger and not accepted.
    """
    if last_ns <= 0 or wall_ns - last_ns <= max_ahead_ns:
        return
    if accept:
        log.warning(
            "venue clock: starting %s after the journal's last record (accepted by the "
            "operator); deadlines due in between fire now",
            format_duration(wall_ns - last_ns),
        )
        return
    raise ClockJumpRefused(wall_ns, last_ns, max_ahead_ns)


class VenueClock:
    """Wall-clock time at the anchor, advanced by the monotonic clock.

    Args:
        floor_ns: the venue's time never goes below this (the journal's last
            record time); the anchor moves up to it if the wall is behind.
        step_threshold_ns: an offset change larger than this is a step.
        wall: the wall clock (int ns since the epoch).
        mono: a monotonic clock (int ns).
    """

    def __init__(
        self,
        floor_ns: int = 0,
        *,
        step_threshold_ns: int = DEFAULT_STEP_THRESHOLD_NS,
        wall: Callable[[], int] = time.time_ns,
        mono: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.step_threshold_ns = step_threshold_ns
        self.steps = 0
        """Steps seen by :meth:`check` since the anchor."""
        self._wall = wall
        self._mono = mono
        self._anchor_wall = 0
        self._anchor_mono = 0
        self._offset = 0
        self.anchor(floor_ns)

    def anchor(self, floor_ns: int = 0) -> None:
        """Anchor to the wall clock now (never below ``floor_ns``)."""
        wall, mono = self._wall(), self._mono()
        if wall < floor_ns:
            log.warning(
                "venue clock: the wall clock is %s behind the journal's last record; "
                "the venue's time continues from the journal's",
                format_duration(floor_ns - wall),
            )
        self._anchor_wall = max(wall, floor_ns)
        self._anchor_mono = mono
        self._offset = wall - self._anchor_wall

    def now_ns(self) -> int:
        """The venue's time in ns since the epoch; never decreases."""
        return self._anchor_wall + (self._mono() - self._anchor_mono)

    def wall_offset_ns(self) -> int:
        """How far the wall clock is ahead (positive) of the venue's time now."""
        return self._wall() - self.now_ns()

    def check(self) -> int | None:
        """Look for a wall-clock step since the last check; log and count it.

        Returns:
            The step's size in ns (positive: the wall clock jumped forward),
            or None when the offset moved less than the threshold.
        """
        offset = self.wall_offset_ns()
        step = offset - self._offset
        if abs(step) <= self.step_threshold_ns:
            return None
        self._offset = offset
        self.steps += 1
        direction = "forward" if step > 0 else "backward"
        CLOCK_STEPS.labels(direction).inc()
        log.warning(
            "venue clock: the wall clock stepped %s by %s (now %s, venue time %s); "
            "the venue keeps its own time until it restarts",
            direction,
            format_duration(abs(step)),
            rfc3339(self._wall()),
            rfc3339(self.now_ns()),
        )
        return step


class ManualClock:
    """A wall and a monotonic clock that move only when told (tests, tools).

    ``ManualClock.wall`` and ``ManualClock.mono`` are the callables to give
    :class:`VenueClock`; :meth:`advance` moves both, :meth:`step_wall` only
    the wall clock.
    """

    def __init__(self, wall_ns: int, mono_ns: int = 10**12) -> None:
        self.wall_ns = wall_ns
        self.mono_ns = mono_ns

    def wall(self) -> int:
        """The wall clock."""
        return self.wall_ns

    def mono(self) -> int:
        """The monotonic clock."""
        return self.mono_ns

    def advance(self, ns: int) -> None:
        """Real time passes: both clocks move by ``ns``."""
        self.wall_ns += ns
        self.mono_ns += ns

    def step_wall(self, ns: int) -> None:
        """Someone sets the wall clock by ``ns`` (negative: back)."""
        self.wall_ns += ns
