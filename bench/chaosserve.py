"""``python -m bench.chaosserve ARGS``: ``exchange ARGS`` with a wall clock the chaos soak steps.

The soak cannot step the machine's clock (other processes share it), so
the server it runs gets its own: before anything of the exchange is
imported, ``time.time``/``time.time_ns`` are replaced by the real clock plus
an offset in nanoseconds read from the file named by ``CHAOS_CLOCK_FILE``
(watched by a thread every 20 ms; a missing or empty file is 0). Writing
``3600000000000`` there steps this process's wall clock forward by an hour,
as an operator's ``date -s`` would; the monotonic clock is untouched, as a
real step leaves it. Without ``CHAOS_CLOCK_FILE`` this is just ``exchange``.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

__all__ = ["install_clock"]

_offset_ns = 0


def _read(path: Path) -> int:
    try:
        text = path.read_text().strip()
    except OSError:
        return 0
    try:
        return int(text) if text else 0
    except ValueError:
        return 0


def install_clock(path: Path) -> None:
    """Shift this process's wall clock by the offset kept in ``path``, from now on."""
    global _offset_ns
    real_ns, real = time.time_ns, time.time
    _offset_ns = _read(path)

    def time_ns() -> int:
        return real_ns() + _offset_ns

    def wall() -> float:
        return real() + _offset_ns / 1e9

    def follow() -> None:
        global _offset_ns
        while True:
            _offset_ns = _read(path)
            time.sleep(0.02)

    time.time_ns = time_ns
    time.time = wall
    threading.Thread(target=follow, name="chaos-clock", daemon=True).start()


def main() -> int:
    clock_file = os.environ.get("CHAOS_CLOCK_FILE")
    if clock_file:
        install_clock(Path(clock_file))
    from api.cli import main as exchange_main  # after the clock: defaults bind time.time_ns

    return exchange_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
