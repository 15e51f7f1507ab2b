"""Order entry: place, place a batch, amend, cancel, answered as the REST API answers.

The REST handlers (``api/orders.py``) and the websocket order entry
(``feeds/private.py``) both call these functions, so an order sent either way
is checked by the same models (:mod:`exchange.bodies`), placed by the same
venue call and answered with the same status and body: ``(201, {"order",
"fills"})`` for a new order, ``(200, ...)`` for an idempotent repeat of its
``client_order_id`` (shared by both edges, since the venue keeps it), ``(200,
{"results": [...]})`` for a batch. A refusal is raised as an
:class:`exchange.errors.ExchangeError` that the edge renders as an RFC 9457
problem (:func:`exchange.problems.problem_from_error`) with the REST path as
``instance`` (:func:`order_path`, :data:`ORDERS_PATH`, :data:`BATCH_PATH`).

Each answer is given only once the command is journaled and fsynced (the
venue's rule), whichever edge asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from .accounts import Account
from .bodies import MAX_BATCH, AmendRequest, BatchRequest, parse_body, parse_order, wire_fields
from .errors import ExchangeError
from .problems import problem_from_error

__all__ = [
    "BATCH_PATH",
    "ORDERS_PATH",
    "OrderDesk",
    "amend_order",
    "batch_size",
    "batch_why",
    "cancel_order",
    "envelope",
    "order_path",
    "place_batch",
    "place_order",
]

ORDERS_PATH = "/v1/orders"
BATCH_PATH = "/v1/orders/batch"


def order_path(order_id: int) -> str:
    """The REST path of one order (a problem's ``instance``)."""
    return f"{ORDERS_PATH}/{order_id}"


class OrderDesk(Protocol):
    """What order entry needs of a venue (a part of :class:`exchange.venueapi.VenueApi`)."""

    async def place_order(self, account: Account, body: object) -> tuple[int, dict[str, Any]]:
        """Place an order: (201 or 200 for a replay, {"order", "fills"})."""
        ...

    async def place_orders(
        self, account: Account, bodies: Sequence[object]
    ) -> list[dict[str, Any]]:
        """Place orders as one group; one answer or {"error"} per body."""
        ...

    async def amend_order(self, account: Account, order_id: int, body: object) -> dict[str, Any]:
        """Amend an open order: {"order", "fills"}."""
        ...

    async def cancel_order(self, account: Account, order_id: int) -> dict[str, Any]:
        """Cancel an open order: its final state."""
        ...


def envelope(order: dict[str, Any], fills: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """``{"order", "fills"}``: an order's state after a request and the trades it made.

    Every order-returning answer has this shape (no fills for a read or a
    cancel; an order's past fills are in ``GET /v1/trades``).
    """
    return {"order": order, "fills": fills or []}


def batch_size(body: object) -> int:
    """How many orders a batch body holds (0 when it holds no list)."""
    orders = body.get("orders") if isinstance(body, dict) else None
    return len(orders) if isinstance(orders, list) else 0


def batch_why(n: int) -> str:
    """Why a batch of ``n`` orders was rate limited (the start of the problem's detail)."""
    return f"A batch of {n} orders counts as {n} requests against your key's rate limit"


async def place_order(
    desk: OrderDesk, account: Account, body: object
) -> tuple[int, dict[str, Any]]:
    """Place one order: 201 new, 200 idempotent replay of its ``client_order_id``."""
    order = parse_order(body)
    status, result = await desk.place_order(account, order)
    return status, envelope(result["order"], result.get("fills"))


async def place_batch(
    desk: OrderDesk, account: Account, body: object
) -> tuple[int, dict[str, Any]]:
    """Place up to 100 orders as one group; 200 with one result (or problem) per order.

    A batch that breaks the contract (an item that is not an order) is refused
    whole; refusals that depend on the market (a tick, a band) come per order,
    each a problem without ``instance`` (the answer's own path is the batch's).
    """
    n = batch_size(body)
    if n > MAX_BATCH:
        raise ExchangeError(
            "batch_too_large", f"A batch holds at most {MAX_BATCH} orders; got {n}."
        )
    batch = parse_body(BatchRequest, body)
    items = [
        parse_order(item, prefix=f"orders[{i}].", what=f"order {i} of the batch")
        for i, item in enumerate(batch.orders)
    ]
    placed = await desk.place_orders(account, items) if items else []
    results: list[dict[str, Any]] = []
    for outcome in placed:
        error = outcome.get("error")
        if isinstance(error, ExchangeError):
            results.append({"error": problem_from_error(error)})
        elif isinstance(error, dict):
            results.append({"error": error})
        else:
            results.append(envelope(outcome["order"], outcome.get("fills")))
    return 200, {"results": results}


async def amend_order(
    desk: OrderDesk, account: Account, order_id: int, body: object
) -> tuple[int, dict[str, Any]]:
    """Change quantity (new total) and/or price of an open order: 200 ``{"order", "fills"}``."""
    amend = wire_fields(parse_body(AmendRequest, body))
    if not amend:
        raise ExchangeError("validation_error", "Send 'quantity' and/or 'price_cents'.")
    result = await desk.amend_order(account, order_id, amend)
    return 200, envelope(result["order"], result.get("fills"))


async def cancel_order(
    desk: OrderDesk, account: Account, order_id: int
) -> tuple[int, dict[str, Any]]:
    """Cancel an open order: 200 with its final state as ``{"order", "fills": []}``."""
    return 200, envelope(await desk.cancel_order(account, order_id))
