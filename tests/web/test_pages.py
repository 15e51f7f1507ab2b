"""The web page in Debian's chromium against the real server.

Each test trades on its own SKUs, so the one server of the run can be shared.
Numbers on the page are compared with the REST API's, formatted by
:func:`format_cents` (an independent Python copy of the page's format).
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, WebSocketRoute, expect

from .conftest import SCREENSHOTS, PageWatch, screenshot
from .support import REPO, ApiError, Rest, Server, format_cents

KEY_STORAGE = "resale-exchange.api-key"


def format_pct(pct: float | None) -> str:
    """The page's percent format: +12.34% / -1.50% / 0.00% / —."""
    if pct is None:
        return "—"
    text = f"{abs(pct):.2f}%"
    return f"+{text}" if pct > 0 else f"-{text}" if pct < 0 else text


def open_page(page: Page, server: Server, route: str, key: str | None = None) -> None:
    """Load ``/#route`` (with an API key in sessionStorage) and wait for its data."""
    if key is not None:
        page.add_init_script(
            f"sessionStorage.setItem({json.dumps(KEY_STORAGE)}, {json.dumps(key)})"
        )
    page.goto(f"{server.http_url}/{route}")
    view = (
        route.split("/")[1].split("?")[0] if route.startswith("#/") and len(route) > 2 else "market"
    )
    page.wait_for_selector(f"main[data-ready='{view}']")
    expect(page.locator("#feed-status")).to_have_attribute("data-state", "live")


def wait_book(page: Page) -> None:
    """Wait until the ladder shows a verified book from the feed."""
    expect(page.locator("#ladder")).not_to_have_attribute("data-sequence", "")


def ladder(page: Page) -> tuple[list[list[int]], list[list[int]]]:
    """(asks lowest first, bids highest first) as [[price, qty]] read from the ladder."""
    rows = page.locator("#ladder-body tr[data-side]").evaluate_all(
        "rows => rows.map(r => [r.dataset.side, +r.dataset.price, +r.dataset.quantity])"
    )
    asks = sorted([p, q] for s, p, q in rows if s == "ask")
    bids = sorted(([p, q] for s, p, q in rows if s == "bid"), reverse=True)
    return asks, bids


def rest_ladder(rest: Rest, sku: str) -> tuple[list[list[int]], list[list[int]]]:
    book = rest.get(f"/v1/skus/{sku}/book?depth=10")
    return [lvl[:2] for lvl in book["asks"]], [lvl[:2] for lvl in book["bids"]]


def assert_accessible(page: Page) -> None:
    """axe-core finds no serious or critical violation on the page as it is."""
    results = Axe().run(page)
    bad = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:5]}"
        for v in bad
    )


def trade(seller: Rest, buyer: Rest, sku: str, price: int, qty: int = 1) -> dict[str, Any]:
    """A resting ask taken by a bid: one trade at ``price``; returns the fill."""
    seller.order(sku, "ask", price, qty)
    fills = buyer.order(sku, "bid", price, qty)["fills"]
    assert fills, "the bid did not trade"
    return fills[0]


# ---------------------------------------------------------------------------


def test_market_page_equals_api_and_searches(
    page: Page, watch: PageWatch, server: Server, rest: Rest
) -> None:
    sku = "DZ5485-612-9"
    seller, buyer = rest.account("market-seller"), rest.account("market-buyer")
    trade(seller, buyer, sku, 21000)
    seller.order(sku, "ask", 22000)
    buyer.order(sku, "bid", 19000)

    open_page(page, server, "")
    row = page.locator(f"tr[data-sku='{sku}']")
    summary = rest.get(f"/v1/skus/{sku}")
    expect(row.locator("[data-field=lowest_ask]")).to_have_text(
        format_cents(summary["lowest_ask_cents"])
    )
    expect(row.locator("[data-field=highest_bid]")).to_have_text(
        format_cents(summary["highest_bid_cents"])
    )
    expect(row.locator("[data-field=last_sale]")).to_have_text(
        format_cents(summary["last_sale_cents"])
    )
    expect(row.locator("[data-field=change_24h]")).to_have_text(
        format_pct(summary["change_24h_pct"])
    )
    # Every SKU of the catalog has a row.
    products = rest.get("/v1/products")["products"]
    assert page.locator("tr[data-sku]").count() == sum(len(p["skus"]) for p in products)
    assert_accessible(page)

    # Live: a trade through REST reaches the row through the ticker "*" feed.
    buyer.order(sku, "bid", 22000)  # takes the only ask left
    expect(row.locator("[data-field=last_sale]")).to_have_text(format_cents(22000))
    expect(row.locator("[data-field=lowest_ask]")).to_have_text("—")

    # Search by name words, by brand, by style code.
    search = page.get_by_label("Search by name, brand or style")
    for query in ("university blue", "DM7866", products[0]["brand"]):
        search.fill(query)
        words = query.lower().split()
        expected = [
            p["style"]
            for p in products
            if all(w in f"{p['name']} {p['brand']} {p['style']}".lower() for w in words)
        ]
        shown = page.locator("tbody.product:visible").evaluate_all(
            "els => els.map(e => e.dataset.style)"
        )
        assert shown == expected and expected, query


