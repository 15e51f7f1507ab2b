"""Account endpoints: ``POST /v1/accounts``."""

from __future__ import annotations

from aiohttp import web

from exchange.errors import ExchangeError

from .context import ACCOUNT_KEY, json_response, venue_of
from .requests import AccountRequest, parse_body, read_json

__all__ = ["create_account"]


async def create_account(request: web.Request) -> web.Response:
    """Create an account: a trader without a key; any role with an admin key."""
    body = parse_body(AccountRequest, await read_json(request))
    caller = request.get(ACCOUNT_KEY)
    if body.role != "trader" and (caller is None or caller.role != "admin"):
        raise ExchangeError(
            "forbidden", f"Only an admin may create an account with role {body.role}."
        )
    created = await venue_of(request).create_account(body.name, role=body.role)
    return json_response(created, status=201)
