"""What the edges need of a venue: typed protocols, one per consumer.

The REST app (``api/``) holds a :class:`VenueApi`, the websocket feed
(``feeds/``) a :class:`FeedSource` and, for its authenticated sessions (the
private stream and order entry), an :class:`AccountSource`. :class:`exchange.venue.Venue` (the
single-process venue) provides both; cluster mode provides a second
implementation of the same protocols, and the edges do not change. Nothing
here is an implementation: these are the promises the edges rely on.

Commands go in as requests (place, amend, cancel, ship, ...), are journaled
and answered once durable; reads come from the released state (the L2 books
in :attr:`VenueApi.mirror`, accounts, orders, trades) or from history
(:attr:`VenueApi.analytics`, blocking queries to run off the event loop).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from .accountfeed import AccountBatch
from .accounts import Account
from .fees import FeeSchedule
from .health import Health
from .history import Page
from .keys import KeyRevoked
from .marketdata import L2Mirror
from .orderentry import OrderDesk

__all__ = ["AccountSource", "Analytics", "FeedSource", "VenueApi"]

Bests = Mapping[str, tuple[int | None, int | None]]


class Analytics(Protocol):
    """History queries over the trade store; each blocks, so run it in a thread."""

    def sku_summary(
        self,
        sku: str,
        *,
        now_ns: int,
        retail_price_cents: int | None = None,
        best_bid: int | None = None,
        best_ask: int | None = None,
    ) -> dict[str, Any]:
        """Market summary of one SKU as of ``now_ns``."""
        ...

    def product_summary(
        self,
        style: str,
        *,
        now_ns: int,
        retail_price_cents: int | None = None,
        best_bid: int | None = None,
        best_ask: int | None = None,
        skus: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Market summary of a product over its sizes."""
        ...

    def candles(
        self,
        skus: Sequence[str],
        interval: str = "1h",
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> list[dict[str, Any]]:
        """OHLCV candles of ``skus`` in ``[start_ns, end_ns)``, empty intervals omitted."""
        ...

    def export_candles(
        self,
        skus: Sequence[str],
        interval: str,
        fmt: str,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> bytes:
        """The same candles encoded as ``json``, ``csv`` or ``parquet`` bytes."""
        ...

    def portfolio(
        self,
        account_id: str,
        mark: str = "last_sale",
        *,
        now_ns: int,
        bests: Bests | None = None,
        net_fn: Callable[[int], int] | None = None,
    ) -> dict[str, Any]:
        """An account's holdings valued at ``mark``."""
        ...

    def portfolio_history(
        self,
        account_id: str,
        interval: str = "1d",
        start_ns: int | None = None,
        end_ns: int | None = None,
        *,
        now_ns: int,
    ) -> dict[str, Any]:
        """An account's portfolio value over time."""
        ...


class FeedSource(Protocol):
    """What the market-data feed needs: released books, events, recent trades."""

    @property
    def mirror(self) -> L2Mirror:
        """The released L2 books (read once at start; events advance them)."""
        ...

    def subscribe(self, callback: Any) -> None:
        """Call ``callback(list[MarketDataEvent])`` after durability, in order."""
        ...

    def unsubscribe(self, callback: Any) -> None:
        """Stop calling ``callback``."""
        ...

    def sku_exists(self, sku: str) -> bool:
        """Whether the SKU is in the catalog."""
        ...

    def public_trades(
        self, sku: str, limit: int, before: int | None = None
    ) -> list[dict[str, Any]]:
        """A SKU's public trades, newest first, ids below ``before``."""
        ...


class AccountSource(OrderDesk, Protocol):
    """What the feed's authenticated sessions need: keys, account events, order entry."""

    def authenticate(self, api_key: str) -> Account | None:
        """The account of an API key, or None (unknown or revoked); cheap, asked often."""
        ...

    def on_key_revoked(self, listener: Callable[[KeyRevoked], None]) -> None:
        """Call ``listener(KeyRevoked)`` on the loop after each durable revocation
        (the sessions of the key it names end at once)."""
        ...

    def off_key_revoked(self, listener: Callable[[KeyRevoked], None]) -> None:
        """Stop calling ``listener``."""
        ...

    def subscribe_accounts(self, callback: Callable[[AccountBatch], None]) -> None:
        """Call ``callback(batch)`` after each durable group, in order."""
        ...

    def unsubscribe_accounts(self, callback: Callable[[AccountBatch], None]) -> None:
        """Stop calling ``callback``."""
        ...

    def open_orders(self, account: Account) -> tuple[int, list[dict[str, Any]]]:
        """The account's open orders and the journal seq they are as of."""
        ...

    @property
    def released_seq(self) -> int:
        """The last journal seq that is durable and released."""
        ...


class VenueApi(OrderDesk, Protocol):
    """What the REST app needs: commands answered once durable, and reads."""

    @property
    def ready(self) -> bool:
        """Whether recovery is done and commands are taken."""
        ...

    def health(self) -> Health:
        """The venue's state for ``/healthz`` and ``/readyz``."""
        ...

    @property
    def mirror(self) -> L2Mirror:
        """The released L2 books: best prices for valuations and summaries."""
        ...

    @property
    def analytics(self) -> Analytics:
        """History queries (blocking)."""
        ...

    @property
    def fee_schedule(self) -> FeeSchedule:
        """The fee schedule trades are charged by."""
        ...

    def seller_level(self, account: Account, now: int | None = None) -> int:
        """The account's seller fee level at ``now``."""
        ...

    # accounts and catalog
    def authenticate(self, api_key: str) -> Account | None:
        """The account of an API key, or None."""
        ...

    async def create_account(self, name: object, role: object = "trader") -> dict[str, Any]:
        """Create an account; the answer holds its API key."""
        ...

    # API keys
    async def create_key(self, account: Account, label: object = None) -> dict[str, Any]:
        """One more key for the account; the answer holds it (shown once)."""
        ...

    def list_keys(self, account: Account, owner_id: str | None = None) -> list[dict[str, Any]]:
        """The live keys of the account (or, an admin asking, of ``owner_id``)."""
        ...

    def key_id(self, api_key: str) -> str | None:
        """The id of a live key, or None."""
        ...

    async def revoke_key(
        self, account: Account, key_id: str, *, as_admin: bool = False
    ) -> dict[str, Any]:
        """Revoke one of the account's keys, or (an admin, ``as_admin``) anyone's."""
        ...

    def products(self) -> list[dict[str, Any]]:
        """Every product."""
        ...

    def product(self, style: str) -> dict[str, Any]:
        """One product (``unknown_product``)."""
        ...

    async def create_product(self, account: Account, body: object) -> dict[str, Any]:
        """Add a product (admin)."""
        ...

    def sku_exists(self, sku: str) -> bool:
        """Whether the SKU is in the catalog."""
        ...

    def sku_rules(self, sku: str) -> dict[str, Any]:
        """A SKU's identity and trading rules (``unknown_sku``)."""
        ...

    # orders
    # place_order, place_orders, amend_order, cancel_order: see OrderDesk

    def get_order(self, account: Account, order_id: int) -> dict[str, Any]:
        """One of the account's orders."""
        ...

    def list_orders(self, account: Account, status: str | None = None) -> list[dict[str, Any]]:
        """The account's orders, optionally of one status."""
        ...

    async def orders_page(
        self, account: Account, page: Page, *, status: str | None = None, sku: str | None = None
    ) -> dict[str, Any]:
        """``{"orders", "next_before"}``: the account's orders, newest first."""
        ...

    # trades and settlement
    async def trades_page(
        self,
        account: Account,
        page: Page,
        *,
        sku: str | None = None,
        settlement_status: str | None = None,
    ) -> dict[str, Any]:
        """``{"trades", "next_before"}``: the account's fills, newest first."""
        ...

    async def ledger_page(self, account: Account, page: Page) -> dict[str, Any]:
        """``{"entries", "next_before"}``: the account's ledger, newest first."""
        ...

    def list_trades(self, account: Account) -> list[dict[str, Any]]:
        """The account's fills."""
        ...

    async def ship(self, account: Account, trade_id: int) -> dict[str, Any]:
        """The seller marks a trade shipped."""
        ...

    async def authenticate_trade(
        self, account: Account, trade_id: int, passed: object
    ) -> dict[str, Any]:
        """An authenticator's verdict."""
        ...

    def ledger(self, account: Account) -> list[dict[str, Any]]:
        """The account's ledger entries."""
        ...

    # portfolio
    async def add_holding(self, account: Account, body: object) -> dict[str, Any]:
        """Add a hand-entered item."""
        ...

    async def remove_holding(self, account: Account, holding_id: int) -> dict[str, Any]:
        """Remove a hand-entered item."""
        ...

    # market data
    async def sku_trades_page(self, sku: str, page: Page) -> dict[str, Any]:
        """``{"sku", "trades", "next_before"}``: a SKU's public trades, newest first."""
        ...

    def book(self, sku: str, depth: int | None = None) -> dict[str, Any]:
        """The released L2 book of a SKU."""
        ...

    def public_trades(
        self, sku: str, limit: int, before: int | None = None
    ) -> list[dict[str, Any]]:
        """A SKU's public trades, newest first."""
        ...

    async def close(self) -> None:
        """Stop taking commands and close."""
        ...


if TYPE_CHECKING:
    from .venue import Venue

    def _the_venue_provides_both(venue: Venue) -> tuple[VenueApi, FeedSource, AccountSource]:
        # mypy --strict checks here that Venue satisfies the protocols.
        return venue, venue, venue
