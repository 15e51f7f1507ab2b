"""The REST API: an aiohttp application over a venue (:class:`exchange.venueapi.VenueApi`).

``make_app(venue, ...)`` builds the application from the route table below.
Handlers live in one module per concept (``ops``, ``accounts``, ``catalog``,
``marketdata``, ``orders``, ``trades``, ``portfolio``, ``keys``); they parse the
request, call the venue and render JSON. The request pipeline (metrics,
problems, auth and rate limits) is in ``api/middleware.py``; what handlers
share is in ``api/context.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import orjson
from aiohttp import web

from . import accounts, catalog, keys, marketdata, ops, orders, portfolio, trades
from .context import ACCOUNT_KEY, CONFIG_KEY, VENUE_KEY, ApiConfig, Handler
from .guards import body_middleware, crash_middleware
from .middleware import (
    auth_middleware,
    metrics_middleware,
    problem_middleware,
    query_middleware,
)
from .openapi import build_openapi
from .security import setup_security
from .throttle import batch_middleware, setup_throttles, throttle_middleware

if TYPE_CHECKING:
    from exchange.venueapi import VenueApi

__all__ = [
    "ACCOUNT_KEY",
    "CONFIG_KEY",
    "ROUTES",
    "VENUE_KEY",
    "ApiConfig",
    "make_app",
]

ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/healthz", ops.healthz),
    ("GET", "/readyz", ops.readyz),
    ("GET", "/metrics", ops.metrics),
    ("GET", "/v1/openapi.json", ops.openapi),
    ("GET", "/v1/config", ops.config),
    ("POST", "/v1/accounts", accounts.create_account),
    ("POST", "/v1/keys", keys.create_key),
    ("GET", "/v1/keys", keys.list_keys),
    ("DELETE", "/v1/keys/{key_id}", keys.revoke_key),
    ("GET", "/v1/admin/accounts/{account_id}/keys", keys.admin_list_keys),
    ("DELETE", "/v1/admin/keys/{key_id}", keys.admin_revoke_key),
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
    venue: VenueApi,
    *,
    rate_limit: float = 100.0,
    burst: int = 200,
    max_body: int = 64 * 1024,
    feed_url: str = "ws://127.0.0.1:8765",
    close_venue: bool = False,
    public_rate_limit: float | None = None,
    auth_failure_limit: float | None = None,
    metrics_route: bool = True,
) -> web.Application:
    """Build the REST application over ``venue``.

    Args:
        venue: an open venue (:class:`exchange.venueapi.VenueApi`, e.g. a
            :class:`exchange.venue.Venue`).
        rate_limit: requests per second per API key; 0 turns limits off.
        burst: token bucket size per key.
        max_body: largest request body in bytes (larger: 413 payload_too_large).
        feed_url: the websocket feed's URL, reported by ``GET /v1/config``.
        close_venue: close the venue when the application shuts down.
        public_rate_limit: requests per second per client address without a
            key (``api/throttle.py``); None: a fifth of ``rate_limit``; 0: off.
        auth_failure_limit: failed authentications per minute per client
            address; None: 30 (0 when ``rate_limit`` is 0); 0: off.
        metrics_route: serve ``GET /metrics`` in this application
            (``exchange serve`` leaves it out and serves it on its own
            listener when asked: ``api/httpserver.py``).

    Returns:
        The application, with the web page's routes when ``api/web.py`` exists.
    """
    app = web.Application(
        client_max_size=max_body,
        # Outermost first: api/middleware.py's pipeline, wrapped by the
        # crash guard, with per-address limits before authentication and the
        # body guard and batch weight after it (api/guards.py, api/throttle.py).
        middlewares=[
            crash_middleware, metrics_middleware, problem_middleware, throttle_middleware,
            auth_middleware, body_middleware, batch_middleware, query_middleware,
        ],
    )
    cfg = ApiConfig(rate_limit=rate_limit, burst=burst, max_body=max_body, feed_url=feed_url)
    cfg.openapi = orjson.dumps(build_openapi(), option=orjson.OPT_INDENT_2)
    app[VENUE_KEY] = venue
    app[CONFIG_KEY] = cfg
    setup_security(app, feed_url)
    setup_throttles(
        app,
        public_rate_limit=rate_limit / 5 if public_rate_limit is None else public_rate_limit,
        auth_failure_limit=(30.0 if rate_limit > 0 else 0.0)
        if auth_failure_limit is None else auth_failure_limit,
    )
    for method, path, handler in ROUTES:
        if path == "/metrics" and not metrics_route:
            continue
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
