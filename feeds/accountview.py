"""The account panel of ``exchange watch --api-key KEY``: open orders and fills, live.

Fed by a :class:`feeds.trading.TradingSession` (the private ``orders`` and
``account`` channels): the open orders are the session's own verified copy
(snapshot plus updates, resynced on a gap), the fills are the newest ones
heard since the watch started.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from exchange.fees import format_cents

from .trading import TradingSession

__all__ = ["FILLS", "ORDERS", "AccountView", "render_account"]

ORDERS = 12
FILLS = 8


@dataclass
class AccountView:
    """The fills heard so far (newest first); the orders are the session's."""

    fills: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=FILLS))

    def on_fill(self, message: dict[str, Any]) -> None:
        """The session's ``fill`` callback."""
        self.fills.appendleft(message["trade"])


def _money(cents: int | None) -> str:
    return "—" if cents is None else format_cents(cents)


def _orders_table(orders: list[dict[str, Any]]) -> Table:
    table = Table(expand=True, show_edge=False, pad_edge=False, title="open orders")
    for name, justify in (("id", "right"), ("sku", "left"), ("side", "left"),
                          ("price", "right"), ("filled", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for order in orders[:ORDERS]:
        style = "green" if order["side"] == "bid" else "red"
        table.add_row(
            str(order["id"]),
            order["sku"],
            Text("buy" if order["side"] == "bid" else "sell", style=style),
            _money(order.get("price_cents")),
            f"{order['filled_quantity']}/{order['quantity']}",
        )
    if len(orders) > ORDERS:
        table.caption = f"and {len(orders) - ORDERS} more"
    return table


def _fills_table(fills: list[dict[str, Any]]) -> Table:
    table = Table(expand=True, show_edge=False, pad_edge=False, title="latest fills")
    for name, justify in (("time", "left"), ("sku", "left"), ("side", "left"),
                          ("price", "right"), ("qty", "right"), ("fee", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for fill in fills:
        style = "green" if fill.get("side") == "bid" else "red"
        table.add_row(
            str(fill.get("time", ""))[11:23],
            str(fill.get("sku")),
            Text("buy" if fill.get("side") == "bid" else "sell", style=style),
            _money(fill.get("price_cents")),
            str(fill.get("quantity")),
            _money(fill.get("fee_cents")),
        )
    return table


def render_account(view: AccountView, session: TradingSession) -> RenderableType:
    """The account panel: open orders (newest first) and the latest fills."""
    orders = sorted(session.orders.values(), key=lambda o: o["id"], reverse=True)
    body = Group(_orders_table(orders), _fills_table(list(view.fills)))
    state = "live" if session.connected and session.synced else "connecting…"
    title = f"[bold]account {session.account_id or ''}[/] [dim]{state}"
    return Panel(body, title=title, expand=True)
