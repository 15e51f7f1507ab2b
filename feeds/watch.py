"""``exchange watch SKU... [--api-key KEY]``: a live terminal view of SKUs from the feed.

Per SKU: the ticker line (best bid and ask, last sale, 24h change and
volume), the top 5 levels of each side of the verified local book, and the
latest trades: the last few from the REST API (``api_url``) at once, then
live. It uses :class:`feeds.client.FeedClient`, so the book is checked by
sequence and checksum and resyncs by itself, and the view survives a restart
of the server (it reconnects, and fills in the trades it missed).

With an API key the view starts with the account's panel
(:mod:`feeds.accountview`): its open orders and fills, live from the private
stream (:class:`feeds.trading.TradingSession`); SKUs are then optional.

A refusal of the subscription itself (an unknown SKU, too many SKUs) ends
the watch with :class:`WatchError`: the server subscribes nothing of a
refused request, so the view would otherwise wait forever.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from exchange.fees import format_cents

from .accountview import AccountView, render_account
from .client import FeedClient, LocalBook
from .trading import AuthError, TradingSession

__all__ = ["FATAL_ERROR_CODES", "WatchError", "WatchState", "money", "render", "run_watch"]

DEPTH = 5
TRADES = 8

# Error codes that refuse the whole subscribe request (feeds.protocol): none
# of the watched SKUs will ever get data, so waiting is pointless.
FATAL_ERROR_CODES = frozenset(
    {"unknown_sku", "unknown_channel", "too_many_subscriptions", "invalid_message"}
)


class WatchError(Exception):
    """The feed refused what the watch asked for (e.g. an unknown SKU)."""


def money(cents: int | None) -> str:
    """Format integer cents as dollars with integer math (no floats)."""
    return "—" if cents is None else format_cents(cents)


@dataclass
class _SkuView:
    ticker: dict[str, Any] | None = None
    book: LocalBook | None = None
    trades: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=TRADES))


@dataclass
class WatchState:
    """What the view shows; fed by the client's callbacks."""

    skus: list[str]
    views: dict[str, _SkuView] = field(default_factory=dict)
    status: str = "connecting"
    errors: deque[str] = field(default_factory=lambda: deque(maxlen=3))
    fatal: str | None = None

    def __post_init__(self) -> None:
        for sku in self.skus:
            self.views.setdefault(sku, _SkuView())

    def on_ticker(self, message: dict[str, Any]) -> None:
        view = self.views.get(message["sku"])
        if view is not None:
            view.ticker = message

    def on_trade(self, message: dict[str, Any]) -> None:
        self.add_trades(message["sku"], [message])

    def add_trades(self, sku: str, trades: Sequence[dict[str, Any]]) -> None:
        """Merge trades into the SKU's latest (newest first, each id once)."""
        view = self.views.get(sku)
        if view is None:
            return
        merged = {t["id"]: t for t in [*view.trades, *trades]}
        view.trades.clear()
        view.trades.extend(sorted(merged.values(), key=lambda t: t["id"], reverse=True)[:TRADES])

    def on_book(self, sku: str, book: LocalBook) -> None:
        view = self.views.get(sku)
        if view is not None:
            view.book = book

    def on_error(self, message: dict[str, Any]) -> None:
        text = f"{message.get('code')}: {message.get('message')}"
        self.errors.append(text)
        if message.get("code") in FATAL_ERROR_CODES and self.fatal is None:
            self.fatal = text


def _ticker_line(ticker: dict[str, Any] | None, book: LocalBook | None) -> Text:
    bid = ticker.get("best_bid_cents") if ticker else (book.best_bid() if book else None)
    ask = ticker.get("best_ask_cents") if ticker else (book.best_ask() if book else None)
    line = Text()
    line.append("bid ", style="dim")
    line.append(money(bid), style="bold green")
    line.append("   ask ", style="dim")
    line.append(money(ask), style="bold red")
    if ticker:
        line.append("   last ", style="dim")
        line.append(money(ticker.get("last_sale_cents")), style="bold")
        change = ticker.get("change_24h_pct")
        if change is not None:
            line.append("   24h ", style="dim")
            line.append(f"{change:+.2f}%", style="green" if change >= 0 else "red")
        line.append("   vol 24h ", style="dim")
        line.append(str(ticker.get("volume_24h", 0)))
    return line


