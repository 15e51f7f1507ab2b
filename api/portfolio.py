"""Portfolio endpoints: valuation, hand-added holdings and value history."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

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

if TYPE_CHECKING:
    from exchange.venue import Venue

__all__ = [
    "add_holding",
    "portfolio",
    "portfolio_history",
    "remove_holding",
    "value_portfolio",
]


async def portfolio(request: web.Request) -> web.Response:
    """The caller's holdings valued at ``mark`` with totals."""
    query = parse_query(PortfolioQuery, request.query)
    return json_response(await value_portfolio(venue_of(request), account_of(request), query.mark))


async def value_portfolio(venue: Venue, account: Any, mark: str) -> dict[str, Any]:
    """An account's portfolio valued at ``mark`` now (``GET /v1/portfolio``'s answer).

    Live bests and the seller's fee level are read on the loop, where the
    venue's state is consistent; only the store query goes to a thread.
    """
    now = now_ns()
    bests = {sku: venue.mirror.best(sku) for sku in venue.mirror.skus()}
    net_fn = _net_proceeds_fn(venue, account, now) if mark == "highest_bid" else None
    result: dict[str, Any] = await analytics_call(
        venue.analytics.portfolio, account.id, mark, now_ns=now, bests=bests, net_fn=net_fn
    )
    return result


def _net_proceeds_fn(venue: Venue, account: Any, now: int) -> Callable[[int], int]:
    """Price -> what the account would receive selling one unit now, after seller fees."""
    from exchange.fees import compute_trade_fees

    schedule = venue.fee_schedule
    level = venue.seller_level(account, now)

    def net(price_cents: int) -> int:
        return compute_trade_fees(schedule, price_cents, 1, level).seller_payout_cents

    return net


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
        return json_response({"interval": interval, "points": []})  # an empty window
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