def test_product_page_equals_api(page: Page, watch: PageWatch, server: Server, rest: Rest) -> None:
    sku, style = "DZ5485-612-10", "DZ5485-612"
    seller, buyer = rest.account("p-seller"), rest.account("p-buyer")
    trade(seller, buyer, sku, 19500)
    trade(seller, buyer, sku, 19800)
    trade(seller, buyer, sku, 19600)
    for price, qty in ((20000, 2), (20500, 1), (21000, 3)):
        seller.order(sku, "ask", price, qty)
    for price, qty in ((19000, 3), (18500, 1)):
        buyer.order(sku, "bid", price, qty)

    open_page(page, server, f"#/product/{style}?size=10")
    wait_book(page)
    s = rest.get(f"/v1/skus/{sku}")
    field = lambda name: page.locator(f"#stats [data-field={name}]")  # noqa: E731
    expect(field("last_sale")).to_have_text(format_cents(s["last_sale_cents"]))
    expect(field("lowest_ask")).to_have_text(format_cents(s["lowest_ask_cents"]))
    expect(field("highest_bid")).to_have_text(format_cents(s["highest_bid_cents"]))
    expect(field("sales_count")).to_have_text(str(s["sales_count"]))
    expect(field("premium")).to_have_text(format_pct(s["price_premium_pct"]))
    vol = s["volatility"]
    expect(field("volatility")).to_have_text("—" if vol is None else f"{vol * 100:.2f}%")
    r = s["range_12m"]
    expect(field("range_12m")).to_have_text(
        f"{format_cents(r['low_cents'])} \u2013 {format_cents(r['high_cents'])}"
    )
    assert ladder(page) == rest_ladder(rest, sku)
    # The recent trades equal the API's, newest first.
    api_trades = rest.get(f"/v1/skus/{sku}/trades?limit=20")["trades"]
    ids = page.locator("#trades-body tr[data-trade-id]").evaluate_all(
        "rs => rs.map(r => +r.dataset.tradeId)"
    )
    assert ids == [t["id"] for t in api_trades]
    # The size selector moves to another SKU of the product.
    page.get_by_label("Size").select_option("10.5")
    page.wait_for_selector("main[data-ready='product']")
    expect(page.locator("#summary-h")).to_contain_text("DZ5485-612-10.5")
    page.go_back()
    page.wait_for_selector("main[data-ready='product']")
    wait_book(page)
    # Keyboard: the interval buttons are reachable and work without a mouse.
    page.locator("button[data-interval='1h']").focus()
    page.keyboard.press("Enter")
    expect(page.locator("button[data-interval='1h']")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#current-candle")).to_contain_text("1h candle")
    page.locator("button[data-interval='1m']").click()
    expect(page.locator("#current-candle")).to_contain_text("1m candle")
    screenshot(page, "product")
    assert_accessible(page)


def test_rest_trade_updates_page_without_reload(
    page: Page, watch: PageWatch, server: Server, rest: Rest
) -> None:
    sku = "DZ5485-612-11"
    seller, buyer = rest.account("live-seller"), rest.account("live-buyer")
    open_page(page, server, "#/product/DZ5485-612?size=11")
    wait_book(page)
    page.evaluate("window.__sameDocument = true")

    seller.order(sku, "ask", 20000, 3)
    expect(page.locator("#ladder-body tr[data-side=ask][data-price='20000']")).to_have_attribute(
        "data-quantity", "3"
    )
    fill = buyer.order(sku, "bid", 20000, 1)["fills"][0]
    expect(page.locator("#stats [data-field=last_sale]")).to_have_text("$200.00")
    expect(page.locator("#trades-body tr").first).to_have_attribute(
        "data-trade-id", str(fill["id"])
    )
    expect(page.locator("#ladder-body tr[data-side=ask][data-price='20000']")).to_have_attribute(
        "data-quantity", "2"
    )
    candle = page.locator("#current-candle")
    expect(candle).to_have_attribute("data-close", "20000")
    start, volume = (
        candle.get_attribute("data-start"),
        int(candle.get_attribute("data-volume") or 0),
    )

    fill = buyer.order(sku, "bid", 20000, 2)["fills"][0]
    expect(page.locator("#trades-body tr").first).to_have_attribute(
        "data-trade-id", str(fill["id"])
    )
    expect(page.locator("#ladder-body tr[data-side=ask]")).to_have_count(0)
    if candle.get_attribute("data-start") == start:  # still the same minute
        expect(candle).to_have_attribute("data-volume", str(volume + 2))
    trade(seller, buyer, sku, 20700)
    expect(page.locator("#stats [data-field=last_sale]")).to_have_text("$207.00")
    expect(candle).to_have_attribute("data-close", "20700")
    # The command's book batch follows its trade message: wait for it (the
    # filled ask leaves the ladder) before comparing with REST.
    expect(page.locator("#ladder-body tr[data-side=ask]")).to_have_count(0)
    assert page.evaluate("window.__sameDocument") is True
    assert ladder(page) == rest_ladder(rest, sku)


@pytest.mark.parametrize("fault", ["drop", "corrupt"])
def test_feed_fault_makes_page_resync(
    page: Page, watch: PageWatch, server: Server, rest: Rest, fault: str
) -> None:
    """A lost book message (a gap) or a wrong one (a checksum mismatch) heals.

    In "drop" mode the relay also loses the second trade message: the page sees
    the trade gap and reloads the trade list from REST.
    """
    size = {"drop": "12", "corrupt": "8.5"}[fault]
    sku = f"DZ5485-612-{size}"
    seller, buyer = rest.account(f"{fault}-seller"), rest.account(f"{fault}-buyer")
    faults: list[dict[str, Any]] = []
    trades_seen = 0

    def relay(ws: WebSocketRoute) -> None:
        upstream = ws.connect_to_server()
        ws.on_message(lambda m: upstream.send(m))

        def down(message: str | bytes) -> None:
            nonlocal trades_seen
            msg = json.loads(message)
            kind = msg.get("type")
            if (
                msg.get("sku") == sku
                and kind == "book"
                and not any(f["type"] == "book" for f in faults)
            ):
                faults.append(msg)
                if fault == "drop":
                    return  # lost on the way: the next message shows the gap
                msg["changes"][0][2] += 1  # a wrong quantity: the checksum shows it
                ws.send(json.dumps(msg))
                return
            if msg.get("sku") == sku and kind == "trade" and fault == "drop":
                trades_seen += 1
                if trades_seen == 2:
                    faults.append(msg)
                    return
            ws.send(message)

        upstream.on_message(down)

    page.route_web_socket(re.compile(r"^ws://"), relay)
    open_page(page, server, f"#/product/DZ5485-612?size={size}")
    wait_book(page)
    seller.order(sku, "ask", 21000, 3)
    seller.order(sku, "ask", 21500, 1)
    expect(page.locator("#feed-status")).to_have_attribute("data-resyncs", "1")
    assert [f["type"] for f in faults] == ["book"]
    expect(page.locator("#ladder-body tr[data-side=ask]")).to_have_count(2)
    assert ladder(page) == rest_ladder(rest, sku)

    fills = [buyer.order(sku, "bid", 21000)["fills"][0] for _ in range(3)]
    expect(page.locator("#trades-body tr").first).to_have_attribute(
        "data-trade-id", str(fills[-1]["id"])
    )
    expect(page.locator("#trades-body tr[data-trade-id]")).to_have_count(3)
    ids = page.locator("#trades-body tr[data-trade-id]").evaluate_all(
        "rs => rs.map(r => +r.dataset.tradeId)"
    )
    assert ids == [f["id"] for f in reversed(fills)]
    if fault == "drop":
        assert [f["type"] for f in faults] == ["book", "trade"]
    expect(page.locator("#ladder-body tr[data-side=ask]")).to_have_count(1)
    assert ladder(page) == rest_ladder(rest, sku)
    assert page.locator("#feed-status").get_attribute("data-resyncs") == "1"


def test_page_reconnects_after_the_feed_drops(
    page: Page, watch: PageWatch, server: Server, rest: Rest
) -> None:
    sku = "DZ5485-612-8"
    seller = rest.account("reconnect-seller")
    connections: list[WebSocketRoute] = []

    def relay(ws: WebSocketRoute) -> None:
        connections.append(ws)
        upstream = ws.connect_to_server()
        ws.on_message(lambda m: upstream.send(m))
        upstream.on_message(lambda m: ws.send(m))

    page.route_web_socket(re.compile(r"^ws://"), relay)
    open_page(page, server, "#/product/DZ5485-612?size=8")
    wait_book(page)
    page.evaluate("window.__sameDocument = true")
    connections[0].close(code=1012, reason="test restart")
    # While the page is away, the book changes; the new snapshot brings it back.
    seller.order(sku, "ask", 23000, 2)
    expect(page.locator("#feed-status")).to_have_attribute("data-state", "live")
    expect(page.locator("#ladder-body tr[data-side=ask][data-price='23000']")).to_be_visible()
    assert len(connections) == 2
    seller.order(sku, "ask", 23500, 1)
    expect(page.locator("#ladder-body tr[data-side=ask]")).to_have_count(2)
    assert ladder(page) == rest_ladder(rest, sku)
    assert page.evaluate("window.__sameDocument") is True


def test_order_form_errors_orders_and_settlement(
    page: Page, watch: PageWatch, server: Server, rest: Rest
) -> None:
    sku = "555088-134-10"
    open_page(page, server, "#/product/555088-134?size=10")
    expect(page.locator("#trade-needs-key")).to_be_visible()
    # Create an account in the page; its key lands in sessionStorage, not the URL.
    page.get_by_label("or new account named").fill("web-trader")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#signed-in")).to_be_visible()
    page.wait_for_selector("main[data-ready='product']")
    key = page.evaluate(f"sessionStorage.getItem({json.dumps(KEY_STORAGE)})")
    assert key and key not in page.url
    me = Rest(server.http_url, key)
    wait_book(page)

    # A bad order: the server's sentence next to the form, nothing changes.
    watch.expected_statuses.add(422)
    with pytest.raises(ApiError) as refused:
        me.order(sku, "ask", 20050)
    page.get_by_label("Ask (sell)").check()
    page.get_by_label("Price ($)").fill("200.50")
    page.get_by_role("button", name="Place ask").click()
    expect(page.locator("#order-error")).to_have_text(refused.value.problem["detail"])
    assert me.get("/v1/orders?status=open")["orders"] == []
    assert rest_ladder(rest, sku) == ([], [])

    # A good order appears in the ladder and in my open orders.
    page.get_by_label("Price ($)").fill("205")
    page.get_by_role("button", name="Place ask").click()
    expect(page.locator("#order-error")).to_have_text("")
    expect(page.locator("#order-message")).to_contain_text("open")
    expect(page.locator("#ladder-body tr[data-side=ask][data-price='20500']")).to_have_attribute(
        "data-quantity", "1"
    )
    (order,) = me.get("/v1/orders?status=open")["orders"]
    expect(page.locator(f"#my-orders-body tr[data-order-id='{order['id']}']")).to_be_visible()
    # Cancel it from the page.
    page.get_by_role("button", name=f"Cancel order {order['id']}").click()
    expect(page.locator("#ladder-body tr[data-side=ask]")).to_have_count(0)
    expect(page.locator("#my-orders-body tr[data-order-id]")).to_have_count(0)

    # Sell: another account takes my ask; I mark the sale shipped.
    page.get_by_role("button", name="Place ask").click()
    expect(page.locator("#ladder-body tr[data-side=ask][data-price='20500']")).to_be_visible()
    other = rest.account("web-counterparty")
    fill = other.order(sku, "bid", 20500)["fills"][0]
    row = page.locator(f"#my-trades-body tr[data-trade-id='{fill['id']}']")
    expect(row).to_have_attribute("data-settlement", "awaiting_shipment")
    page.get_by_role("button", name=f"Mark trade {fill['id']} shipped").click()
    expect(row).to_have_attribute("data-settlement", "shipped")
    (mine,) = [t for t in me.get("/v1/trades")["trades"] if t["id"] == fill["id"]]
    assert mine["settlement_status"] == "shipped"

    # Buy Now: a market bid protected at the lowest ask, prefilled by the page.
    other.order(sku, "ask", 21000)
    expect(page.locator("#ladder-body tr[data-side=ask][data-price='21000']")).to_be_visible()
    page.get_by_label("Bid (buy)").check()
    page.get_by_label("Buy Now / Sell Now").check()
    expect(page.get_by_label("Highest price you accept ($)")).to_have_value("210.00")
    page.get_by_role("button", name="Buy Now").click()
    expect(page.locator("#order-message")).to_contain_text("filled")
    expect(page.locator("#ladder-body tr[data-side=ask]")).to_have_count(0)
    expect(page.locator("#stats [data-field=last_sale]")).to_have_text("$210.00")
    screenshot(page, "trading")
    assert_accessible(page)


def test_portfolio_totals_equal_api(
    page: Page, watch: PageWatch, server: Server, rest: Rest
) -> None:
    traded, untraded = "555088-134-9", "555088-134-12"
    owner = rest.account("collector")
    seller, buyer = rest.account("pf-seller"), rest.account("pf-buyer")
    owner.post(
        "/v1/portfolio/items",
        {
            "sku": traded,
            "purchase_price_cents": 15000,
            "acquired_at": "2026-01-05T00:00:00Z",
            "condition": "used",
        },
    )
    owner.post(
        "/v1/portfolio/items",
        {"sku": untraded, "purchase_price_cents": 16000, "acquired_at": "2026-02-01T00:00:00Z"},
    )
    trade(seller, buyer, traded, 19000)
    seller.order(traded, "ask", 20000)
    buyer.order(traded, "bid", 18000)

    open_page(page, server, "#/portfolio", key=owner.key)

    def assert_totals(mark: str) -> None:
        t = owner.get(f"/v1/portfolio?mark={mark}")["totals"]
        totals = page.locator("#portfolio-totals")
        expect(totals.locator("[data-total=market_value_cents]")).to_have_text(
            format_cents(t["market_value_cents"])
        )
        expect(totals.locator("[data-total=cost_cents]")).to_have_text(
            format_cents(t["cost_cents"])
        )
        gain = t["unrealized_gain_cents"]
        expect(totals.locator("[data-total=unrealized_gain_cents]")).to_have_text(
            ("+" if gain > 0 else "") + format_cents(gain)
        )
        expect(totals.locator("[data-total=unpriced_count]")).to_have_text(str(t["unpriced_count"]))
        expect(page.locator("#holdings tfoot [data-total=market_value_cents]")).to_have_text(
            format_cents(t["market_value_cents"])
        )

    assert_totals("last_sale")
    expect(page.locator("#holdings-body tr[data-holding-id]")).to_have_count(2)
    page.get_by_label("Value holdings at").select_option("highest_bid")
    assert_totals("highest_bid")
    page.get_by_label("Value holdings at").select_option("mid")
    assert_totals("mid")

    # Add a holding by hand through the form.
    page.get_by_label("Item and size").select_option(traded)
    page.get_by_label("Purchase price ($)").fill("170")
    page.get_by_label("Acquired on").fill("2026-03-10")
    page.get_by_role("button", name="Add holding").click()
    expect(page.locator("#holdings-body tr[data-holding-id]")).to_have_count(3)
    assert_totals("mid")
    # Live: a new sale changes the value at the last-sale mark without a reload.
    page.get_by_label("Value holdings at").select_option("last_sale")
    trade(seller, buyer, traded, 19500)
    assert_totals("last_sale")
    screenshot(page, "portfolio")
    assert_accessible(page)


def test_page_keeps_up_with_fifty_trades_per_second(
    page: Page, watch: PageWatch, server: Server, rest: Rest
) -> None:
    sku = "DM7866-162-10"
    seller, buyer = rest.account("fast-seller"), rest.account("fast-buyer")
    open_page(page, server, "#/product/DM7866-162?size=10")
    wait_book(page)
    done: list[tuple[int, int, float]] = []  # (trade id, price, monotonic time acknowledged)
    failures: list[BaseException] = []
    rate, seconds = 50, 3.0
    count = int(rate * seconds)
    prices = [20000 + i * 100 for i in range(count)]
    # Asks rest first (one per price); then each bid of the driver takes the
    # lowest one: one request per trade, every trade at a new price.
    for chunk in range(0, count, 100):
        seller.post(
            "/v1/orders/batch",
            {
                "orders": [
                    {"sku": sku, "side": "ask", "type": "limit", "price_cents": p, "quantity": 1}
                    for p in prices[chunk : chunk + 100]
                ]
            },
        )

    def drive() -> None:
        start = time.monotonic()
        try:
            for i, price in enumerate(prices):
                # Pace the driver to the target rate (a schedule, not a wait for an event).
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                fill = buyer.order(sku, "bid", price)["fills"][0]
                assert fill["price_cents"] == price
                done.append((fill["id"], price, time.monotonic()))
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    driver = threading.Thread(target=drive)
    driver.start()
    worst_lag = 0.0
    while driver.is_alive():
        shown = page.locator("#trades-body tr").first.get_attribute("data-trade-id")
        now = time.monotonic()
        shown_id = int(shown) if shown else 0
        pending = [t for t in done if t[0] > shown_id]
        if pending:
            worst_lag = max(worst_lag, now - pending[0][2])
        page.wait_for_timeout(100)  # sampling period of the observer
    driver.join()
    assert not failures, failures
    elapsed = done[-1][2] - done[0][2]
    assert len(done) == count and (count - 1) / elapsed >= rate * 0.85, (len(done), elapsed)
    last_id, last_price, _ = done[-1]
    expect(page.locator("#stats [data-field=last_sale]")).to_have_text(
        format_cents(last_price), timeout=1000
    )
    expect(page.locator("#trades-body tr").first).to_have_attribute(
        "data-trade-id", str(last_id), timeout=1000
    )
    # Shown with -s: the figure the bar is about.
    achieved = (count - 1) / elapsed
    print(f"\n{len(done)} trades at {achieved:.1f}/s; worst page lag {worst_lag * 1000:.0f} ms")
    assert worst_lag < 1.0, f"the page fell {worst_lag:.2f} s behind"


def test_busy_market_equals_api(page: Page, watch: PageWatch, server: Server, rest: Rest) -> None:
    """Last, when the other tests have traded: every row of the busy top equals the API.

    Its screenshot is the market picture of the README.
    """
    seller, buyer = rest.account("busy-seller"), rest.account("busy-buyer")
    for n, size in enumerate(("7", "8", "9.5", "10.5")):
        sku = f"DZ5485-612-{size}"
        trade(seller, buyer, sku, 19000 + n * 700)
        trade(seller, buyer, sku, 19500 + n * 500)
        seller.order(sku, "ask", 21000 + n * 300)
        buyer.order(sku, "bid", 18000 + n * 200)
    open_page(page, server, "")
    products = rest.get("/v1/products")["products"][:3]
    for sku in [s["sku"] for p in products for s in p["skus"]]:
        summary = rest.get(f"/v1/skus/{sku}")
        row = page.locator(f"tr[data-sku='{sku}']")
        for field, key in (
            ("lowest_ask", "lowest_ask_cents"),
            ("highest_bid", "highest_bid_cents"),
            ("last_sale", "last_sale_cents"),
        ):
            expect(row.locator(f"[data-field={field}]")).to_have_text(format_cents(summary[key]))
        expect(row.locator("[data-field=change_24h]")).to_have_text(
            format_pct(summary["change_24h_pct"])
        )
    screenshot(page, "market", full_page=False)


def test_screenshots_stay_out_of_the_checkout() -> None:
    # `make test` must leave the tracked docs/screenshots/*.png alone; only
    # `make screenshots` (EXCHANGE_SCREENSHOTS) writes there.
    if os.environ.get("EXCHANGE_SCREENSHOTS"):
        pytest.skip("make screenshots: writing the README's pictures is the point")
    assert REPO not in SCREENSHOTS.parents
