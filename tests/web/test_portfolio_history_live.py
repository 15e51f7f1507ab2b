"""The portfolio's value history follows live sales, like its totals.

Regression: a sale of a held SKU updated the totals at once (from the feed's
ticker) but left the value-history chart on the old price until a reload, so
the page showed two different values for today.
"""

from __future__ import annotations

from playwright.sync_api import Page, expect

from .conftest import PageWatch
from .support import Rest, Server, format_cents
from .test_pages import open_page, trade

SKU = "CT8012-005-9"  # no other browser test trades it


def _latest_value(owner: Rest) -> int:
    points = owner.get("/v1/portfolio/history?interval=1d")["points"]
    return int(points[-1]["value_cents"])


def test_history_latest_point_follows_a_live_sale(
    page: Page, watch: PageWatch, server: Server, rest: Rest
) -> None:
    owner = rest.account("history-collector")
    seller, buyer = rest.account("history-seller"), rest.account("history-buyer")
    owner.post("/v1/portfolio/items", {"sku": SKU, "purchase_price_cents": 15000,
                                       "acquired_at": "2026-01-05T00:00:00Z"})
    trade(seller, buyer, SKU, 19000)

    open_page(page, server, "#/portfolio", key=owner.key)
    latest = page.locator("#history-latest")
    expect(latest).to_contain_text(f"value {format_cents(19000)}")
    assert _latest_value(owner) == 19000

    trade(seller, buyer, SKU, 21000)  # no reload from here on

    expect(page.locator("#portfolio-totals [data-total=market_value_cents]")).to_have_text(
        format_cents(21000)
    )
    expect(latest).to_contain_text(f"value {format_cents(21000)}")
    assert _latest_value(owner) == 21000
