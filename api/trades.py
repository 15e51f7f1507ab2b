"""Trade and settlement endpoints: the caller's fills, shipping, authentication, ledger."""

from __future__ import annotations

from aiohttp import web

from exchange.history import Page

from .context import account_of, int_id, json_response, sku_filter, venue_of
from .requests import (
    AuthenticateRequest,
    LedgerQuery,
    MyTradesQuery,
    parse_body,
    parse_query,
    read_json,
)

__all__ = ["authenticate_trade", "ledger", "list_trades", "ship_trade"]


async def list_trades(request: web.Request) -> web.Response:
    """The caller's own fills (an authenticator's: every trade), newest first,
    paged; by ``sku`` and ``settlement_status`` (``shipped``: the work queue)."""
    query = parse_query(MyTradesQuery, request.query)
    venue = venue_of(request)
    sku = sku_filter(venue, query.sku)
    page = Page(query.limit, query.before)
    return json_response(
        await venue.trades_page(
            account_of(request), page, sku=sku, settlement_status=query.settlement_status
        )
    )


async def ship_trade(request: web.Request) -> web.Response:
    """The seller marks a trade shipped."""
    trade = await venue_of(request).ship(account_of(request), int_id(request, "trade_id"))
    return json_response(trade)


async def authenticate_trade(request: web.Request) -> web.Response:
    """An authenticator records the verdict on a shipped item."""
    body = parse_body(AuthenticateRequest, await read_json(request))
    trade = await venue_of(request).authenticate_trade(
        account_of(request), int_id(request, "trade_id"), body.passed
    )
    return json_response(trade)


async def ledger(request: web.Request) -> web.Response:
    """The caller's ledger: charges, payouts, fees, refunds and penalties in cents."""
    query = parse_query(LedgerQuery, request.query)
    page = Page(query.limit, query.before)
    return json_response(await venue_of(request).ledger_page(account_of(request), page))
