"""Account endpoints: ``POST /v1/accounts``."""

from __future__ import annotations

from aiohttp import web

from exchange.errors import ExchangeError

from .context import ACCOUNT_KEY, json_response, venue_of
from .validation import Field, check_fields, read_json

__all__ = ["create_account"]


_ACCOUNT_FIELDS = {
    "name": Field(str, required=True),
    "role": Field(str, choices=("trader", "authenticator", "admin")),
}


async def create_account(request: web.Request) -> web.Response:
    """Create an account: a trader without a key; any role with an admin key."""
    body = check_fields(await read_json(request), _ACCOUNT_FIELDS)
    role = body.get("role", "trader")
    caller = request.get(ACCOUNT_KEY)
    if role != "trader" and (caller is None or caller.role != "admin"):
        raise ExchangeError("forbidden", f"Only an admin may create an account with role {role}.")
    created = await venue_of(request).create_account(body["name"], role=role)
    return json_response(created, status=201)
