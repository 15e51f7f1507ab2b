"""The OpenAPI 3.1 document of the REST API, served at ``/v1/openapi.json``.

Request bodies and query parameters are the JSON Schema of the models in
``api/requests.py``, the same models that check every request; responses
are described here in plain dicts, and tests check that
every route of the application is described here and that every response the
integration tests receive validates against the schema documented for it
(JSON Schema 2020-12, which OpenAPI 3.1 uses as is). Every operation also
documents the problem+json shape under ``default``: any error may be answered
with it (RFC 9457).
"""

from __future__ import annotations

import enum
from typing import Any

from exchange.analytics import INTERVALS
from exchange.errors import CODES
from exchange.portfolio import Condition, HoldingSource
from exchange.settlement import LedgerKind, SettlementStatus
from exchange.valuation import MARKS
from orderbook.rules import OrderStatus, OrderType, Side, TimeInForce

from .requests import (
    MAX_INT,
    BookQuery,
    CandleQuery,
    HistoryQuery,
    LedgerQuery,
    MyTradesQuery,
    OrdersQuery,
    PortfolioQuery,
    TradesQuery,
    query_parameters,
    request_schemas,
)

__all__ = ["SCHEMAS", "build_openapi", "operation_for"]

Schema = dict[str, Any]

_INT = {"type": "integer"}
_INT_NULL = {"type": ["integer", "null"]}
_STR = {"type": "string"}
_STR_NULL = {"type": ["string", "null"]}
_TIME = {"type": "string", "format": "date-time"}
_TIME_NULL = {"type": ["string", "null"], "format": "date-time"}
_NUM_NULL = {"type": ["number", "null"]}


def _enum(values: type[enum.StrEnum]) -> Schema:
    """The wire values of an enum, named once where the enum is defined."""
    return {"enum": [str(v) for v in values]}


def _obj(props: dict[str, Any], required: list[str] | None = None, **extra: Any) -> Schema:
    schema: Schema = {"type": "object", "properties": props}
    if required is None:
        required = list(props)
    if required:
        schema["required"] = required
    schema.update(extra)
    return schema


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _list_of(key: str, item: str, **more: Any) -> Schema:
    return _obj({**more, key: {"type": "array", "items": _ref(item)}})


_NEXT_BEFORE = {
    "type": ["integer", "null"],
    "description": "Pass as `before` for the next page; null on the last page.",
}


def _page_of(key: str, item: str, **more: Any) -> Schema:
    """A paged list: newest first, with ``next_before``."""
    return _list_of(key, item, **more, next_before=_NEXT_BEFORE)