def _book_table(book: LocalBook | None, synced: bool) -> Table:
    table = Table(expand=True, show_edge=False, pad_edge=False)
    table.add_column("bid qty", justify="right", style="green")
    table.add_column("bid", justify="right", style="green")
    table.add_column("ask", justify="right", style="red")
    table.add_column("ask qty", justify="right", style="red")
    bids = book.bids(DEPTH) if book else []
    asks = book.asks(DEPTH) if book else []
    for i in range(max(len(bids), len(asks), 1)):
        bp, bq = bids[i] if i < len(bids) else (None, None)
        ap, aq = asks[i] if i < len(asks) else (None, None)
        table.add_row(
            "" if bq is None else str(bq),
            "" if bp is None else money(bp),
            "" if ap is None else money(ap),
            "" if aq is None else str(aq),
        )
    if not synced:
        table.caption = "resyncing…"
    return table


def _trades_table(trades: Sequence[dict[str, Any]]) -> Table:
    table = Table(expand=True, show_edge=False, pad_edge=False)
    table.add_column("time")
    table.add_column("price", justify="right")
    table.add_column("qty", justify="right")
    table.add_column("taker")
    for trade in trades:
        style = "green" if trade.get("taker_side") == "bid" else "red"
        table.add_row(
            str(trade.get("time", ""))[11:23],
            Text(money(trade.get("price_cents")), style=style),
            str(trade.get("quantity")),
            "buy" if trade.get("taker_side") == "bid" else "sell",
        )
    return table


def render(
    state: WatchState,
    client: FeedClient | None = None,
    account: tuple[AccountView, TradingSession] | None = None,
) -> RenderableType:
    """The whole view as one rich renderable."""
    panels: list[RenderableType] = []
    if account is not None:
        panels.append(render_account(*account))
    for sku in state.skus:
        view = state.views[sku]
        synced = client.synced(sku) if client is not None else view.book is not None
        body = Group(
            _ticker_line(view.ticker, view.book),
            _book_table(view.book, synced),
            Text("latest trades", style="bold"),
            _trades_table(view.trades),
        )
        panels.append(Panel(body, title=f"[bold]{sku}", expand=True))
    footer = Text(f"feed: {state.status}", style="dim")
    for error in state.errors:
        footer.append(f"\n{error}", style="yellow")
    panels.append(footer)
    return Group(*panels)


async def run_watch(
    url: str,
    skus: Sequence[str],
    *,
    api_url: str | None = None,
    console: Console | None = None,
    refresh_per_second: float = 8.0,
    duration: float | None = None,
    api_key: str | None = None,
) -> None:
    """Show SKUs live until interrupted (or for ``duration`` seconds).

    Args:
        url: the feed's ``ws://`` address.
        skus: SKUs to watch.
        api_url: the REST API (``http://``) for the latest trades at start
            and for trades missed while reconnecting; None: live ones only.
        console: where to draw (a default terminal console when None).
        refresh_per_second: redraws per second.
        duration: stop after this many seconds (None: run until cancelled).
        api_key: show this account's open orders and fills too.

    Raises:
        WatchError: the feed refused the subscription (its ``code: message``),
            or the API key.
    """
    state = WatchState(list(skus))
    client = FeedClient(
        url,
        on_ticker=state.on_ticker,
        on_trade=state.on_trade,
        on_book=state.on_book,
        on_error=state.on_error,
        rest_url=api_url,
    )
    console = console or Console()
    loop = asyncio.get_running_loop()
    deadline = None if duration is None else loop.time() + duration
    account: tuple[AccountView, TradingSession] | None = None
    if api_key is not None:
        view = AccountView()
        session = TradingSession(url, api_key, on_fill=view.on_fill)
        try:
            await session.start()
        except (AuthError, OSError, TimeoutError, ConnectionError) as exc:
            raise WatchError(str(exc)) from None
        account = (view, session)
    with Live(render(state, client, account), console=console, auto_refresh=False) as live:
        runner = asyncio.create_task(client.start())
        history: asyncio.Task[None] | None = None
        try:
            subscribed = False
            while deadline is None or loop.time() < deadline:
                if runner.done() and not subscribed and state.skus:
                    await client.subscribe(["ticker", "trades", "book"], list(state.skus))
                    subscribed = True
                    if api_url is not None:
                        history = asyncio.create_task(_latest_trades(client, state))
                state.status = f"{url} connected" if client.connected else f"{url} connecting…"
                live.update(render(state, client, account), refresh=True)
                if state.fatal is not None:
                    raise WatchError(state.fatal)
                await asyncio.sleep(1 / refresh_per_second)
        finally:
            if history is not None:
                history.cancel()
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
            await client.close()
            if account is not None:
                await account[1].close()


async def _latest_trades(client: FeedClient, state: WatchState) -> None:
    """Put each SKU's last few trades in the view (a failure shows in the footer)."""
    for sku in state.skus:
        try:
            state.add_trades(sku, await client.fetch_trades(sku, limit=TRADES))
        except (OSError, TimeoutError, ValueError) as exc:
            state.errors.append(f"no trade history for {sku} from {client.rest_url}: {exc}")
