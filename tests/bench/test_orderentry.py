"""``python -m bench orderentry`` runs end to end on a tiny load and reports its figures."""

from __future__ import annotations

import json

import pytest

from bench.orderentry import main


def test_orderentry_bench_reports_orders_per_second(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--sessions", "2", "--orders", "200", "--window", "5", "--rate", "200",
            "--seconds", "0.5", "--fsync", "off"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out.splitlines()[0])["orderentry"]
    assert result["errors"] == 0 and result["orders"] == 300
    assert result["orders_per_s"] > 0 and result["p99_ms"] >= result["p50_ms"] > 0
    assert result["fixed_p99_ms"] > 0
