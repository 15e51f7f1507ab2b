"""What the command line draws in a terminal: the portfolio table.

It fits an 80-column terminal: short headers, money never cut (a money
column is as wide as its longest figure), a SKU too long for the room left
ends with an ellipsis; counts say "1 item" and "2 items".
"""

from __future__ import annotations

from typing import Any

from exchange.fees import format_cents

__all__ = ["money", "plural", "print_portfolio"]


def money(cents: int | None) -> str:
    """Integer cents as dollars (``$1,234.56``), ``-`` for none."""
    return "-" if cents is None else format_cents(cents)


def plural(count: int, noun: str) -> str:
    """``1 item``, ``2 items``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def print_portfolio(data: dict[str, Any], console: Any = None) -> None:
    """Print a portfolio answer (``GET /v1/portfolio``) as a table that fits 80 columns.

    Money is never cut: its columns are as wide as their longest figure, and
    a SKU too long for what is left ends with an ellipsis. Each item is one
    holding of one unit, so its value is its mark (the title names the mark).
    """
    from rich import box
    from rich.console import Console
    from rich.table import Table

    # With mark=highest_bid the API also gives what a sale now would pay out
    # after seller fees; a seller wants that figure next to the gross value.
    net = data.get("mark") == "highest_bid"
    items = data.get("items", [])
    rows = [
        [
            str(item.get("id")),
            str(item.get("sku")),
            str(item.get("condition", "")),
            money(item.get("purchase_price_cents")),
            money(item.get("market_value_cents")),
            money(item.get("unrealized_gain_cents")),
            *([money(item.get("net_proceeds_cents"))] if net else []),
        ]
        for item in items
    ]
    totals = data.get("totals", {})
    total_row = [
        "total", plural(int(totals.get("count", len(items))), "item"), "",
        money(totals.get("cost_cents")), money(totals.get("market_value_cents")),
        money(totals.get("unrealized_gain_cents")),
        *([money(totals.get("net_proceeds_cents"))] if net else []),
    ]
    headers = ["id", "SKU", "cond", "cost", "value", "gain", *(["net"] if net else [])]
    table = Table(title=f"Portfolio (mark: {data.get('mark')})", box=box.SIMPLE_HEAD,
                  show_edge=False, pad_edge=False, collapse_padding=True,
                  caption="net: what a sale at the highest bid pays after seller fees"
                  if net else None)
    console = console or Console()
    widths = [max(len(row[i]) for row in [*rows, total_row, headers])
              for i in range(len(headers))]
    # Two characters between columns; the SKU gets what the others leave.
    room = console.width - (sum(widths) - widths[1]) - 2 * (len(headers) - 1)
    for header, width in zip(headers, widths, strict=True):
        if header == "SKU":
            table.add_column(header, no_wrap=True, overflow="ellipsis",
                             width=max(6, min(width, room)))
        else:
            table.add_column(header, no_wrap=True, width=width,
                             justify="left" if header in ("id", "cond") else "right")
    for row in rows:
        table.add_row(*row)
    table.add_section()
    table.add_row(*total_row)
    console.print(table)
    console.print(
        f"realized gain: {money(totals.get('realized_gain_cents'))}   "
        f"unpriced: {plural(int(totals.get('unpriced_count', 0)), 'item')}"
    )
