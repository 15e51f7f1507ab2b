"""``exchange portfolio`` prints what the API answers, net proceeds included.

Regression: with ``--mark highest_bid`` the API gives each item's
``net_proceeds_cents`` (what selling now pays after seller fees) but the
table left it out.
"""

from __future__ import annotations

from typing import Any

import pytest

from api.cli import print_portfolio


def _answer(mark: str) -> dict[str, Any]:
    item = {"id": 7, "sku": "DZ5485-612-10", "condition": "new",
            "purchase_price_cents": 18_000, "mark_cents": 45_000,
            "market_value_cents": 45_000, "unrealized_gain_cents": 27_000}
    totals = {"cost_cents": 18_000, "market_value_cents": 45_000,
              "unrealized_gain_cents": 27_000, "realized_gain_cents": 1_234,
              "unpriced_count": 0, "count": 1}
    if mark == "highest_bid":
        item["net_proceeds_cents"] = 39_600
        totals["net_proceeds_cents"] = 39_600
    return {"mark": mark, "items": [item], "totals": totals}


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    # rich wraps cells to the terminal's width; the test reads whole figures.
    monkeypatch.setenv("COLUMNS", "200")


def test_highest_bid_shows_net_proceeds(capsys: pytest.CaptureFixture[str]) -> None:
    print_portfolio(_answer("highest_bid"))
    out = capsys.readouterr().out
    assert "net proceeds" in out
    assert out.count("$396.00") == 2  # the item and the total
    assert "$450.00" in out and "$270.00" in out and "$12.34" in out


def test_other_marks_have_no_net_column(capsys: pytest.CaptureFixture[str]) -> None:
    print_portfolio(_answer("last_sale"))
    out = capsys.readouterr().out
    assert "net proceeds" not in out
    assert "$450.00" in out and "$180.00" in out


def test_a_narrow_terminal_keeps_skus_whole(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    print_portfolio(_answer("highest_bid"))
    out = capsys.readouterr().out
    assert "…" not in out  # folded onto more lines, never cut with an ellipsis
    sku_cells = "".join(line.split("│")[2].strip() for line in out.splitlines()
                        if line.startswith("│") and "total" not in line)
    assert "DZ5485-612-10" in sku_cells
