"""What things are worth now: best prices across sizes and portfolios at a mark.

Two rules live here, for the REST app and the command line alike:

- a product's best bid is the highest bid over its sizes and its best ask the
  lowest ask (:func:`best_across`);
- a portfolio valued at the highest bid counts what the holder would
  receive after the seller's fees at the holder's fee level now
  (:func:`net_proceeds`, used by :func:`value_portfolio`).

Live best prices and the fee level are read on the event loop, where the
venue's state is consistent; only the store queries go to a worker thread,
so the loop keeps serving orders meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .accounts import Account
from .fees import FeeSchedule, compute_trade_fees
from .venueapi import VenueApi

__all__ = [
    "best_across",
    "net_proceeds",
    "product_summary",
    "sku_summary",
    "value_portfolio",
]

Best = tuple[int | None, int | None]


def best_across(bests: Iterable[Best]) -> Best:
    """The highest bid and the lowest ask over several books (None where none has one).

    >>> best_across([(100, 300), (150, None), (None, 250)])
    (150, 250)
    """
    bids: list[int] = []
    asks: list[int] = []
    for bid, ask in bests:
        if bid is not None:
            bids.append(bid)
        if ask is not None:
            asks.append(ask)
    return (max(bids) if bids else None, min(asks) if asks else None)


def net_proceeds(schedule: FeeSchedule, level: int) -> Callable[[int], int]:
    """Price -> what a seller at fee ``level`` receives for one unit, after fees."""

    def net(price_cents: int) -> int:
        return compute_trade_fees(schedule, price_cents, 1, level).seller_payout_cents

    return net


async def value_portfolio(
    venue: VenueApi, account: Account, mark: str, now_ns: int
) -> dict[str, Any]:
    """An account's portfolio valued at ``mark`` at ``now_ns`` (``GET /v1/portfolio``).

    Raises:
        ExchangeError: ``validation_error`` for an unknown mark.
    """
    mirror = venue.mirror
    bests = {sku: mirror.best(sku) for sku in mirror.skus()}
    net_fn = None
    if mark == "highest_bid":
        net_fn = net_proceeds(venue.fee_schedule, venue.seller_level(account, now_ns))
    result: dict[str, Any] = await asyncio.to_thread(
        venue.analytics.portfolio, account.id, mark, now_ns=now_ns, bests=bests, net_fn=net_fn
    )
    return result


async def sku_summary(venue: VenueApi, sku: str, now_ns: int) -> dict[str, Any]:
    """A SKU's trading rules and market summary, with its live best prices.

    Raises:
        ExchangeError: ``unknown_sku``.
    """
    rules = venue.sku_rules(sku)
    bid, ask = venue.mirror.best(rules["sku"])
    summary: dict[str, Any] = await asyncio.to_thread(
        venue.analytics.sku_summary,
        rules["sku"],
        now_ns=now_ns,
        retail_price_cents=rules["retail_price_cents"],
        best_bid=bid,
        best_ask=ask,
    )
    return {**rules, **summary}


async def product_summary(venue: VenueApi, style: str, now_ns: int) -> dict[str, Any]:
    """A product's market summary over its sizes, best prices merged across them.

    Raises:
        ExchangeError: ``unknown_product``.
    """
    product = venue.product(style)
    skus: Sequence[str] = [s["sku"] for s in product["skus"]]
    best_bid, best_ask = best_across(venue.mirror.best(s) for s in skus)
    summary: dict[str, Any] = await asyncio.to_thread(
        venue.analytics.product_summary,
        product["style"],
        now_ns=now_ns,
        retail_price_cents=product["retail_price_cents"],
        best_bid=best_bid,
        best_ask=best_ask,
        skus=skus,
    )
    out: dict[str, Any] = {"style": product["style"], "name": product["name"], "skus": skus}
    out.update(summary)
    out["lowest_ask_cents"] = best_ask
    out["highest_bid_cents"] = best_bid
    return out
