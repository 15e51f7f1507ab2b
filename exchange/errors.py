"""The venue's error tree: one class, and the one table of its codes.

Every refusal is an :class:`ExchangeError` with a stable machine ``code`` and
a sentence for a person. :data:`CODES` is the only list of codes: each with
its HTTP status and what it means. ``api/`` renders an error as RFC 9457
problem+json (``code``, ``status``, ``detail``) and documents the list in its
OpenAPI document; ``feeds/`` has its own, smaller protocol codes. Never reuse
a code for two causes; a code missing from the table is a bug (a test scans
the source for every code raised) and answers 500, never a silent 400.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CODES", "STATUS_BY_CODE", "Code", "ExchangeError"]


@dataclass(frozen=True, slots=True)
class Code:
    """One error code: its HTTP status and what it means."""

    status: int
    meaning: str


CODES: dict[str, Code] = {
    # The request itself.
    "invalid_json": Code(400, "The request body is not a JSON document."),
    "invalid_request": Code(400, "The HTTP request is malformed."),
    "http_error": Code(400, "The HTTP request was refused."),
    "validation_error": Code(422, "A field or parameter has a wrong type or value."),
    "unknown_field": Code(422, "A field or query parameter the endpoint does not take."),
    "payload_too_large": Code(413, "The request body is larger than the limit."),
    "unsupported_media_type": Code(415, "The request body's media type is not JSON."),
    "method_not_allowed": Code(405, "The resource does not take this method."),
    "request_timeout": Code(408, "The request body did not arrive in time."),
    "batch_too_large": Code(422, "A batch holds more orders than allowed."),
    "range_too_large": Code(400, "A time range holds more points than allowed."),
    # Who asks.
    "unauthorized": Code(401, "The API key is missing or not known."),
    "forbidden": Code(403, "The account's role may not do this."),
    "rate_limited": Code(429, "Too many requests; retry after Retry-After seconds."),
    # What is asked about.
    "not_found": Code(404, "No such resource, or not the caller's."),
    "unknown_sku": Code(404, "No such SKU in the catalog."),
    "unknown_product": Code(404, "No such product style in the catalog."),
    "unknown_trade": Code(404, "No such trade."),
    "unknown_order": Code(404, "No such order in the book."),
    # Orders against a SKU's rules (also the book's reject reasons).
    "off_tick": Code(422, "The price is not a multiple of the SKU's tick."),
    "price_out_of_band": Code(422, "The price is outside the SKU's price band."),
    "quantity_out_of_range": Code(422, "The quantity is outside the SKU's limits."),
    "missing_price": Code(422, "A limit order needs a price."),
    "invalid_order": Code(422, "The order type, time in force and flags do not combine."),
    "expiry_in_past": Code(422, "The order would expire before it is placed."),
    "quantity_at_or_below_filled": Code(422, "An amended quantity must exceed what is filled."),
    # Conflicts with the state.
    "order_not_open": Code(409, "The order is no longer open."),
    "client_order_id_reused": Code(409, "The client_order_id was used for another order."),
    "post_only_would_take": Code(409, "A post-only order would have traded."),
    "duplicate_order_id": Code(409, "The order id is already in the book."),
    "product_exists": Code(409, "The product style or one of its SKUs exists."),
    "invalid_settlement_transition": Code(409, "The trade's settlement is not at that step."),
    "ship_deadline_passed": Code(409, "The ship-by time has passed."),
    "last_api_key": Code(409, "An account cannot revoke its own last API key."),
    # Per-account limits (Engine.max_open_orders, Engine.max_holdings, Accounts.max_keys).
    "open_order_limit": Code(422, "The account has as many open orders as it may."),
    "holding_limit": Code(422, "The portfolio has as many items as it may."),
    "key_limit": Code(422, "The account holds as many API keys as it may."),
    # The server.
    "not_ready": Code(503, "The exchange is recovering or cannot write its journal."),
    "shutting_down": Code(503, "The exchange is shutting down; retry in a moment."),
    "store_unavailable": Code(503, "The trade store did not answer in time; retry."),
    "store_behind": Code(503, "The trade store has not caught up with the journal yet; retry."),
    "too_many_connections": Code(503, "The server or the address holds its connection limit."),
    "internal_error": Code(500, "An unexpected error; it has been logged."),
}
"""Every error code: its HTTP status and meaning."""

STATUS_BY_CODE: dict[str, int] = {code: entry.status for code, entry in CODES.items()}
"""code -> HTTP status, from :data:`CODES`."""


class ExchangeError(Exception):
    """A refusal with a stable ``code`` and a human ``message``.

    Raised (or returned) for bad input; it means nothing changed. A code not
    in :data:`CODES` gets status 500: it is a bug, and shows as one.
    """

    def __init__(self, code: str, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status if status is not None else STATUS_BY_CODE.get(code, 500)

    def __repr__(self) -> str:
        return f"ExchangeError({self.code!r}, {self.message!r})"
