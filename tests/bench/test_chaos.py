"""The chaos soak, short: a real server under load through a few faults loses nothing.

``make chaos`` runs the long one (minutes, every kind of fault, PostgreSQL);
this one injects a few kinds once each on SQLite (about 30 seconds), so that the
soak itself keeps working (``bench/chaos.py``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench.chaos import soak
from bench.chaosfaults import tmp_root

KINDS = ["writer_kill9", "store_down", "disk_full", "clock_forward", "server_kill9"]


@pytest.mark.timeout(240)
async def test_a_short_soak_loses_no_acknowledged_order_or_trade() -> None:
    root = tmp_root()
    with open(root / "soak.log", "a", buffering=1) as log:
        result = await soak(0.1, 7, "sqlite", root, log, clients=3, rate=60, calm=0.5,
                            kinds=KINDS, once=True, hold=0.5)
    shown = json.dumps(result, indent=1) + "\n" + (root / "soak.log").read_text()[-4000:]
    assert result["ok"], shown
    assert result["missing"] == result["duplicates"] == result["different"] == 0, shown
    assert result["orders_acked"] > 50 and result["trades"] > 10, shown
    assert result["faults"] == dict.fromkeys(sorted(KINDS), 1), shown
    shutil.rmtree(root, ignore_errors=True)
    assert not Path(root).exists()
