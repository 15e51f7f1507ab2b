"""The venue's reads: accounts and API keys, catalog, orders, trades, ledger, holdings,
market data.

None of them journals anything. Orders, trades and the ledger are read from
the engine's state, which may be a few milliseconds ahead of what is durable;
public market data (book, public trades, the mirror) shows released state
only.
"""

from __future__ import annotations

from typing import Any

from ..accounts import Account, Role, hash_api_key
from ..engine import Engine, holding_wire
from ..errors import ExchangeError
from ..fees import FeeSchedule
from ..keys import key_wire
from ..marketdata import L2Mirror
from .recent import RecentTrades
from .requests import check_status

__all__ = ["VenueQueries"]


class VenueQueries:
    """Read-only methods of :class:`exchange.service.venue.Venue`.

    Attributes:
        engine: the live engine (read only here).
        mirror: the released L2 book of every SKU.
    """

    engine: Engine
    mirror: L2Mirror
    _released_trade: int
    _recent: RecentTrades

    def _now(self) -> int:
        raise NotImplementedError

    # ------------------------------------------------------------ accounts

    def authenticate(self, api_key: str) -> Account | None:
        """The account of an API key, or None (O(1))."""
        return self.engine.accounts.by_key(api_key)

    def account(self, account_id: str) -> Account | None:
        """An account by id, or None."""
        return self.engine.accounts.get(account_id)

    def list_keys(self, account: Account, owner_id: str | None = None) -> list[dict[str, Any]]:
        """The live keys of the account, or (an admin asking) of ``owner_id``, oldest first.

        Raises:
            ExchangeError: ``forbidden`` when a non-admin names an owner (even itself),
                ``not_found`` for an unknown owner.
        """
        if owner_id is not None:
            if account.role is not Role.ADMIN:
                raise ExchangeError("forbidden", "Only an admin may list an account's keys by id.")
            if owner_id not in self.engine.accounts:
                raise ExchangeError("not_found", f"There is no account {owner_id}.")
        owner = account.id if owner_id is None else owner_id
        return [key_wire(key) for key in self.engine.accounts.keys.of_account(owner)]

    def key_id(self, api_key: str) -> str | None:
        """The id of a live key, or None."""
        key = self.engine.accounts.keys.by_hash(hash_api_key(api_key))
        return None if key is None else key.id

    # ------------------------------------------------------------- catalog

    def products(self) -> list[dict[str, Any]]:
        """Every product in wire shape."""
        return self.engine.catalog.products_dicts()

    def product(self, style: str) -> dict[str, Any]:
        """One product in wire shape (``unknown_product``)."""
        return self.engine.catalog.product_dict(style)

    def sku_exists(self, sku: str) -> bool:
        """Whether the SKU is in the catalog."""
        return self.engine.catalog.has_sku(sku)

    def skus(self) -> list[str]:
        """Every SKU in catalog order."""
        return self.engine.catalog.skus()

    def sku_rules(self, sku: str) -> dict[str, Any]:
        """The SKU's trading rules and identity (``unknown_sku``)."""
        info = self.engine.catalog.sku(sku)
        product = self.engine.catalog.product(info.style)
        rules = info.rules
        return {
            "sku": info.sku,
            "style": info.style,
            "size": info.size,
            "retail_price_cents": product.retail_price_cents,
            "tick_size_cents": rules.tick_size_cents,
            "min_price_cents": rules.min_price_cents,
            "max_price_cents": rules.max_price_cents,
            "max_quantity": rules.max_quantity,
        }

    def seller_level(self, account: Account, now: int | None = None) -> int:
        """The account's seller fee level at ``now`` (default: the clock); pure."""
        return self.engine.seller_level(account.id, self._now() if now is None else now)

    @property
    def fee_schedule(self) -> FeeSchedule:
        """The engine's fee schedule."""
        return self.engine.schedule

    # -------------------------------------------------- orders and trades

    def get_order(self, account: Account, order_id: int) -> dict[str, Any]:
        """One of the account's orders (another's: ``not_found``)."""
        return self.engine.order(account.id, order_id)

    def list_orders(self, account: Account, status: str | None = None) -> list[dict[str, Any]]:
        """The account's orders, oldest first, optionally of one status."""
        return self.engine.orders(account.id, check_status(status))

    def list_trades(self, account: Account) -> list[dict[str, Any]]:
        """The account's fills (an authenticator's or admin's: every trade)."""
        return self.engine.trades(account.id)

    def get_trade(self, account: Account, trade_id: int) -> dict[str, Any]:
        """One trade as the account sees it (``not_found`` for strangers)."""
        return self.engine.trade(account.id, trade_id)

    def ledger(self, account: Account) -> list[dict[str, Any]]:
        """The account's ledger entries, oldest first."""
        return self.engine.ledger(account.id)

    def holdings(self, account: Account) -> list[dict[str, Any]]:
        """The account's current holdings, in id order."""
        return [holding_wire(h) for h in self.engine.portfolios.holdings(account.id)]

    # --------------------------------------------------------- market data

    def _require_sku(self, sku: str) -> None:
        if not self.engine.catalog.has_sku(sku):
            raise ExchangeError("unknown_sku", f"No SKU {sku!r} in the catalog.")

    def book(self, sku: str, depth: int | None = None) -> dict[str, Any]:
        """The released L2 book: ``{"sku","sequence","bids","asks"}`` best first."""
        self._require_sku(sku)
        snap = self.mirror.snapshot(sku, depth)
        return {
            "sku": sku,
            "sequence": snap.sequence,
            "bids": [list(level) for level in snap.bids],
            "asks": [list(level) for level in snap.asks],
        }

    def public_trades(
        self, sku: str, limit: int = 100, before: int | None = None
    ) -> list[dict[str, Any]]:
        """The SKU's released trades, newest first, ids below ``before``: the
        engine's, and those that left it among the SKU's recent ones (up to
        :data:`exchange.service.recent.KEEP`; older ones: ``sku_trades_page``)."""
        self._require_sku(sku)
        cap = self._released_trade + 1
        upper = cap if before is None else min(before, cap)
        return self._recent.merge(sku, self.engine.public_trades(sku, limit, upper), limit, upper)
