"""Order endpoints: place (one or a batch), list, get, amend, cancel."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from exchange.errors import ExchangeError
from exchange.history import Page

from .context import account_of, int_id, json_response, sku_filter, venue_of
from .problems import problem_from_error
from .requests import (
    MAX_BATCH,
    AmendRequest,
    BatchRequest,
    OrdersQuery,
    parse_body,
    parse_order,
    parse_query,
    read_json,
    wire_fields,
)

__all__ = [
    "MAX_BATCH",
    "amend_order",
    "cancel_order",
    "get_order",
    "list_orders",
    "place_batch",
    "place_order",
]


def _envelope(order: dict[str, Any], fills: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    # Every order-returning endpoint answers {"order", "fills"}: the order's
    # state after the request and the trades this request made (none for a
    # read or a cancel; an order's past fills are in GET /v1/trades).
    return {"order": order, "fills": fills or []}


async def place_order(request: web.Request) -> web.Response:
    """Place one order: 201 new, 200 idempotent replay of its ``client_order_id``."""
    order = parse_order(await read_json(request))
    status, result = await venue_of(request).place_order(account_of(request), order)
    return json_response(_envelope(result["order"], result.get("fills")), status=status)


async def place_batch(request: web.Request) -> web.Response:
    """Place up to 100 orders as one group; one result (or problem) per order.

    A batch that breaks the contract (an item that is not an order) is refused
    whole; refusals that depend on the market (a tick, a band) come per order.
    """
    body = await read_json(request)
    orders = body.get("orders") if isinstance(body, dict) else None
    if isinstance(orders, list) and len(orders) > MAX_BATCH:
        raise ExchangeError(
            "batch_too_large", f"A batch holds at most {MAX_BATCH} orders; got {len(orders)}."
        )
    batch = parse_body(BatchRequest, body)
    items = [
        parse_order(item, prefix=f"orders[{i}].", what=f"order {i} of the batch")
        for i, item in enumerate(batch.orders)
    ]
    placed = await venue_of(request).place_orders(account_of(request), items) if items else []
    results: list[dict[str, Any]] = []
    for outcome in placed:
        error = outcome.get("error")
        if isinstance(error, ExchangeError):
            results.append({"error": problem_from_error(error)})
        elif isinstance(error, dict):
            results.append({"error": error})
        else:
            results.append(_envelope(outcome["order"], outcome.get("fills")))
    return json_response({"results": results})


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
    return json_response(_envelope(order))


async def amend_order(request: web.Request) -> web.Response:
    """Change quantity (new total) and/or price of an open order."""
    amend = wire_fields(parse_body(AmendRequest, await read_json(request)))
    if not amend:
        raise ExchangeError("validation_error", "Send 'quantity' and/or 'price_cents'.")
    result = await venue_of(request).amend_order(
        account_of(request), int_id(request, "order_id"), amend
    )
    return json_response(_envelope(result["order"], result.get("fills")))


async def cancel_order(request: web.Request) -> web.Response:
    """Cancel an open order; answers its final state as ``{"order", "fills": []}``."""
    order = await venue_of(request).cancel_order(account_of(request), int_id(request, "order_id"))
    return json_response(_envelope(order))
