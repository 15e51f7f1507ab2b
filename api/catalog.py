"""Catalog endpoints: products and their SKUs."""

from __future__ import annotations

from aiohttp import web

from exchange.errors import ExchangeError

from .context import account_of, json_response, venue_of
from .requests import ProductRequest, parse_body, read_json, wire_fields

__all__ = ["create_product", "get_product", "list_products"]


async def list_products(request: web.Request) -> web.Response:
    """Every product of the catalog with its SKUs."""
    return json_response({"products": venue_of(request).products()})


async def get_product(request: web.Request) -> web.Response:
    """One product by style."""
    return json_response(venue_of(request).product(request.match_info["style"]))


async def create_product(request: web.Request) -> web.Response:
    """Add a product (admin)."""
    account = account_of(request)
    # The role first: a trader learns only that the endpoint is not theirs.
    if account.role != "admin":
        raise ExchangeError("forbidden", "Only an admin may add products.")
    body = wire_fields(parse_body(ProductRequest, await read_json(request)))
    product = await venue_of(request).create_product(account, body)
    return json_response(product, status=201)
