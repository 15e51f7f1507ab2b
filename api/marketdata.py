"""Public market-data endpoints: summaries, candles, L2 books and trades.

Analytics (polars over the trade store) runs in a worker thread so the event
loop keeps serving orders while a summary or candles are computed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from exchange import appraisal
from exchange.analytics import INTERVALS
from exchange.errors import ExchangeError
from exchange.exports import EXPORT_CONTENT_TYPES
from exchange.history import Page

from .context import analytics_call, json_response, now_ns, venue_of
from .requests import BookQuery, CandleQuery, TradesQuery, parse_query, parse_time

if TYPE_CHECKING:
    from exchange.venueapi import VenueApi

__all__ = [
    "DEFAULT_CANDLES",
    "product_candles",
    "product_summary",
    "require_sku",
    "sku_book",
    "sku_candles",
    "sku_summary",
    "sku_trades",
]

# Default candle window when no start is given: this many intervals back.
DEFAULT_CANDLES = 500


def require_sku(venue: VenueApi, sku: str) -> None:
    """Raise ``unknown_sku`` unless the catalog lists ``sku``."""
    if not venue.sku_exists(sku):
        raise ExchangeError("unknown_sku", f"There is no SKU '{sku}'.")


async def sku_summary(request: web.Request) -> web.Response:
    """Market summary of one SKU with its trading rules."""
    summary = await appraisal.sku_summary(venue_of(request), request.match_info["sku"], now_ns())
    return json_response(summary)


async def product_summary(request: web.Request) -> web.Response:
    """Market summary of a product over all its sizes."""
    style = request.match_info["style"]
    return json_response(await appraisal.product_summary(venue_of(request), style, now_ns()))


def _candle_window(request: web.Request) -> tuple[CandleQuery, int, int]:
    """The checked query and its window in ns; a window may be empty (start >= end)."""
    query = parse_query(CandleQuery, request.query)
    end_ns = parse_time(query.end, "end") if query.end is not None else now_ns()
    start_ns = (
        parse_time(query.start, "start")
        if query.start is not None
        else end_ns - DEFAULT_CANDLES * INTERVALS[query.interval]
    )
    return query, start_ns, end_ns


async def _candles_response(
    venue: VenueApi,
    skus: list[str],
    window: tuple[str, int, int],
    fmt: str,
    envelope: dict[str, Any],
    name: str,
) -> web.Response:
    """JSON in an envelope, or the bare candle rows as CSV or Parquet.

    Both come from the analytics' one candle encoder (times as RFC 3339 text
    in JSON and CSV, UTC timestamps in Parquet).
    """
    interval, start_ns, end_ns = window
    # A window that holds no time holds no candles.
    start_ns = min(start_ns, end_ns)
    analytics = venue.analytics
    if fmt == "json":
        if start_ns == end_ns:
            return json_response({**envelope, "candles": []})
        rows = await analytics_call(analytics.candles, skus, interval, start_ns, end_ns)
        return json_response({**envelope, "candles": rows})
    body = await analytics_call(analytics.export_candles, skus, interval, fmt, start_ns, end_ns)
    return web.Response(
        body=body,
        headers={
            "Content-Type": EXPORT_CONTENT_TYPES[fmt],
            "Content-Disposition": f'attachment; filename="{name}.{fmt}"',
        },
    )


async def sku_candles(request: web.Request) -> web.Response:
    """OHLCV candles of one SKU (empty intervals omitted) as JSON, CSV or Parquet."""
    venue = venue_of(request)
    sku = request.match_info["sku"]
    require_sku(venue, sku)
    query, start_ns, end_ns = _candle_window(request)
    window = (query.interval, start_ns, end_ns)
    envelope = {"sku": sku, "interval": query.interval}
    name = f"{sku}-{query.interval}"
    return await _candles_response(venue, [sku], window, query.format, envelope, name)


async def product_candles(request: web.Request) -> web.Response:
    """OHLCV candles of a product over all its sizes."""
    venue = venue_of(request)
    product = venue.product(request.match_info["style"])
    query, start_ns, end_ns = _candle_window(request)
    window = (query.interval, start_ns, end_ns)
    skus = [s["sku"] for s in product["skus"]]
    envelope = {"style": product["style"], "interval": query.interval}
    name = f"{product['style']}-{query.interval}"
    return await _candles_response(venue, skus, window, query.format, envelope, name)


async def sku_book(request: web.Request) -> web.Response:
    """Released L2 depth of one SKU with its market-data sequence."""
    venue = venue_of(request)
    sku = request.match_info["sku"]
    require_sku(venue, sku)
    query = parse_query(BookQuery, request.query)
    return json_response(venue.book(sku, query.depth))


async def sku_trades(request: web.Request) -> web.Response:
    """Public trades of one SKU, newest first; ``before`` pages by trade id."""
    venue = venue_of(request)
    sku = request.match_info["sku"]
    require_sku(venue, sku)
    query = parse_query(TradesQuery, request.query)
    return json_response(await venue.sku_trades_page(sku, Page(query.limit, query.before)))
