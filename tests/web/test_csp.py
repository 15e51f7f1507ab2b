"""The page under its Content-Security-Policy in Chromium: it works, nothing is refused."""

from __future__ import annotations

import json

from playwright.sync_api import Page, expect

from .conftest import PageWatch
from .support import Rest, Server

# Every CSP violation the document sees, recorded from the first script on.
_RECORD = (
    "window.__csp = [];"
    "document.addEventListener('securitypolicyviolation',"
    " (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));"
)


def test_every_page_runs_under_the_csp_without_a_violation(
    page: Page, watch: PageWatch, server: Server, rest: Rest
) -> None:
    product = rest.get("/v1/products")["products"][-1]
    sku = product["skus"][0]["sku"]
    seller, buyer = rest.account("csp-seller"), rest.account("csp-buyer")
    for price in (30_000, 30_500):
        seller.order(sku, "ask", price)
        buyer.order(sku, "bid", price)
    page.add_init_script(_RECORD)
    page.add_init_script(
        f"sessionStorage.setItem('resale-exchange.api-key', {json.dumps(buyer.key)})"
    )

    response = page.goto(f"{server.http_url}/")
    assert response is not None
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["x-frame-options"] == "DENY"
    page.wait_for_selector("main[data-ready='market']")
    expect(page.locator("#feed-status")).to_have_attribute("data-state", "live")

    page.goto(f"{server.http_url}/#/product/{product['style']}")
    page.wait_for_selector("main[data-ready='product']")
    expect(page.locator("#candle-chart canvas").first).to_be_visible()
    # The chart library's attribution logo, styled by its own allowed stylesheet.
    expect(page.locator("#candle-chart a#tv-attr-logo")).to_have_css("position", "absolute")

    page.goto(f"{server.http_url}/#/portfolio")
    page.wait_for_selector("main[data-ready='portfolio']")

    assert page.evaluate("window.__csp") == []


def test_the_csp_refuses_an_injected_inline_script(page: Page, server: Server) -> None:
    page.add_init_script(_RECORD)
    page.goto(f"{server.http_url}/")
    page.wait_for_selector("main[data-ready='market']")
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.__ran = true'; document.head.append(s); }"
    )
    page.wait_for_function("window.__csp.length > 0")
    assert page.evaluate("window.__csp")[0].startswith("script-src")
    assert page.evaluate("window.__ran === undefined")
