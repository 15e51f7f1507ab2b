"""Order endpoints: place (one or a batch), list, get, amend, cancel."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from exchange.errors import ExchangeError
from exchange.history import parse_order_status, parse_page

from .context import account_of, int_id, json_response, sku_filter, venue_of
from .problems import problem_from_error
from .validation import Field, check_fields, read_json

__all__ = [
    "MAX_BATCH",
    "amend_order",
    "cancel_order",
    "get_order",
    "list_orders",
    "place_batch",
    "place_order",
]

MAX_BATCH = 100


async def place_order(request: web.Request) -> web.Response:
    """Place one order: 201 new, 200 idempotent replay of its ``client_order_id``."""
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ExchangeError("validation_error", "The order must be a JSON object.")
    status, result = await venue_of(request).place_order(account_of(request), body)
    return json_response(result, status=status)


_BATCH_FIELDS = {"orders": Field(list, required=True)}


async def place_batch(request: web.Request) -> web.Response:
    """Place up to 100 orders as one group; one result (or problem) per order."""
    body = check_fields(await read_json(request), _BATCH_FIELDS)
    orders = body["orders"]
    if len(orders) > MAX_BATCH:
        raise ExchangeError(
            "batch_too_large", f"A batch holds at most {MAX_BATCH} orders; got {len(orders)}."
        )
    results: list[dict[str, Any]] = []
    valid: list[int] = []
    bodies: list[dict[str, Any]] = []
    for i, item in enumerate(orders):
        if isinstance(item, dict):
            valid.append(i)
            bodies.append(item)
            results.append({})
        else:
            err = ExchangeError("validation_error", f"Order {i} of the batch is not an object.")
            results.append({"error": problem_from_error(err)})
    placed = await venue_of(request).place_orders(account_of(request), bodies) if bodies else []
    for i, outcome in zip(valid, placed, strict=True):
        error = outcome.get("error")
        if isinstance(error, ExchangeError):
            results[i] = {"error": problem_from_error(error)}
        elif isinstance(error, dict):
            results[i] = {"error": error}
        else:
            results[i] = {"order": outcome["order"], "fills": outcome.get("fills", [])}
    return json_response({"results": results})


async def list_orders(request: web.Request) -> web.Response:
    """The caller's orders, newest first, paged; by ``status`` and ``sku``."""
    query = request.query
    venue = venue_of(request)
    page = parse_page(query.get("limit"), query.get("before"))
    status = parse_order_status(query.get("status"))
    sku = sku_filter(venue, query.get("sku"))
    return json_response(
        await venue.orders_page(account_of(request), page, status=status, sku=sku)
    )


async def get_order(request: web.Request) -> web.Response:
    """One of the caller's orders (another's is 404)."""
    order = venue_of(request).get_order(account_of(request), int_id(request, "order_id"))
    return json_response(order)


_AMEND_FIELDS = {"quantity": Field(int), "price_cents": Field(int)}


async def amend_order(request: web.Request) -> web.Response:
    """Change quantity (new total) and/or price of an open order."""
    body = check_fields(await read_json(request), _AMEND_FIELDS)
    if not body:
        raise ExchangeError("validation_error", "Send 'quantity' and/or 'price_cents'.")
    result = await venue_of(request).amend_order(
        account_of(request), int_id(request, "order_id"), body
    )
    return json_response(result)


async def cancel_order(request: web.Request) -> web.Response:
    """Cancel an open order; answers its final state."""
    order = await venue_of(request).cancel_order(account_of(request), int_id(request, "order_id"))
    return json_response(order)