SCHEMAS: dict[str, Schema] = {
    "Problem": _obj(
        {
            "type": _STR,
            "title": _STR,
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": _STR,
            "code": {
                "enum": list(CODES),
                "description": "; ".join(
                    f"`{code}` ({entry.status}): {entry.meaning}" for code, entry in CODES.items()
                ),
            },
            "instance": _STR,
        },
        ["type", "title", "status", "detail", "code"],
        description="RFC 9457 problem details; `code` is the stable machine name.",
    ),
    "Status": _obj(
        {
            "status": {
                "type": "string",
                "description": "ok / ready, or the state: starting, recovering, "
                "journal_unwritable, store_behind, failed, closing",
            },
            "detail": _STR,
            "store_lag": {"type": "integer", "description": "journal seqs not yet in the store"},
        },
        ["status"],
    ),
    "Config": _obj({"feed_url": {"type": "string", "description": "ws://host:port"}}),
    "AccountCreated": _obj(
        {"account_id": _STR, "api_key": _STR, "name": _STR, "role": _STR},
        ["account_id", "api_key"],
    ),
    "ApiKey": _obj(
        {
            "id": {"type": "string", "description": "key_<n>"},
            "account_id": _STR,
            "label": _STR_NULL,
            "last4": {
                "type": ["string", "null"],
                "description": "The key's last four characters (null for keys made before "
                "they were kept); the key itself and its hash are never shown again.",
            },
            "created_at": _TIME,
            "current": {"type": "boolean", "description": "The key this request carries."},
        },
        ["id", "account_id", "label", "last4", "created_at"],
    ),
    "ApiKeyCreated": _obj(
        {
            "id": _STR,
            "account_id": _STR,
            "label": _STR_NULL,
            "last4": _STR,
            "created_at": _TIME,
            "api_key": {"type": "string", "description": "The key: shown this once."},
        },
    ),
    "ApiKeyList": _list_of("keys", "ApiKey"),
    "SkuRef": _obj({"sku": _STR, "size": _STR}),
    "Product": _obj(
        {
            "style": _STR,
            "name": _STR,
            "brand": _STR,
            "category": _STR_NULL,
            "retail_price_cents": _INT,
            "release_date": _STR_NULL,
            "skus": {"type": "array", "items": _ref("SkuRef")},
        },
        ["style", "name", "brand", "retail_price_cents", "skus"],
    ),
    "ProductList": _list_of("products", "Product"),
    "Range": _obj({"low_cents": _INT_NULL, "high_cents": _INT_NULL}),
    "MarketSummary": _obj(
        {
            "lowest_ask_cents": _INT_NULL,
            "highest_bid_cents": _INT_NULL,
            "last_sale_cents": _INT_NULL,
            "last_sale_time": _TIME_NULL,
            "sales_count": _INT,
            "average_price_cents": _INT_NULL,
            "volume_24h": _INT,
            "volume_cents_24h": _INT,
            "price_premium_pct": _NUM_NULL,
            "volatility": _NUM_NULL,
            "range_12m": {"anyOf": [_ref("Range"), {"type": "null"}]},
            "last_verified_sale_cents": {
                **_INT_NULL,
                "description": "The last sale whose settlement was delivered.",
            },
            "last_verified_sale_time": _TIME_NULL,
            "range_12m_verified": {
                "anyOf": [_ref("Range"), {"type": "null"}],
                "description": "Lowest and highest delivered sale in the last 365 days.",
            },
            "change_24h_pct": _NUM_NULL,
            "change_7d_pct": _NUM_NULL,
            "change_30d_pct": _NUM_NULL,
            "retail_price_cents": _INT,
        },
        [
            "lowest_ask_cents",
            "highest_bid_cents",
            "last_sale_cents",
            "sales_count",
            "volume_24h",
            "price_premium_pct",
            "volatility",
            "range_12m",
        ],
    ),
    "SkuSummary": {
        "allOf": [
            _ref("MarketSummary"),
            _obj(
                {
                    "sku": _STR,
                    "style": _STR,
                    "size": _STR_NULL,
                    "tick_size_cents": _INT,
                    "min_price_cents": _INT,
                    "max_price_cents": _INT,
                    "max_quantity": _INT,
                },
                ["sku", "tick_size_cents", "min_price_cents", "max_price_cents", "max_quantity"],
            ),
        ]
    },
    "ProductSummary": {
        "allOf": [
            _ref("MarketSummary"),
            _obj({"style": _STR, "skus": {"type": "array", "items": _STR}}, ["style"]),
        ]
    },
    "Level": {
        "type": "array",
        "description": "[price_cents, quantity, orders]",
        "prefixItems": [_INT, _INT, _INT],
        "minItems": 2,
    },
    "Book": _obj(
        {
            "sku": _STR,
            "sequence": _INT,
            "bids": {"type": "array", "items": _ref("Level")},
            "asks": {"type": "array", "items": _ref("Level")},
        }
    ),
    "Candle": _obj(
        {
            "start": _TIME,
            "open_cents": _INT,
            "high_cents": _INT,
            "low_cents": _INT,
            "close_cents": _INT,
            "volume": _INT,
        }
    ),
    "Candles": _obj(
        {
            "sku": _STR,
            "style": _STR,
            "interval": {"enum": list(INTERVALS)},
            "candles": {"type": "array", "items": _ref("Candle")},
        },
        ["interval", "candles"],
        description="Empty intervals are omitted (what a candlestick chart expects).",
    ),
    "Order": _obj(
        {
            "id": _INT,
            "client_order_id": _STR_NULL,
            "sku": _STR,
            "side": _enum(Side),
            "type": _enum(OrderType),
            "time_in_force": _enum(TimeInForce),
            "post_only": {"type": "boolean"},
            "price_cents": _INT_NULL,
            "quantity": _INT,
            "filled_quantity": _INT,
            "remaining_quantity": _INT,
            "status": _enum(OrderStatus),
            "cancel_reason": _STR_NULL,
            "created_at": _TIME,
            "updated_at": _TIME_NULL,
            "expires_at": _TIME_NULL,
        },
        [
            "id",
            "client_order_id",
            "sku",
            "side",
            "type",
            "price_cents",
            "quantity",
            "filled_quantity",
            "remaining_quantity",
            "status",
            "created_at",
        ],
    ),
    "Trade": _obj(
        {
            "id": _INT,
            "sku": _STR,
            "price_cents": _INT,
            "quantity": _INT,
            "taker_side": _enum(Side),
            "buy_order_id": _INT_NULL,
            "sell_order_id": _INT_NULL,
            "time": _TIME,
            "settlement_status": _enum(SettlementStatus),
            "side": _enum(Side),
            "role": {"enum": ["maker", "taker"]},
            "ship_by": _TIME_NULL,
        },
        ["id", "sku", "price_cents", "quantity", "taker_side", "time"],
        description="A trade; an account's own fills add side, role, fees and settlement.",
    ),
    "PublicTrades": _page_of("trades", "Trade", sku=_STR),
    "OrderResult": _obj(
        {"order": _ref("Order"), "fills": {"type": "array", "items": _ref("Trade")}}
    ),
    "BatchResult": _obj(
        {
            "results": {
                "type": "array",
                "items": {
                    "oneOf": [
                        _ref("OrderResult"),
                        _obj({"error": _ref("Problem")}),
                    ]
                },
            }
        }
    ),
    "OrderList": _page_of("orders", "Order"),
    "TradeList": _page_of("trades", "Trade"),
    "LedgerEntry": _obj(
        {
            "id": _INT,
            "trade_id": _INT_NULL,
            "kind": _enum(LedgerKind),
            "amount_cents": _INT,
            "time": _TIME,
            "description": _STR,
        },
        ["kind", "amount_cents", "time"],
    ),
    "Ledger": _page_of("entries", "LedgerEntry"),
    "Holding": _obj(
        {
            "id": _INT,
            "sku": _STR,
            "purchase_price_cents": _INT,
            "acquired_at": _TIME,
            "condition": _enum(Condition),
            "source": _enum(HoldingSource),
        },
        ["id", "sku", "purchase_price_cents", "acquired_at", "condition"],
    ),
    "PortfolioItem": {
        "allOf": [
            _ref("Holding"),
            _obj(
                {
                    "mark_cents": _INT_NULL,
                    "market_value_cents": _INT_NULL,
                    "unrealized_gain_cents": _INT_NULL,
                    "net_proceeds_cents": _INT_NULL,
                },
                ["market_value_cents"],
            ),
        ]
    },
    "Portfolio": _obj(
        {
            "mark": {"enum": list(MARKS)},
            "items": {"type": "array", "items": _ref("PortfolioItem")},
            "totals": _obj(
                {
                    "cost_cents": _INT,
                    "market_value_cents": _INT,
                    "unrealized_gain_cents": _INT,
                    "realized_gain_cents": _INT,
                    "unpriced_count": _INT,
                    "count": _INT,
                },
                ["cost_cents", "market_value_cents", "unrealized_gain_cents", "unpriced_count"],
            ),
        }
    ),
    "HistoryPoint": _obj(
        {
            "date": _STR,
            "time": _TIME,
            "value_cents": _INT,
            "cost_cents": _INT,
            "unpriced_count": _INT,
        },
        ["value_cents", "cost_cents", "unpriced_count"],
    ),
    "PortfolioHistory": _obj(
        {
            "interval": _STR,
            "points": {"type": "array", "items": _ref("HistoryPoint")},
            "earlier_end": {
                **_TIME_NULL,
                "description": "Without 'start', at most 10,000 points are given (the latest): "
                "pass this as 'end' for the page before; null when nothing is left out.",
            },
        }
    ),
}


