"""Per-account events: what the private stream tells an account about itself.

After each durable group the venue hands its account subscribers one
:class:`AccountBatch`: the group's last journal seq and, per command, the
store rows it produced (the same rows the trade store is written from, so
nothing is computed twice). :meth:`AccountBatch.events` turns them into
:class:`AccountEvent` values for the accounts a subscriber cares about, in
journal order and, within a command, in the order the engine wrote them
(its trades, their ledger entries, then the orders they touched):

- ``order``: an order of the account after a change (placed, filled in part
  or whole, amended, canceled, expired, rejected); ``row`` is the order row,
  :func:`exchange.wire.order_wire` gives its REST shape;
- ``fill``: a trade the account is a party of, at its match (with its fees:
  :func:`exchange.wire.trade_view`); a self-trade is one event;
- ``settlement``: a later change of such a trade (shipped, delivered,
  canceled), to both parties;
- ``ledger``: an entry of the account's ledger
  (:func:`exchange.wire.ledger_wire`).

Holdings are not part of it. Everything here is a plain value: a remote
venue can carry batches the way it carries market data.
"""

from __future__ import annotations

from collections.abc import Container, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from .outcome import StoreOp
from .settlement import SettlementStatus

__all__ = ["AccountBatch", "AccountEvent", "EventKind"]

_AWAITING = str(SettlementStatus.AWAITING_SHIPMENT)


class EventKind:
    """The kinds of :class:`AccountEvent` (plain strings on the wire)."""

    ORDER = "order"
    FILL = "fill"
    SETTLEMENT = "settlement"
    LEDGER = "ledger"


class AccountEvent(NamedTuple):
    """One change of one account: ``kind`` (:class:`EventKind`), the row, its command's seq."""

    account_id: str
    kind: str
    row: dict[str, Any]
    seq: int


@dataclass(frozen=True, slots=True)
class AccountBatch:
    """One durable group's store rows, per command.

    Attributes:
        released_seq: the group's last journal seq (everything up to it is durable).
        commands: ``(seq, store ops)`` of each command of the group that wrote rows.
    """

    released_seq: int
    commands: list[tuple[int, list[StoreOp]]]

    def events(self, wanted: Container[str]) -> Iterator[AccountEvent]:
        """The events of the accounts in ``wanted``, in order."""
        for seq, ops in self.commands:
            for kind, row in ops:
                if kind == "order":
                    account = row["account_id"]
                    if account in wanted:
                        yield AccountEvent(account, EventKind.ORDER, row, seq)
                elif kind == "trade":
                    # A trade leaves awaiting_shipment at its first settlement step.
                    awaiting = row["settlement_status"] == _AWAITING
                    what = EventKind.FILL if awaiting else EventKind.SETTLEMENT
                    buyer = row["buyer_id"]
                    seller = row["seller_id"]
                    if buyer in wanted:
                        yield AccountEvent(buyer, what, row, seq)
                    if seller != buyer and seller in wanted:
                        yield AccountEvent(seller, what, row, seq)
                elif kind == "ledger":
                    account = row["account_id"]
                    if account in wanted:
                        yield AccountEvent(account, EventKind.LEDGER, row, seq)
