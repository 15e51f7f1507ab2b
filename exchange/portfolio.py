"""Collectors' holdings and realized gains.

A holding is one item an account owns: added by hand (``source="manual"``,
``POST /v1/portfolio/items``) or by a delivered purchase on the exchange
(``source="exchange"``, one holding per unit, its cost the buyer's total per
unit, buyer fee included). When an account's own sale of a SKU is delivered,
its oldest holding of that SKU leaves per unit sold (first in, first out:
oldest ``acquired_at``, then lowest id) and a :class:`RealizedGain` records
proceeds (the seller payout per unit, after fees) minus cost. A sale of an
item the account never recorded removes nothing and records no gain.

Everything is deterministic: holding and realized-gain ids come from
counters, times are passed in. ``to_row`` of each value is its row in the
trade store (:class:`exchange.store.HoldingRow` / :class:`exchange.store.RealizedRow`:
times int nanoseconds since the epoch, money int cents), and its snapshot form.
"""

from __future__ import annotations

import bisect
import enum
from dataclasses import dataclass
from typing import Any

from .errors import ExchangeError

__all__ = [
    "Condition",
    "Holding",
    "HoldingSource",
    "Portfolios",
    "RealizedGain",
    "check_manual",
    "parse_condition",
]

# A hand-entered price above $100M is a typo, not a collectible.
MAX_PURCHASE_PRICE_CENTS = 10_000_000_000


class Condition(enum.StrEnum):
    """An item's condition: ``new`` (deadstock; the default) or ``used``."""

    NEW = "new"
    USED = "used"


class HoldingSource(enum.StrEnum):
    """How a holding entered the portfolio."""

    MANUAL = "manual"
    EXCHANGE = "exchange"


