"""Portfolio endpoints: valuation, hand-added holdings and value history."""

from __future__ import annotations

from aiohttp import web

from exchange.appraisal import value_portfolio

from .context import account_of, analytics_call, int_id, json_response, now_ns, venue_of
from .requests import (
    HistoryQuery,
    HoldingRequest,
    PortfolioQuery,
    parse_body,
    parse_query,
    parse_time,
    read_json,
    wire_fields,
)

__all__ = [
    "add_holding",
    "portfolio",
    "portfolio_history",
    "remove_holding",
]


async def portfolio(request: web.Request) -> web.Response:
    """The caller's holdings valued at ``mark`` with totals."""
    query = parse_query(PortfolioQuery, request.query)
    valued = await value_portfolio(venue_of(request), account_of(request), query.mark, now_ns())
    return json_response(valued)


async def add_holding(request: web.Request) -> web.Response:
    """Add an item the collector owns by hand (``acquired_at`` defaults to now)."""
    body = wire_fields(parse_body(HoldingRequest, await read_json(request)))
    holding = await venue_of(request).add_holding(account_of(request), body)
    return json_response(holding, status=201)


async def remove_holding(request: web.Request) -> web.Response:
    """Remove a hand-added item (another's, or one from a trade: 404)."""
    await venue_of(request).remove_holding(account_of(request), int_id(request, "holding_id"))
    return web.Response(status=204)


async def portfolio_history(request: web.Request) -> web.Response:
    """Daily value of what was held each day, marked at that day's last sale."""
    query = parse_query(HistoryQuery, request.query)
    interval = query.interval
    now = now_ns()
    end = parse_time(query.end, "end") if query.end is not None else None
    start = parse_time(query.start, "start") if query.start is not None else None
    if start is not None and end is not None and start >= end:
        # A window that holds no time holds no points.
        return json_response({"interval": interval, "points": [], "earlier_end": None})
    venue = venue_of(request)
    account = account_of(request)
    result = await analytics_call(
        venue.analytics.portfolio_history,
        account.id,
        interval=interval,
        start_ns=start,
        end_ns=end,
        now_ns=now,
    )
    return json_response(result)
