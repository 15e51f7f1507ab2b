"""Portfolio endpoints: valuation, hand-added holdings and value history."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from exchange.clock import rfc3339
from exchange.errors import ExchangeError

from .context import account_of, analytics_call, int_id, json_response, now_ns, venue_of
from .marketdata import INTERVALS
from .validation import Field, check_fields, query_time, read_json

if TYPE_CHECKING:
    from exchange.venue import Venue

__all__ = [
    "add_holding",
    "portfolio",
    "portfolio_history",
    "remove_holding",
    "value_portfolio",
]

MARKS = ("last_sale", "highest_bid", "lowest_ask", "mid")


async def portfolio(request: web.Request) -> web.Response:
    """The caller's holdings valued at ``mark`` with totals."""
    mark = request.query.get("mark", "last_sale")
    if mark not in MARKS:
        raise ExchangeError("validation_error", f"'mark' must be one of: {', '.join(MARKS)}.")
    return json_response(await value_portfolio(venue_of(request), account_of(request), mark))


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


_HOLDING_FIELDS = {
    "sku": Field(str, required=True),
    "purchase_price_cents": Field(int, required=True),
    "acquired_at": Field(str),
    "condition": Field(str, choices=("new", "used")),
}


async def add_holding(request: web.Request) -> web.Response:
    """Add an item the collector owns by hand (``acquired_at`` defaults to now)."""
    body = check_fields(await read_json(request), _HOLDING_FIELDS)
    if body["purchase_price_cents"] < 0:
        raise ExchangeError("validation_error", "'purchase_price_cents' must be >= 0.")
    if not body.get("acquired_at"):
        body = {**body, "acquired_at": rfc3339(now_ns())}
    holding = await venue_of(request).add_holding(account_of(request), body)
    return json_response(holding, status=201)


async def remove_holding(request: web.Request) -> web.Response:
    """Remove a hand-added item (another's, or one from a trade: 404)."""
    await venue_of(request).remove_holding(account_of(request), int_id(request, "holding_id"))
    return web.Response(status=204)


async def portfolio_history(request: web.Request) -> web.Response:
    """Daily value of what was held each day, marked at that day's last sale."""
    interval = request.query.get("interval", "1d")
    if interval not in INTERVALS:
        raise ExchangeError(
            "validation_error", f"'interval' must be one of: {', '.join(INTERVALS)}."
        )
    now = now_ns()
    end = query_time(request, "end")
    start = query_time(request, "start")
    if start is not None and end is not None and start >= end:
        raise ExchangeError("validation_error", "'start' must be before 'end'.")
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