@dataclass(frozen=True, slots=True)
class Holding:
    """One item an account owns; ``trade_id`` is set for exchange purchases."""

    id: int
    account_id: str
    sku: str
    purchase_price_cents: int
    acquired_at: int
    condition: Condition
    source: HoldingSource
    trade_id: int | None

    def to_row(self) -> dict[str, Any]:
        """The store's ``holdings`` row (``HoldingRow``); also the snapshot form."""
        return {
            "id": self.id,
            "account_id": self.account_id,
            "sku": self.sku,
            "purchase_price_cents": self.purchase_price_cents,
            "acquired_at": self.acquired_at,
            "condition": str(self.condition),
            "source": str(self.source),
            "trade_id": self.trade_id,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Holding:
        """The inverse of :meth:`to_row`."""
        return cls(
            id=row["id"],
            account_id=row["account_id"],
            sku=row["sku"],
            purchase_price_cents=row["purchase_price_cents"],
            acquired_at=row["acquired_at"],
            condition=Condition(row["condition"]),
            source=HoldingSource(row["source"]),
            trade_id=row["trade_id"],
        )


@dataclass(frozen=True, slots=True)
class RealizedGain:
    """The gain of one unit sold: ``gain_cents = proceeds_cents - cost_cents``."""

    id: int
    account_id: str
    sku: str
    holding_id: int
    cost_cents: int
    proceeds_cents: int
    gain_cents: int
    time: int

    def to_row(self) -> dict[str, Any]:
        """The store's ``realized_gains`` row (``RealizedRow``); also the snapshot form."""
        return {
            "id": self.id,
            "account_id": self.account_id,
            "sku": self.sku,
            "holding_id": self.holding_id,
            "cost_cents": self.cost_cents,
            "proceeds_cents": self.proceeds_cents,
            "gain_cents": self.gain_cents,
            "time": self.time,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RealizedGain:
        """The inverse of :meth:`to_row`."""
        return cls(**{k: row[k] for k in _REALIZED_FIELDS})


_REALIZED_FIELDS = (
    "id",
    "account_id",
    "sku",
    "holding_id",
    "cost_cents",
    "proceeds_cents",
    "gain_cents",
    "time",
)


def parse_condition(condition: object) -> Condition:
    """Return the :class:`Condition` named by ``condition`` (None means ``new``).

    Raises:
        ExchangeError: ``validation_error`` for anything but ``new`` or ``used``.
    """
    if condition is None:
        return Condition.NEW
    if isinstance(condition, str):
        try:
            return Condition(condition)
        except ValueError:
            pass
    raise ExchangeError("validation_error", "condition must be 'new' or 'used'.")


def check_manual(purchase_price_cents: object, acquired_at: object, condition: object) -> Condition:
    """The static check of a hand-added holding; returns its condition.

    The SKU is the caller's to check against the catalog (``unknown_sku``).

    Raises:
        ExchangeError: ``validation_error`` for a price that is not an integer
            number of cents from 0 to $100M, a time that is not an integer of
            ns, or a condition other than ``new`` or ``used``.
    """
    if type(purchase_price_cents) is not int or not (
        0 <= purchase_price_cents <= MAX_PURCHASE_PRICE_CENTS
    ):
        raise ExchangeError(
            "validation_error",
            "purchase_price_cents must be an integer number of cents from 0 to "
            f"{MAX_PURCHASE_PRICE_CENTS}.",
        )
    if type(acquired_at) is not int or acquired_at < 0:
        raise ExchangeError("validation_error", "acquired_at must be a time after 1970.")
    return parse_condition(condition)


class Portfolios:
    """Every account's holdings and realized gains.

    Holdings are indexed by id, by account (in id order) and by (account,
    SKU) in FIFO order, so a sale finds the oldest holding in O(log n).
    """

    def __init__(self) -> None:
        self._holdings: dict[int, Holding] = {}
        self._by_account: dict[str, dict[int, Holding]] = {}
        # (account, sku) -> sorted [(acquired_at, id)]: the FIFO order.
        self._fifo: dict[tuple[str, str], list[tuple[int, int]]] = {}
        self._realized: dict[str, list[RealizedGain]] = {}
        self._next_holding_id = 1
        self._next_realized_id = 1

    def start_ids_at(self, base: int) -> None:
        """Number holdings and realized gains from ``base + 1`` (a fresh registry)."""
        self._next_holding_id = base + 1
        self._next_realized_id = base + 1

    def _insert(self, holding: Holding) -> None:
        self._holdings[holding.id] = holding
        self._by_account.setdefault(holding.account_id, {})[holding.id] = holding
        queue = self._fifo.setdefault((holding.account_id, holding.sku), [])
        bisect.insort(queue, (holding.acquired_at, holding.id))

    def _remove(self, holding: Holding) -> None:
        del self._holdings[holding.id]
        mine = self._by_account[holding.account_id]
        del mine[holding.id]
        if not mine:
            del self._by_account[holding.account_id]
        key = (holding.account_id, holding.sku)
        queue = self._fifo[key]
        queue.remove((holding.acquired_at, holding.id))
        if not queue:
            del self._fifo[key]

    def _new(
        self,
        account_id: str,
        sku: str,
        price: int,
        acquired_at: int,
        condition: Condition,
        source: HoldingSource,
        trade_id: int | None,
    ) -> Holding:
        holding = Holding(
            self._next_holding_id, account_id, sku, price, acquired_at, condition, source, trade_id
        )
        self._next_holding_id += 1
        self._insert(holding)
        return holding

    def add_manual(
        self,
        account_id: str,
        sku: str,
        purchase_price_cents: int,
        acquired_at: int,
        condition: str = "new",
    ) -> Holding:
        """Add an item by hand and return it.

        Raises:
            ExchangeError: ``validation_error`` as :func:`check_manual`.
        """
        cond = check_manual(purchase_price_cents, acquired_at, condition)
        return self._new(
            account_id, sku, purchase_price_cents, acquired_at, cond, HoldingSource.MANUAL, None
        )

    def check_remove_manual(self, account_id: str, holding_id: int) -> Holding:
        """The holding :meth:`remove_manual` would remove, changing nothing.

        Raises:
            ExchangeError: ``not_found`` unless it is a hand-added holding of
                ``account_id`` (another's holding is "not found" too, so ids
                reveal nothing).
        """
        holding = self._holdings.get(holding_id)
        if (
            holding is None
            or holding.account_id != account_id
            or holding.source is not HoldingSource.MANUAL
        ):
            raise ExchangeError(
                "not_found", f"No hand-added portfolio item {holding_id} in this account."
            )
        return holding

    def remove_manual(self, account_id: str, holding_id: int) -> Holding:
        """Remove a hand-added holding of ``account_id`` and return it.

        Raises:
            ExchangeError: ``not_found`` as :meth:`check_remove_manual`.
        """
        holding = self.check_remove_manual(account_id, holding_id)
        self._remove(holding)
        return holding

    def on_delivered_purchase(
        self,
        account_id: str,
        sku: str,
        unit_cost_cents: int,
        quantity: int,
        trade_id: int,
        time: int,
    ) -> list[Holding]:
        """A delivered purchase: one ``new`` holding per unit, acquired at ``time``.

        Args:
            account_id: the buyer.
            sku: the SKU bought.
            unit_cost_cents: the cost of one unit; the engine passes the
                buyer's total per unit (price plus buyer fee).
            quantity: units bought.
            trade_id: the trade.
            time: the delivery time (ns).
        """
        return [
            self._new(
                account_id,
                sku,
                unit_cost_cents,
                time,
                Condition.NEW,
                HoldingSource.EXCHANGE,
                trade_id,
            )
            for _ in range(quantity)
        ]

    def on_delivered_sale(
        self, account_id: str, sku: str, unit_proceeds_cents: int, quantity: int, time: int
    ) -> tuple[list[Holding], list[RealizedGain]]:
        """A delivered sale: per unit, the oldest holding of ``sku`` leaves, FIFO.

        Args:
            account_id: the seller.
            sku: the SKU sold.
            unit_proceeds_cents: what one unit brought; the engine passes the
                seller payout per unit (after fees).
            quantity: units sold.
            time: the delivery time (ns).

        Returns:
            The holdings removed and a realized gain for each (fewer than
            ``quantity`` when the account held fewer of the SKU).
        """
        queue = self._fifo.get((account_id, sku))
        removed: list[Holding] = []
        gains: list[RealizedGain] = []
        for _ in range(quantity):
            if not queue:
                break
            holding = self._holdings[queue[0][1]]
            self._remove(holding)
            removed.append(holding)
            cost = holding.purchase_price_cents
            gain = RealizedGain(
                self._next_realized_id,
                account_id,
                sku,
                holding.id,
                cost,
                unit_proceeds_cents,
                unit_proceeds_cents - cost,
                time,
            )
            self._next_realized_id += 1
            self._realized.setdefault(account_id, []).append(gain)
            gains.append(gain)
            queue = self._fifo.get((account_id, sku))
        return removed, gains

    def get(self, holding_id: int) -> Holding | None:
        """The holding with this id, or None."""
        return self._holdings.get(holding_id)

    def count(self, account_id: str) -> int:
        """How many holdings the account has (O(1))."""
        return len(self._by_account.get(account_id, ()))

    def holdings(self, account_id: str) -> list[Holding]:
        """The account's holdings, in id order."""
        mine = self._by_account.get(account_id)
        return sorted(mine.values(), key=lambda h: h.id) if mine else []

    def realized(self, account_id: str) -> list[RealizedGain]:
        """The account's realized gains, oldest first."""
        return list(self._realized.get(account_id, ()))

    def __len__(self) -> int:
        return len(self._holdings)

    def to_dict(self) -> dict[str, Any]:
        """Canonical JSON-able state: holdings and gains in id order, and the counters."""
        realized = sorted(
            (g for gains in self._realized.values() for g in gains), key=lambda g: g.id
        )
        return {
            "holdings": [self._holdings[i].to_row() for i in sorted(self._holdings)],
            "realized": [g.to_row() for g in realized],
            "next_holding_id": self._next_holding_id,
            "next_realized_id": self._next_realized_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Portfolios:
        """The inverse of :meth:`to_dict`."""
        portfolios = cls()
        for row in data["holdings"]:
            portfolios._insert(Holding.from_row(row))
        for row in data["realized"]:
            gain = RealizedGain.from_row(row)
            portfolios._realized.setdefault(gain.account_id, []).append(gain)
        portfolios._next_holding_id = data["next_holding_id"]
        portfolios._next_realized_id = data["next_realized_id"]
        return portfolios
