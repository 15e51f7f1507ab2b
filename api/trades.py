"""Trade and settlement endpoints: the caller's fills, shipping, authentication, ledger."""

from __future__ import annotations

from aiohttp import web

from .context import account_of, int_id, json_response, venue_of
from .validation import Field, check_fields, read_json

__all__ = ["authenticate_trade", "ledger", "list_trades", "ship_trade"]


async def list_trades(request: web.Request) -> web.Response:
    """The caller's own fills, with side, role, fees and settlement status."""
    return json_response({"trades": venue_of(request).list_trades(account_of(request))})


async def ship_trade(request: web.Request) -> web.Response:
    """The seller marks a trade shipped."""
    trade = await venue_of(request).ship(account_of(request), int_id(request, "trade_id"))
    return json_response(trade)


_AUTH_FIELDS = {"passed": Field(bool, required=True)}


async def authenticate_trade(request: web.Request) -> web.Response:
    """An authenticator records the verdict on a shipped item."""
    body = check_fields(await read_json(request), _AUTH_FIELDS)
    trade = await venue_of(request).authenticate_trade(
        account_of(request), int_id(request, "trade_id"), body["passed"]
    )
    return json_response(trade)


async def ledger(request: web.Request) -> web.Response:
    """The caller's ledger: charges, payouts, fees, refunds and penalties in cents."""
    return json_response({"entries": venue_of(request).ledger(account_of(request))})