# Request bodies come from their models (api/requests.py): the check and the
# document are one description.
SCHEMAS.update(request_schemas())


def _json_content(schema: Schema) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


_PROBLEM = {
    "description": "An error (RFC 9457 problem details).",
    "content": {"application/problem+json": {"schema": _ref("Problem")}},
}


def _ok(description: str, schema: str, status: str = "200") -> dict[str, Any]:
    return {status: {"description": description, "content": _json_content(_ref(schema))}}


def _path_param(name: str, description: str, integer: bool = False) -> Schema:
    schema: Schema = (
        {"type": "integer", "minimum": 0, "maximum": MAX_INT}
        if integer
        else {"type": "string", "minLength": 1}
    )
    return {"name": name, "in": "path", "required": True, "schema": schema,
            "description": description}


_STYLE = _path_param("style", "Product style, e.g. DZ5485-612.")
_SKU = _path_param("sku", "SKU = style-size, e.g. DZ5485-612-10.")
_ORDER_ID = _path_param("order_id", "Order id.", integer=True)
_TRADE_ID = _path_param("trade_id", "Trade id.", integer=True)
_HOLDING_ID = _path_param("holding_id", "Holding id.", integer=True)
_KEY_ID = _path_param("key_id", "API key id, e.g. key_3 (GET /v1/keys lists them).")
_CANDLE_QUERY = query_parameters(CandleQuery)
_CANDLE_RESPONSES = {
    "200": {
        "description": "Candles, oldest first; intervals without trades are omitted.",
        "content": {
            "application/json": {"schema": _ref("Candles")},
            "text/csv": {"schema": {"type": "string"}},
            "application/vnd.apache.parquet": {
                "schema": {"type": "string", "contentEncoding": "binary"}
            },
        },
    }
}


