"""The venue's error tree: one class, stable machine codes, an HTTP status hint.

``api/`` renders an :class:`ExchangeError` as RFC 9457 problem+json with
``code``, ``status`` and ``detail`` (the sentence for a person); ``feeds/``
uses the same codes in its ``error`` messages. Never reuse a code for two
causes.
"""

from __future__ import annotations

__all__ = ["STATUS_BY_CODE", "ExchangeError"]

# code -> HTTP status. Book reject reasons map onto these codes too.
STATUS_BY_CODE: dict[str, int] = {
    "invalid_json": 400,
    "validation_error": 422,
    "unknown_field": 422,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "unknown_sku": 404,
    "unknown_product": 404,
    "unknown_trade": 404,
    "off_tick": 422,
    "price_out_of_band": 422,
    "quantity_out_of_range": 422,
    "missing_price": 422,
    "invalid_order": 422,
    "expiry_in_past": 422,
    "quantity_at_or_below_filled": 422,
    "order_not_open": 409,
    "client_order_id_reused": 409,
    "product_exists": 409,
    "invalid_settlement_transition": 409,
    "ship_deadline_passed": 409,
    # Book reject reasons (orderbook.rules.RejectReason) that the engine raises as they are.
    "post_only_would_take": 409,
    "duplicate_order_id": 409,
    "unknown_order": 404,
    "payload_too_large": 413,
    "rate_limited": 429,
    "batch_too_large": 422,
    "range_too_large": 400,
    "not_ready": 503,
}


class ExchangeError(Exception):
    """A refusal with a stable ``code`` and a human ``message``.

    Raised (or returned) for bad input; it means nothing changed.
    """

    def __init__(self, code: str, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status if status is not None else STATUS_BY_CODE.get(code, 400)

    def __repr__(self) -> str:
        return f"ExchangeError({self.code!r}, {self.message!r})"
