"""The REST API: an aiohttp application over one :class:`exchange.venue.Venue`.

``make_app(venue, ...)`` builds the application; handlers parse the request,
call the venue (or its analytics), and render JSON. No venue logic lives here.

Request pipeline, outermost first (each a middleware):

1. metrics: times every request into ``http_request_duration_seconds`` by
   canonical route pattern and status;
2. problems: every error leaves as RFC 9457 ``application/problem+json``:
   :class:`exchange.errors.ExchangeError` with its own code and status,
   aiohttp's own 404/405/413 as ``not_found``/``method_not_allowed``/
   ``payload_too_large``, and any unexpected exception as a logged 500
   ``internal_error`` (bad input never gets there: parsing raises 4xx codes);
3. auth and rate limits: ``Authorization: Bearer <key>``; public routes per
   DESIGN.md need none; ``POST /v1/accounts`` takes an optional (admin) key;
   everything else answers 401 ``unauthorized`` without a known key. A token
   bucket per account (per remote address for keyless account creation)
   answers 429 ``rate_limited`` with ``Retry-After``.

Analytics (polars over the trade store) runs in a worker thread so the event
loop keeps serving orders while a summary or candles are computed.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import orjson
from aiohttp import web

from exchange.clock import rfc3339
from exchange.errors import ExchangeError

from .metrics import PROMETHEUS_CONTENT_TYPE, observe_request, render_metrics
from .openapi import build_openapi
from .problems import problem_from_error, problem_response
from .ratelimit import RateLimiter
from .validation import Field, check_fields, query_int, query_time, read_json

if TYPE_CHECKING:
    from exchange.venue import Venue

__all__ = [
    "ACCOUNT_KEY",
    "CONFIG_KEY",
    "VENUE_KEY",
    "ApiConfig",
    "make_app",
    "value_portfolio",
]

log = logging.getLogger("api")

MAX_BATCH = 100
INTERVALS = ("1m", "1h", "1d", "1w")
INTERVAL_NS = {
    "1m": 60 * 10**9,
    "1h": 3_600 * 10**9,
    "1d": 86_400 * 10**9,
    "1w": 7 * 86_400 * 10**9,
}
# Default candle window when no start is given: this many intervals back.
DEFAULT_CANDLES = 500
MARKS = ("last_sale", "highest_bid", "lowest_ask", "mid")
ORDER_STATUSES = ("open", "filled", "canceled", "expired", "rejected")


class ApiConfig:
    """Settings of one application: rate limits, body limit, the feed's URL."""

    def __init__(self, *, rate_limit: float, burst: int, max_body: int, feed_url: str) -> None:
        self.rate_limit = rate_limit
        self.burst = burst
        self.max_body = max_body
        self.feed_url = feed_url
        self.limiter = RateLimiter(rate_limit, burst)
        # Keyless account creation: per remote address, a tenth of the key rate.
        ip_rate = rate_limit / 10 if rate_limit > 0 else 0.0
        self.ip_limiter = RateLimiter(ip_rate, max(10, burst // 10))
        self.openapi: bytes = b""


VENUE_KEY = web.AppKey("venue", object)
CONFIG_KEY = web.AppKey("config", ApiConfig)
ACCOUNT_KEY = web.RequestKey("account", object)
"""Request-scoped: the authenticated :class:`exchange.accounts.Account`, or None."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _venue(request: web.Request) -> Venue:
    return request.app[VENUE_KEY]  # type: ignore[return-value]


def _account(request: web.Request) -> Any:
    account = request.get(ACCOUNT_KEY)
    if account is None:  # pragma: no cover - the auth middleware guarantees it
        raise ExchangeError("unauthorized", "This endpoint needs an API key.")
    return account


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(data), status=status, content_type="application/json", headers=headers
    )


def _now_ns() -> int:
    return time.time_ns()


# ---------------------------------------------------------------- access rules

_PUBLIC_EXACT = frozenset({"/healthz", "/readyz", "/metrics", "/v1/openapi.json", "/v1/config"})
_PUBLIC_GET_PREFIXES = ("/v1/products", "/v1/skus/")


_ACCESS: dict[tuple[str, str], str] = {}


def _access(method: str, path: str) -> str:
    """``public``, ``optional`` (key allowed) or ``private`` for a route pattern.

    Memoized: route patterns are few and fixed, and this runs per request.
    """
    key = (method, path)
    access = _ACCESS.get(key)
    if access is None:
        access = _ACCESS[key] = _classify(method, path)
    return access


def _classify(method: str, path: str) -> str:
    if method in ("GET", "HEAD"):
        if path in _PUBLIC_EXACT or path.startswith(_PUBLIC_GET_PREFIXES):
            return "public"
        if _is_web_path(path):
            return "public"
    if method == "POST" and path == "/v1/accounts":
        return "optional"
    return "private"


def _is_web_path(path: str) -> bool:
    try:
        from .web import is_web_path
    except ImportError:  # the web helper's module is optional
        return path == "/"
    return is_web_path(path) or path == "/static"


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ExchangeError(
            "unauthorized", "The Authorization header must be 'Bearer <api key>'."
        )
    return key.strip()


# ----------------------------------------------------------------- middleware


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Time the request by its route pattern (not the raw path) and final status."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        route = request.match_info.route
        resource = route.resource
        pattern = resource.canonical if resource is not None else "unmatched"
        if request.match_info.http_exception is not None:
            pattern = "unmatched"
        observe_request(request.method, pattern, status, time.perf_counter() - started)


_HTTP_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render every error as problem+json; log and hide unexpected ones as a 500."""
    try:
        response = await handler(request)
        if isinstance(response, web.FileResponse):
            # aiohttp's static files answer a missing file with a bare 404 at
            # send time, past this middleware; catch it here instead.
            path = getattr(response, "_path", None)
            if path is not None and not Path(path).is_file():
                raise web.HTTPNotFound()
        return response
    except ExchangeError as err:
        body = problem_from_error(err, instance=request.path)
        headers = {"Retry-After": "1"} if err.status == 429 else None
        return _problem_json(body, headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "http_error")
        if exc.status == 404:
            detail = f"There is no resource at {request.path}."
        elif exc.status == 405:
            detail = f"{request.method} is not allowed on {request.path}."
        elif exc.status == 413:
            limit = request.app[CONFIG_KEY].max_body
            detail = f"The request body is larger than the limit of {limit} bytes."
        else:
            detail = exc.text or exc.reason
        headers = {}
        if exc.status == 405 and "Allow" in exc.headers:
            headers["Allow"] = exc.headers["Allow"]
        return problem_response(
            code, detail, status=exc.status, instance=request.path, headers=headers
        )
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unexpected error in %s %s", request.method, request.path)
        return problem_response(
            "internal_error",
            "The server hit an unexpected error; it has been logged.",
            status=500,
            instance=request.path,
        )


def _problem_json(body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(body),
        status=body["status"],
        content_type="application/problem+json",
        headers=headers,
    )


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate by bearer key and apply the per-key (or per-address) rate limit."""
    info = request.match_info
    if info.http_exception is not None:
        return await handler(request)  # unknown path or method: the 404/405 as it is
    config = request.app[CONFIG_KEY]
    access = _access(request.method, info.route.resource.canonical)  # type: ignore[union-attr]
    request[ACCOUNT_KEY] = None
    if access == "public":
        return await handler(request)
    key = _bearer(request)
    if key is None:
        if access == "private":
            raise ExchangeError(
                "unauthorized", "This endpoint needs an API key: 'Authorization: Bearer <key>'."
            )
        retry = config.ip_limiter.check(request.remote or "unknown")
    else:
        account = _venue(request).authenticate(key)
        if account is None:
            raise ExchangeError("unauthorized", "The API key is not known.")
        request[ACCOUNT_KEY] = account
        retry = config.limiter.check(account.id)
    if retry is not None:
        return problem_response(
            "rate_limited",
            f"Too many requests; try again in {retry} second{'s' if retry != 1 else ''}.",
            instance=request.path,
            headers={"Retry-After": str(retry)},
        )
    return await handler(request)


# ------------------------------------------------------------------- handlers: ops


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process serves HTTP."""
    return _json({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: 200 once the venue has recovered, else 503 ``not_ready``."""
    if not _venue(request).ready:
        return problem_response(
            "not_ready", "The exchange is still recovering.", status=503, instance=request.path
        )
    return _json({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text of the default registry."""
    return web.Response(body=render_metrics(), headers={"Content-Type": PROMETHEUS_CONTENT_TYPE})


async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 document."""
    return web.Response(
        body=request.app[CONFIG_KEY].openapi, content_type="application/json"
    )


async def config(request: web.Request) -> web.Response:
    """What the web page needs to know: the websocket feed's URL.

    A feed bound to a wildcard address (0.0.0.0) is reported under the host
    name the browser used to reach this server.
    """
    url = request.app[CONFIG_KEY].feed_url
    parts = urlsplit(url)
    if parts.hostname in ("0.0.0.0", "::", "") and request.url.host:
        netloc = f"{request.url.host}:{parts.port}" if parts.port else request.url.host
        url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return _json({"feed_url": url})


# -------------------------------------------------------------- handlers: accounts

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
    created = await _venue(request).create_account(body["name"], role=role)
    return _json(created, status=201)


# -------------------------------------------------------------- handlers: catalog


async def list_products(request: web.Request) -> web.Response:
    """Every product of the catalog with its SKUs."""
    return _json({"products": _venue(request).products()})


async def get_product(request: web.Request) -> web.Response:
    """One product by style."""
    return _json(_venue(request).product(request.match_info["style"]))


async def create_product(request: web.Request) -> web.Response:
    """Add a product (admin)."""
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ExchangeError("validation_error", "The body must be a JSON object.")
    product = await _venue(request).create_product(_account(request), body)
    return _json(product, status=201)


def _require_sku(venue: Venue, sku: str) -> None:
    if not venue.sku_exists(sku):
        raise ExchangeError("unknown_sku", f"There is no SKU '{sku}'.")


async def _analytics_call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a (blocking) analytics query in a worker thread, off the event loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)


async def sku_summary(request: web.Request) -> web.Response:
    """Market summary of one SKU with its trading rules."""
    venue = _venue(request)
    rules = venue.sku_rules(request.match_info["sku"])  # unknown_sku
    sku = rules["sku"]
    bid, ask = venue.mirror.best(sku)
    summary = await _analytics_call(
        venue.analytics.sku_summary,
        sku,
        now_ns=_now_ns(),
        retail_price_cents=rules["retail_price_cents"],
        best_bid=bid,
        best_ask=ask,
    )
    return _json({**rules, **summary})


async def product_summary(request: web.Request) -> web.Response:
    """Market summary of a product over all its sizes."""
    venue = _venue(request)
    product = venue.product(request.match_info["style"])
    skus = [s["sku"] for s in product["skus"]]
    bests = [venue.mirror.best(s) for s in skus]
    bids = [b for b, _ in bests if b is not None]
    asks = [a for _, a in bests if a is not None]
    best_bid = max(bids) if bids else None
    best_ask = min(asks) if asks else None
    summary = await _analytics_call(
        venue.analytics.product_summary,
        product["style"],
        now_ns=_now_ns(),
        retail_price_cents=product["retail_price_cents"],
        best_bid=best_bid,
        best_ask=best_ask,
        skus=skus,
    )
    out = {"style": product["style"], "name": product["name"], "skus": skus}
    out.update(summary)
    out["lowest_ask_cents"] = best_ask
    out["highest_bid_cents"] = best_bid
    return _json(out)


def _candle_window(request: web.Request) -> tuple[str, int, int]:
    interval = request.query.get("interval", "1h")
    if interval not in INTERVALS:
        raise ExchangeError(
            "validation_error", f"'interval' must be one of: {', '.join(INTERVALS)}."
        )
    end = query_time(request, "end")
    end_ns = end if end is not None else _now_ns()
    start = query_time(request, "start")
    start_ns = start if start is not None else end_ns - DEFAULT_CANDLES * INTERVAL_NS[interval]
    if start_ns >= end_ns:
        raise ExchangeError("validation_error", "'start' must be before 'end'.")
    return interval, start_ns, end_ns


_CANDLE_COLUMNS = ("start", "open_cents", "high_cents", "low_cents", "close_cents", "volume")


def _render_candles(
    rows: list[dict[str, Any]], fmt: str, envelope: dict[str, Any], name: str
) -> web.Response:
    """JSON in an envelope, or the bare candle rows as CSV or Parquet."""
    if fmt == "json":
        return _json({**envelope, "candles": rows})
    import polars as pl

    schema = {c: (pl.String if c == "start" else pl.Int64) for c in _CANDLE_COLUMNS}
    frame = pl.DataFrame(
        [{c: row.get(c) for c in _CANDLE_COLUMNS} for row in rows], schema=schema, orient="row"
    ) if rows else pl.DataFrame(schema=schema)
    buffer = io.BytesIO()
    if fmt == "csv":
        frame.write_csv(buffer)
        content_type = "text/csv"
    else:
        frame.write_parquet(buffer)
        content_type = "application/vnd.apache.parquet"
    return web.Response(
        body=buffer.getvalue(),
        headers={
            "Content-Type": content_type,
            "Content-Disposition": f'attachment; filename="{name}.{fmt}"',
        },
    )


def _format(request: web.Request) -> str:
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "csv", "parquet"):
        raise ExchangeError("validation_error", "'format' must be one of: json, csv, parquet.")
    return fmt


async def sku_candles(request: web.Request) -> web.Response:
    """OHLCV candles of one SKU (empty intervals omitted) as JSON, CSV or Parquet."""
    venue = _venue(request)
    sku = request.match_info["sku"]
    _require_sku(venue, sku)
    fmt = _format(request)
    interval, start_ns, end_ns = _candle_window(request)
    candles = await _analytics_call(
        venue.analytics.candles, [sku], interval, start_ns, end_ns
    )
    return _render_candles(candles, fmt, {"sku": sku, "interval": interval}, f"{sku}-{interval}")


async def product_candles(request: web.Request) -> web.Response:
    """OHLCV candles of a product over all its sizes."""
    venue = _venue(request)
    product = venue.product(request.match_info["style"])
    fmt = _format(request)
    interval, start_ns, end_ns = _candle_window(request)
    skus = [s["sku"] for s in product["skus"]]
    candles = await _analytics_call(
        venue.analytics.candles, skus, interval, start_ns, end_ns
    )
    envelope = {"style": product["style"], "interval": interval}
    return _render_candles(candles, fmt, envelope, f"{product['style']}-{interval}")


async def sku_book(request: web.Request) -> web.Response:
    """Released L2 depth of one SKU with its market-data sequence."""
    venue = _venue(request)
    sku = request.match_info["sku"]
    _require_sku(venue, sku)
    depth = query_int(request, "depth", 10, minimum=1, maximum=1000)
    return _json(venue.book(sku, depth))


async def sku_trades(request: web.Request) -> web.Response:
    """Public trades of one SKU, newest first; ``before`` pages by trade id."""
    venue = _venue(request)
    sku = request.match_info["sku"]
    _require_sku(venue, sku)
    limit = query_int(request, "limit", 50, minimum=1, maximum=1000) or 50
    before = query_int(request, "before", None, minimum=1)
    trades = venue.public_trades(sku, limit, before)
    return _json({"sku": sku, "trades": trades})


# ---------------------------------------------------------------- handlers: orders


async def place_order(request: web.Request) -> web.Response:
    """Place one order: 201 new, 200 idempotent replay of its ``client_order_id``."""
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ExchangeError("validation_error", "The order must be a JSON object.")
    status, result = await _venue(request).place_order(_account(request), body)
    return _json(result, status=status)


_BATCH_FIELDS = {"orders": Field(list, required=True)}


async def place_batch(request: web.Request) -> web.Response:
    """Place up to 100 orders as one group; one result (or problem) per order."""
    body = check_fields(await read_json(request), _BATCH_FIELDS)
    orders = body["orders"]
    if len(orders) > MAX_BATCH:
        raise ExchangeError(
            "batch_too_large", f"A batch holds at most {MAX_BATCH} orders; got {len(orders)}."
        )
    results: list[dict[str, Any]] = []
    valid: list[int] = []
    bodies: list[dict[str, Any]] = []
    for i, item in enumerate(orders):
        if isinstance(item, dict):
            valid.append(i)
            bodies.append(item)
            results.append({})
        else:
            err = ExchangeError("validation_error", f"Order {i} of the batch is not an object.")
            results.append({"error": problem_from_error(err)})
    placed = await _venue(request).place_orders(_account(request), bodies) if bodies else []
    for i, outcome in zip(valid, placed, strict=True):
        error = outcome.get("error")
        if isinstance(error, ExchangeError):
            results[i] = {"error": problem_from_error(error)}
        elif isinstance(error, dict):
            results[i] = {"error": error}
        else:
            results[i] = {"order": outcome["order"], "fills": outcome.get("fills", [])}
    return _json({"results": results})


async def list_orders(request: web.Request) -> web.Response:
    """The caller's orders, optionally by ``status``."""
    status = request.query.get("status")
    if status is not None and status not in ORDER_STATUSES:
        raise ExchangeError(
            "validation_error", f"'status' must be one of: {', '.join(ORDER_STATUSES)}."
        )
    return _json({"orders": _venue(request).list_orders(_account(request), status=status)})


def _int_id(request: web.Request, name: str) -> int:
    # Routes only match digits; the guard keeps absurdly long ids away.
    raw = request.match_info[name]
    if len(raw) > 19:
        raise ExchangeError("not_found", f"There is no such {name.removesuffix('_id')}.")
    return int(raw)


async def get_order(request: web.Request) -> web.Response:
    """One of the caller's orders (another's is 404)."""
    order = _venue(request).get_order(_account(request), _int_id(request, "order_id"))
    return _json(order)


_AMEND_FIELDS = {"quantity": Field(int), "price_cents": Field(int)}


async def amend_order(request: web.Request) -> web.Response:
    """Change quantity (new total) and/or price of an open order."""
    body = check_fields(await read_json(request), _AMEND_FIELDS)
    if not body:
        raise ExchangeError("validation_error", "Send 'quantity' and/or 'price_cents'.")
    result = await _venue(request).amend_order(
        _account(request), _int_id(request, "order_id"), body
    )
    return _json(result)


async def cancel_order(request: web.Request) -> web.Response:
    """Cancel an open order; answers its final state."""
    order = await _venue(request).cancel_order(_account(request), _int_id(request, "order_id"))
    return _json(order)


# ---------------------------------------------------------------- handlers: trades


async def list_trades(request: web.Request) -> web.Response:
    """The caller's own fills, with side, role, fees and settlement status."""
    return _json({"trades": _venue(request).list_trades(_account(request))})


async def ship_trade(request: web.Request) -> web.Response:
    """The seller marks a trade shipped."""
    trade = await _venue(request).ship(_account(request), _int_id(request, "trade_id"))
    return _json(trade)


_AUTH_FIELDS = {"passed": Field(bool, required=True)}


async def authenticate_trade(request: web.Request) -> web.Response:
    """An authenticator records the verdict on a shipped item."""
    body = check_fields(await read_json(request), _AUTH_FIELDS)
    trade = await _venue(request).authenticate_trade(
        _account(request), _int_id(request, "trade_id"), body["passed"]
    )
    return _json(trade)


async def ledger(request: web.Request) -> web.Response:
    """The caller's ledger: charges, payouts, fees, refunds and penalties in cents."""
    return _json({"entries": _venue(request).ledger(_account(request))})


# ------------------------------------------------------------- handlers: portfolio


async def portfolio(request: web.Request) -> web.Response:
    """The caller's holdings valued at ``mark`` with totals."""
    mark = request.query.get("mark", "last_sale")
    if mark not in MARKS:
        raise ExchangeError("validation_error", f"'mark' must be one of: {', '.join(MARKS)}.")
    return _json(await value_portfolio(_venue(request), _account(request), mark))


async def value_portfolio(venue: Venue, account: Any, mark: str) -> dict[str, Any]:
    """An account's portfolio valued at ``mark`` now (``GET /v1/portfolio``'s answer).

    Live bests and the seller's fee level are read on the loop, where the
    venue's state is consistent; only the store query goes to a thread.
    """
    now = _now_ns()
    bests = {sku: venue.mirror.best(sku) for sku in venue.mirror.skus()}
    net_fn = _net_proceeds_fn(venue, account, now) if mark == "highest_bid" else None
    result: dict[str, Any] = await _analytics_call(
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
        body = {**body, "acquired_at": rfc3339(_now_ns())}
    holding = await _venue(request).add_holding(_account(request), body)
    return _json(holding, status=201)


async def remove_holding(request: web.Request) -> web.Response:
    """Remove a hand-added item (another's, or one from a trade: 404)."""
    await _venue(request).remove_holding(_account(request), _int_id(request, "holding_id"))
    return web.Response(status=204)


async def portfolio_history(request: web.Request) -> web.Response:
    """Daily value of what was held each day, marked at that day's last sale."""
    interval = request.query.get("interval", "1d")
    if interval not in INTERVALS:
        raise ExchangeError(
            "validation_error", f"'interval' must be one of: {', '.join(INTERVALS)}."
        )
    now = _now_ns()
    end = query_time(request, "end")
    start = query_time(request, "start")
    if start is not None and end is not None and start >= end:
        raise ExchangeError("validation_error", "'start' must be before 'end'.")
    venue = _venue(request)
    account = _account(request)
    result = await _analytics_call(
        venue.analytics.portfolio_history,
        account.id,
        interval=interval,
        start_ns=start,
        end_ns=end,
        now_ns=now,
    )
    return _json(result)


# ---------------------------------------------------------------------- assembly

ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/healthz", healthz),
    ("GET", "/readyz", readyz),
    ("GET", "/metrics", metrics),
    ("GET", "/v1/openapi.json", openapi),
    ("GET", "/v1/config", config),
    ("POST", "/v1/accounts", create_account),
    ("GET", "/v1/products", list_products),
    ("POST", "/v1/products", create_product),
    ("GET", "/v1/products/{style}", get_product),
    ("GET", "/v1/products/{style}/summary", product_summary),
    ("GET", "/v1/products/{style}/candles", product_candles),
    ("GET", "/v1/skus/{sku}", sku_summary),
    ("GET", "/v1/skus/{sku}/book", sku_book),
    ("GET", "/v1/skus/{sku}/trades", sku_trades),
    ("GET", "/v1/skus/{sku}/candles", sku_candles),
    ("POST", "/v1/orders", place_order),
    ("POST", "/v1/orders/batch", place_batch),
    ("GET", "/v1/orders", list_orders),
    ("GET", "/v1/orders/{order_id:\\d+}", get_order),
    ("PATCH", "/v1/orders/{order_id:\\d+}", amend_order),
    ("DELETE", "/v1/orders/{order_id:\\d+}", cancel_order),
    ("GET", "/v1/trades", list_trades),
    ("POST", "/v1/trades/{trade_id:\\d+}/ship", ship_trade),
    ("POST", "/v1/trades/{trade_id:\\d+}/authenticate", authenticate_trade),
    ("GET", "/v1/ledger", ledger),
    ("GET", "/v1/portfolio", portfolio),
    ("POST", "/v1/portfolio/items", add_holding),
    ("DELETE", "/v1/portfolio/items/{holding_id:\\d+}", remove_holding),
    ("GET", "/v1/portfolio/history", portfolio_history),
]
"""Every API route: (method, path pattern, handler). The OpenAPI test walks this."""


def make_app(
    venue: Venue,
    *,
    rate_limit: float = 100.0,
    burst: int = 200,
    max_body: int = 64 * 1024,
    feed_url: str = "ws://127.0.0.1:8765",
    close_venue: bool = False,
) -> web.Application:
    """Build the REST application over ``venue``.

    Args:
        venue: an open :class:`exchange.venue.Venue`.
        rate_limit: requests per second per API key; 0 turns limits off.
        burst: token bucket size per key.
        max_body: largest request body in bytes (larger: 413 payload_too_large).
        feed_url: the websocket feed's URL, reported by ``GET /v1/config``.
        close_venue: close the venue when the application shuts down.

    Returns:
        The application, with the web page's routes when ``api/web.py`` exists.
    """
    app = web.Application(
        client_max_size=max_body,
        middlewares=[metrics_middleware, problem_middleware, auth_middleware],
    )
    cfg = ApiConfig(rate_limit=rate_limit, burst=burst, max_body=max_body, feed_url=feed_url)
    cfg.openapi = orjson.dumps(build_openapi(), option=orjson.OPT_INDENT_2)
    app[VENUE_KEY] = venue
    app[CONFIG_KEY] = cfg
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
    try:
        from .web import setup_web
    except ImportError:  # pragma: no cover - before the web page exists
        pass
    else:
        setup_web(app)

    if close_venue:

        async def _venue_lifetime(app: web.Application) -> AsyncIterator[None]:
            yield
            await venue.close()

        app.cleanup_ctx.append(_venue_lifetime)
    return app
