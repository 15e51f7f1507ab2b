"""Order endpoints: place (one or a batch), list, get, amend, cancel.

Placing, amending and canceling are :mod:`exchange.orderentry`'s, shared with
the websocket order entry; these handlers read the request and render.
"""

from __future__ import annotations

from aiohttp import web

from exchange import orderentry
from exchange.history import Page

from .context import account_of, int_id, json_response, sku_filter, venue_of
from .requests import MAX_BATCH, OrdersQuery, parse_query, read_json

__all__ = [
    "MAX_BATCH",
    "amend_order",
    "cancel_order",
    "get_order",
    "list_orders",
    "place_batch",
    "place_order",
]


async def place_order(request: web.Request) -> web.Response:
    """Place one order: 201 new, 200 idempotent replay of its ``client_order_id``."""
    body = await read_json(request)
    status, answer = await orderentry.place_order(venue_of(request), account_of(request), body)
    return json_response(answer, status=status)


async def place_batch(request: web.Request) -> web.Response:
    """Place up to 100 orders as one group; one result (or problem) per order.

    A batch that breaks the contract (an item that is not an order) is refused
    whole; refusals that depend on the market (a tick, a band) come per order.
    """
    body = await read_json(request)
    status, answer = await orderentry.place_batch(venue_of(request), account_of(request), body)
    return json_response(answer, status=status)


async def list_orders(request: web.Request) -> web.Response:
    """The caller's orders, newest first, paged; by ``status`` and ``sku``."""
    query = parse_query(OrdersQuery, request.query)
    venue = venue_of(request)
    sku = sku_filter(venue, query.sku)
    page = Page(query.limit, query.before)
    return json_response(
        await venue.orders_page(account_of(request), page, status=query.status, sku=sku)
    )


async def get_order(request: web.Request) -> web.Response:
    """One of the caller's orders (another's is 404), as ``{"order", "fills": []}``."""
    order = await venue_of(request).find_order(account_of(request), int_id(request, "order_id"))
    return json_response(orderentry.envelope(order))


async def amend_order(request: web.Request) -> web.Response:
    """Change quantity (new total) and/or price of an open order."""
    body = await read_json(request)
    status, answer = await orderentry.amend_order(
        venue_of(request), account_of(request), int_id(request, "order_id"), body
    )
    return json_response(answer, status=status)


async def cancel_order(request: web.Request) -> web.Response:
    """Cancel an open order; answers its final state as ``{"order", "fills": []}``."""
    status, answer = await orderentry.cancel_order(
        venue_of(request), account_of(request), int_id(request, "order_id")
    )
    return json_response(answer, status=status)