def _op(
    summary: str,
    responses: dict[str, Any],
    *,
    tag: str,
    public: bool = False,
    optional_auth: bool = False,
    params: list[Schema] | None = None,
    body: str | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "tags": [tag],
        "responses": {**responses, "default": _PROBLEM},
    }
    if public:
        op["security"] = []
    elif optional_auth:
        op["security"] = [{}, {"bearer": []}]
    if params:
        op["parameters"] = params
    if body is not None:
        examples = SCHEMAS[body].get("examples", [])
        content: dict[str, Any] = {"schema": _ref(body)}
        if examples:
            content["example"] = examples[0]
        op["requestBody"] = {"required": True, "content": {"application/json": content}}
    return op


_TEXT = {"text/plain": {"schema": {"type": "string"}}}
_HTML = {"text/html": {"schema": {"type": "string"}}}

PATHS: dict[str, dict[str, dict[str, Any]]] = {
    "/healthz": {"get": _op("Liveness: 200 naming the state; 503 only when a restart is needed",
                            _ok("Alive.", "Status"), tag="ops", public=True)},
    "/readyz": {
        "get": _op("Readiness: 200 while orders are accepted, else 503 not_ready with the state",
                   _ok("Ready.", "Status"), tag="ops", public=True)
    },
    "/metrics": {
        "get": _op("Prometheus metrics: `exchange serve` serves them on their own listener "
                   "(--metrics-host/--metrics-port) only, never on the public port (404 there)",
                   {"200": {"description": "Prometheus text format.", "content": _TEXT}},
                   tag="ops", public=True)
    },
    "/v1/openapi.json": {
        "get": _op("This document",
                   {"200": {"description": "OpenAPI 3.1.",
                            "content": _json_content({"type": "object"})}},
                   tag="ops", public=True)
    },
    "/v1/config": {
        "get": _op("Settings the web page needs (the feed's URL)",
                   _ok("Config.", "Config"), tag="ops", public=True)
    },
    "/v1/accounts": {
        "post": _op(
            "Create an account. Without a key: a trader. With an admin key: any role. "
            "The API key is shown once.",
            _ok("Created.", "AccountCreated", "201"),
            tag="accounts", optional_auth=True, body="AccountRequest",
        )
    },
    "/v1/keys": {
        "post": _op(
            "One more API key for the caller's account (at most 20 live keys: 422 key_limit). "
            "The key is shown once; only its SHA-256 is kept.",
            _ok("Created.", "ApiKeyCreated", "201"), tag="keys", body="KeyRequest",
        ),
        "get": _op("The caller's live API keys, oldest first (never the keys themselves)",
                   _ok("Keys.", "ApiKeyList"), tag="keys"),
    },
    "/v1/keys/{key_id}": {
        "delete": _op(
            "Revoke one of the caller's keys: refused from the next request on, also on an "
            "open websocket session. The request's own key may be revoked (answered 204); "
            "the last one may not (409 last_api_key); another account's key is 404.",
            {"204": {"description": "Revoked."}}, tag="keys", params=[_KEY_ID],
        )
    },
    "/v1/admin/accounts/{account_id}/keys": {
        "get": _op("An account's live API keys (admin)", _ok("Keys.", "ApiKeyList"),
                   tag="keys", params=[_path_param("account_id", "Account id, e.g. acc_3.")])
    },
    "/v1/admin/keys/{key_id}": {
        "delete": _op("Revoke any account's key (admin); another account's last key too, "
                      "which shuts that account out",
                      {"204": {"description": "Revoked."}}, tag="keys", params=[_KEY_ID])
    },
    "/v1/products": {
        "get": _op("List products", _ok("Products.", "ProductList"), tag="catalog", public=True),
        "post": _op("Add a product (admin)", _ok("Created.", "Product", "201"),
                    tag="catalog", body="ProductRequest"),
    },
    "/v1/products/{style}": {
        "get": _op("One product", _ok("Product.", "Product"), tag="catalog", public=True,
                   params=[_STYLE])
    },
    "/v1/products/{style}/summary": {
        "get": _op("Market summary over all sizes", _ok("Summary.", "ProductSummary"),
                   tag="market", public=True, params=[_STYLE])
    },
    "/v1/products/{style}/candles": {
        "get": _op("Candles over all sizes", _CANDLE_RESPONSES, tag="market", public=True,
                   params=[_STYLE, *_CANDLE_QUERY])
    },
    "/v1/skus/{sku}": {
        "get": _op("Market summary and trading rules of a SKU", _ok("Summary.", "SkuSummary"),
                   tag="market", public=True, params=[_SKU])
    },
    "/v1/skus/{sku}/book": {
        "get": _op(
            "L2 order book (released state) with its market-data sequence",
            _ok("Book.", "Book"), tag="market", public=True,
            params=[_SKU, *query_parameters(BookQuery)],
        )
    },
    "/v1/skus/{sku}/trades": {
        "get": _op(
            "Public trades, newest first", _ok("Trades.", "PublicTrades"), tag="market",
            public=True,
            params=[_SKU, *query_parameters(TradesQuery)],
        )
    },
    "/v1/skus/{sku}/candles": {
        "get": _op("OHLCV candles", _CANDLE_RESPONSES, tag="market", public=True,
                   params=[_SKU, *_CANDLE_QUERY])
    },
    "/v1/orders": {
        "post": _op(
            "Place an order (201; 200 replays an idempotent client_order_id)",
            {**_ok("Created.", "OrderResult", "201"),
             **_ok("Idempotent replay of the first placement.", "OrderResult")},
            tag="orders", body="OrderRequest",
        ),
        "get": _op(
            "The caller's orders, newest first (paged)", _ok("Orders.", "OrderList"),
            tag="orders", params=query_parameters(OrdersQuery),
        ),
    },
    "/v1/orders/batch": {
        "post": _op("Place up to 100 orders; one result or problem per order",
                    _ok("Results in order.", "BatchResult"), tag="orders", body="BatchRequest")
    },
    "/v1/orders/{order_id}": {
        "get": _op("One of the caller's orders", _ok("Order.", "OrderResult"), tag="orders",
                   params=[_ORDER_ID]),
        "patch": _op("Amend quantity (new total) and/or price", _ok("Amended.", "OrderResult"),
                     tag="orders", params=[_ORDER_ID], body="AmendRequest"),
        "delete": _op("Cancel an open order", _ok("Canceled.", "OrderResult"), tag="orders",
                      params=[_ORDER_ID]),
    },
    "/v1/trades": {
        "get": _op(
            "The caller's own fills, newest first (paged); an authenticator's: every trade",
            _ok("Trades.", "TradeList"),
            tag="trades",
            params=query_parameters(MyTradesQuery),
        )
    },
    "/v1/trades/{trade_id}/ship": {
        "post": _op("The seller marks the item shipped", _ok("Trade.", "Trade"),
                    tag="settlement", params=[_TRADE_ID])
    },
    "/v1/trades/{trade_id}/authenticate": {
        "post": _op("Authentication verdict (authenticator role)", _ok("Trade.", "Trade"),
                    tag="settlement", params=[_TRADE_ID], body="AuthenticateRequest")
    },
    "/v1/ledger": {"get": _op("The caller's ledger, newest first (paged)",
                              _ok("Entries.", "Ledger"), tag="settlement",
                              params=query_parameters(LedgerQuery))},
    "/v1/portfolio": {
        "get": _op(
            "Holdings valued at a mark", _ok("Portfolio.", "Portfolio"), tag="portfolio",
            params=query_parameters(PortfolioQuery),
        )
    },
    "/v1/portfolio/items": {
        "post": _op("Add an item by hand", _ok("Added.", "Holding", "201"), tag="portfolio",
                    body="HoldingRequest")
    },
    "/v1/portfolio/items/{holding_id}": {
        "delete": _op("Remove a hand-added item", {"204": {"description": "Removed."}},
                      tag="portfolio", params=[_HOLDING_ID])
    },
    "/v1/portfolio/history": {
        "get": _op(
            "Portfolio value over time (as-of each day's last sale)",
            _ok("History.", "PortfolioHistory"), tag="portfolio",
            params=query_parameters(HistoryQuery),
        )
    },
    # The web page (api/web.py).
    "/": {"get": _op("The web page", {"200": {"description": "HTML.", "content": _HTML}},
                     tag="web", public=True)},
    "/index.html": {"get": _op("The web page", {"200": {"description": "HTML.",
                                                         "content": _HTML}},
                               tag="web", public=True)},
    "/favicon.ico": {"get": _op("Icon", {"200": {"description": "SVG icon."}}, tag="web",
                                public=True)},
    "/static/{path}": {"get": _op("The page's CSS and ES modules",
                                  {"200": {"description": "A file."}}, tag="web", public=True,
                                  params=[_path_param("path", "File path.")])},
    "/vendor/lightweight-charts/{name}": {
        "get": _op("TradingView Lightweight Charts (from node_modules)",
                   {"200": {"description": "A file."}}, tag="web", public=True,
                   params=[_path_param("name", "File name.")])
    },
}


def build_openapi() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document as a JSON-able dict."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Resale Exchange",
            "version": "1.0.0",
            "description": (
                "A stock market of things: limit order books per SKU, matching, settlement, "
                "market data and portfolios. Money is integer cents; times are RFC 3339 UTC. "
                "Errors are RFC 9457 problem+json with a stable `code`. Per-key rate limits "
                "answer 429 with Retry-After."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "An API key."}
            },
        },
    }


def operation_for(method: str, path: str) -> dict[str, Any] | None:
    """The operation documented for ``method`` on a path pattern, or None."""
    return PATHS.get(path, {}).get(method.lower())
