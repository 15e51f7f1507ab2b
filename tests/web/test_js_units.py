"""The page's own rules, run in the browser against their Python twins.

The checksum must be the one rule of DESIGN.md (``orderbook.checksum``), and
money must go from cents to text and back with integer math only.
"""

from __future__ import annotations

import random

from playwright.sync_api import Page

from orderbook.checksum import book_checksum

from .conftest import PageWatch
from .support import Server, format_cents


def _module(page: Page, server: Server, name: str, expr: str, arg: object) -> object:
    """Evaluate ``expr`` (a function of ``m``, the module, and ``arg``) in the page."""
    script = f"async (arg) => (({expr})(await import('/static/js/{name}.js'), arg))"
    return page.evaluate(script, arg)


def test_checksum_matches_the_python_rule(page: Page, watch: PageWatch, server: Server) -> None:
    page.goto(f"{server.http_url}/static/css/app.css")  # same origin, no app running
    rng = random.Random(8)
    books = [([(10500, 2), (11000, 1)], [(10000, 3), (9500, 1)]), ([], [])]
    for _ in range(200):
        asks = sorted(
            {
                rng.randrange(100, 10**7): rng.randrange(1, 10**4)
                for _ in range(rng.randrange(0, 25))
            }.items()
        )
        bids = sorted(
            {
                rng.randrange(100, 10**7): rng.randrange(1, 10**4)
                for _ in range(rng.randrange(0, 25))
            }.items(),
            reverse=True,
        )
        books.append((asks, bids))
    got = _module(
        page,
        server,
        "checksum",
        "(m, books) => books.map(([a, b]) => m.bookChecksum(a, b))",
        [[list(map(list, a)), list(map(list, b))] for a, b in books],
    )
    assert got == [book_checksum(a, b) for a, b in books]
    assert got[:2] == [4148808677, 2343686810]  # DESIGN.md's test vectors


def test_money_is_formatted_and_parsed_with_integers(
    page: Page, watch: PageWatch, server: Server
) -> None:
    page.goto(f"{server.http_url}/static/css/app.css")
    cents = [0, 1, 5, 99, 100, 101, 18550, 123456789, -5, -100050, 2**53 - 1]
    assert _module(page, server, "money", "(m, xs) => xs.map(m.formatCents)", cents) == [
        format_cents(c) for c in cents
    ]
    texts = [
        "185",
        "185.5",
        "185.50",
        "$1,185.05",
        " 0.01 ",
        "1.234",
        "abc",
        "",
        "1,23",
        "-5",
        "0.1",
    ]
    expected = [18500, 18550, 18550, 118505, 1, None, None, None, None, None, 10]
    assert _module(page, server, "money", "(m, xs) => xs.map(m.parseDollars)", texts) == expected
    # Round trip: every cent amount survives text -> cents.
    sample = [*range(0, 100_000, 7), 10**9 + 1]
    assert (
        _module(
            page,
            server,
            "money",
            "(m, xs) => xs.map(c => m.parseDollars(m.centsToInput(c)))",
            sample,
        )
        == sample
    )


def test_feed_takes_trade_canceled_as_the_next_trades_message(
    page: Page, watch: PageWatch, server: Server
) -> None:
    page.goto(f"{server.http_url}/static/css/app.css")
    expr = """(m, msgs) => {
      const feed = new m.Feed("ws://127.0.0.1:9");
      clearInterval(feed.watchdog);
      const seen = [];
      for (const type of ["trade", "trade_canceled", "tradegap"]) {
        feed.on(type, (e) => seen.push(type));
      }
      for (const msg of msgs) feed.handle(msg);
      return seen;
    }"""
    base = {"sku": "AAA-10", "price_cents": 100, "quantity": 1, "time": "2026-11-25T10:00:00Z"}
    msgs = [
        {**base, "type": "trade", "sequence": 1, "prev_sequence": 0, "id": 1},
        {**base, "type": "trade_canceled", "sequence": 3, "prev_sequence": 1, "id": 1},
        {**base, "type": "trade", "sequence": 4, "prev_sequence": 3, "id": 2},
        {**base, "type": "trade", "sequence": 6, "prev_sequence": 5, "id": 3},  # a real gap
    ]
    assert _module(page, server, "feed", expr, msgs) == [
        "trade",
        "trade_canceled",
        "trade",
        "tradegap",
        "trade",
    ]
