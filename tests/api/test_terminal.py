"""The portfolio table of ``exchange portfolio``: all of the answer, in 80 columns."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from api.terminal import money, plural, print_portfolio


def test_money_and_plural() -> None:
    assert money(123_456) == "$1,234.56" and money(None) == "-"
    assert [plural(n, "item") for n in (0, 1, 2)] == ["0 items", "1 item", "2 items"]


def _portfolio(mark: str, skus: tuple[str, ...] = ("DZ5485-612-10",)) -> dict[str, Any]:
    items = [{"id": 7 + i, "sku": sku, "condition": "new",
              "purchase_price_cents": 18_000, "mark_cents": 45_000,
              "market_value_cents": 45_000, "unrealized_gain_cents": 27_000}
             for i, sku in enumerate(skus)]
    n = len(skus)
    totals = {"cost_cents": 18_000 * n, "market_value_cents": 45_000 * n,
              "unrealized_gain_cents": 27_000 * n, "realized_gain_cents": 1_234,
              "unpriced_count": 0, "count": n}
    if mark == "highest_bid":
        for item in items:
            item["net_proceeds_cents"] = 39_600
        totals["net_proceeds_cents"] = 39_600 * n
    return {"mark": mark, "items": items, "totals": totals}


def _printed(data: dict[str, Any], width: int) -> list[str]:
    console = Console(file=io.StringIO(), width=width)
    print_portfolio(data, console)
    return console.file.getvalue().splitlines()  # type: ignore[attr-defined]


def test_portfolio_shows_net_proceeds_with_highest_bid() -> None:
    out = "\n".join(_printed(_portfolio("highest_bid"), 200))
    assert " net" in out and "after seller fees" in out
    assert out.count("$396.00") == 2  # the item and the total
    assert "$450.00" in out and "$270.00" in out and "$12.34" in out


def test_portfolio_other_marks_have_no_net_column() -> None:
    out = "\n".join(_printed(_portfolio("last_sale"), 200))
    assert " net" not in out
    assert "$450.00" in out and "$180.00" in out


def test_portfolio_counts_items_in_the_singular_and_plural() -> None:
    assert "1 item " in "\n".join(_printed(_portfolio("last_sale"), 80))
    two = _portfolio("last_sale", ("DZ5485-612-10", "DZ5485-612-11"))
    assert "2 items" in "\n".join(_printed(two, 80))


def test_portfolio_fits_80_columns_with_money_whole() -> None:
    skus = ("DZ5485-612-10.5-LIMITED-EDITION", "126610LN-OS")
    data = _portfolio("highest_bid", skus)
    for item in data["items"]:
        item["purchase_price_cents"] = 12_345_678
        item["unrealized_gain_cents"] = -12_345_678
    data["totals"]["cost_cents"] = 24_691_356
    lines = _printed(data, 80)
    assert max(len(line) for line in lines) <= 80
    out = "\n".join(lines)
    # Headers whole on one line, each row one line, money never cut.
    header = next(line for line in lines if " SKU " in line)
    assert header.split() == ["id", "SKU", "cond", "cost", "value", "gain", "net"]
    assert out.count(" $123,456.78") == 2 and out.count("-$123,456.78") == 2
    assert "$246,913.56" in out
    # The long SKU ends in an ellipsis; the short one stays whole.
    assert "DZ5485-612-10.5" in out and "…" in out and "126610LN-OS" in out
    assert "LIMITED-EDITION" not in out
