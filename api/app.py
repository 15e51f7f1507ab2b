"""The REST API: an aiohttp application over one :class:`exchange.venue.Venue`.

``make_app(venue, ...)`` builds the application from the route table below.
Handlers live in one module per concept (``ops``, ``accounts``, ``catalog``,
``marketdata``, ``orders``, ``trades``, ``portfolio``); they parse the
request, call the venue and render JSON. The request pipeline (metrics,
problems, auth and rate limits) is in ``api/middleware.py``; what handlers
share is in ``api/context.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import orjson
from aiohttp import web

from . import accounts, catalog, marketdata, ops, orders, portfolio, trades
from .context import ACCOUNT_KEY, CONFIG_KEY, VENUE_KEY, ApiConfig, Handler
from .middleware import MIDDLEWARES
from .openapi import build_openapi
from .portfolio import value_portfolio

if TYPE_CHECKING:
    from exchange.venue import Venue

__all__ = [
    "ACCOUNT_KEY",
    "CONFIG_KEY",
    "ROUTES",
    "VENUE_KEY",
    "ApiConfig",
    "make_app",
    "value_portfolio",
]

ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/healthz", ops.healthz),
    ("GET", "/readyz", ops.readyz),
    ("GET", "/metrics", ops.metrics),
    ("GET", "/v1/openapi.json", ops.openapi),
    ("GET", "/v1/config", ops.config),
    ("POST", "/v1/accounts", accounts.create_account),
    ("GET", "/v1/products", catalog.list_products),
    ("POST", "/v1/products", catalog.create_product),
    ("GET", "/v1/products/{style}", catalog.get_product),
    ("GET", "/v1/products/{style}/summary", marketdata.product_summary),
    ("GET", "/v1/products/{style}/candles", marketdata.product_candles),
    ("GET", "/v1/skus/{sku}", marketdata.sku_summary),
    ("GET", "/v1/skus/{sku}/book", marketdata.sku_book),
    ("GET", "/v1/skus/{sku}/trades", marketdata.sku_trades),
    ("GET", "/v1/skus/{sku}/candles", marketdata.sku_candles),
    ("POST", "/v1/orders", orders.place_order),
    ("POST", "/v1/orders/batch", orders.place_batch),
    ("GET", "/v1/orders", orders.list_orders),
    ("GET", "/v1/orders/{order_id:\\d+}", orders.get_order),
    ("PATCH", "/v1/orders/{order_id:\\d+}", orders.amend_order),
    ("DELETE", "/v1/orders/{order_id:\\d+}", orders.cancel_order),
    ("GET", "/v1/trades", trades.list_trades),
    ("POST", "/v1/trades/{trade_id:\\d+}/ship", trades.ship_trade),
    ("POST", "/v1/trades/{trade_id:\\d+}/authenticate", trades.authenticate_trade),
    ("GET", "/v1/ledger", trades.ledger),
    ("GET", "/v1/portfolio", portfolio.portfolio),
    ("POST", "/v1/portfolio/items", portfolio.add_holding),
    ("DELETE", "/v1/portfolio/items/{holding_id:\\d+}", portfolio.remove_holding),
    ("GET", "/v1/portfolio/history", portfolio.portfolio_history),
]
"""Every API route: (method, path pattern, handler). The OpenAPI test walks this."""


def make_app(
    venue: Venue,
    *,
    rate_limit: float = 100.0,
    burst: int = 200,
    max_body: int = 64 * 1024,
    feed_url: str = "ws://127.0.0.1:8765",
    close_venue: bool = False,
) -> web.Application:
    """Build the REST application over ``venue``.

    Args:
        venue: an open :class:`exchange.venue.Venue`.
        rate_limit: requests per second per API key; 0 turns limits off.
        burst: token bucket size per key.
        max_body: largest request body in bytes (larger: 413 payload_too_large).
        feed_url: the websocket feed's URL, reported by ``GET /v1/config``.
        close_venue: close the venue when the application shuts down.

    Returns:
        The application, with the web page's routes when ``api/web.py`` exists.
    """
    app = web.Application(
        client_max_size=max_body,
        middlewares=MIDDLEWARES,
    )
    cfg = ApiConfig(rate_limit=rate_limit, burst=burst, max_body=max_body, feed_url=feed_url)
    cfg.openapi = orjson.dumps(build_openapi(), option=orjson.OPT_INDENT_2)
    app[VENUE_KEY] = venue
    app[CONFIG_KEY] = cfg
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
    try:
        from .web import setup_web
    except ImportError:  # pragma: no cover - before the web page exists
        pass
    else:
        setup_web(app)

    if close_venue:

        async def _venue_lifetime(app: web.Application) -> AsyncIterator[None]:
            yield
            await venue.close()

        app.cleanup_ctx.append(_venue_lifetime)
    return app
