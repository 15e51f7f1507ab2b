"""Catalog endpoints: products and their SKUs."""

from __future__ import annotations

from aiohttp import web

from exchange.errors import ExchangeError

from .context import account_of, json_response, venue_of
from .validation import read_json

__all__ = ["create_product", "get_product", "list_products"]


async def list_products(request: web.Request) -> web.Response:
    """Every product of the catalog with its SKUs."""
    return json_response({"products": venue_of(request).products()})


async def get_product(request: web.Request) -> web.Response:
    """One product by style."""
    return json_response(venue_of(request).product(request.match_info["style"]))


async def create_product(request: web.Request) -> web.Response:
    """Add a product (admin)."""
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ExchangeError("validation_error", "The body must be a JSON object.")
    product = await venue_of(request).create_product(account_of(request), body)
    return json_response(product, status=201)
