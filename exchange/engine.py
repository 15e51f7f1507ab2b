"""The engine: the venue's whole state, driven by journaled commands.

CONTRACT

- Sans-I/O like the books it routes to: no asyncio, no clock, no disk. Every
  command arrives with its journal ``seq`` and its accepted time ``ts`` (int
  ns), and ``ts`` is the engine's only notion of now.
- Two steps per command. :meth:`Engine.validate` is the pure static check
  (shape, account, role, catalog, the SKU's tick/band/max quantity through
  :func:`orderbook.rules.check_place`, ownership and state of the order or
  trade named): it raises :class:`ExchangeError` and changes nothing; a
  command that fails it is never journaled and takes no ``seq``.
  :meth:`Engine.apply` applies a validated command deterministically and
  returns an :class:`Outcome`. Applying the same records in the same order
  gives the same state byte for byte (:meth:`Engine.snapshot_bytes`).
- Book-dependent outcomes are applied, not refused: a FOK that cannot fill
  whole or a market order with nothing to take ends ``canceled``, a post-only
  order that would take ends ``rejected``; both answer 201 and use up their
  ``client_order_id``. The rare refusal that only the book can see (an amend
  whose new price would make a post-only order take) comes back as
  :attr:`Outcome.error`, after the command was journaled; it changed nothing.
- Ids come from counters in the state: orders, trades, ledger entries (and,
  inside :mod:`exchange.portfolio`, holdings); account ids ``acc_<n>`` from
  :meth:`Engine.next_account_id`, which the venue reads before journaling.
- Idempotency: ``(account_id, client_order_id)`` is unique for good (it is in
  the snapshot). :meth:`Engine.idempotent_replay` answers a repeat with the
  same normalized body (200: the order's current state and the fills of its
  first placement); a different body raises ``client_order_id_reused``. The
  expiry is compared as a duration (``expires_at - created_at``), because
  the venue derives ``expires_at`` from the body's ``expires_in_days`` and the
  record's time.
- Market data (per SKU, :mod:`exchange.marketdata`): one ``sequence`` per SKU
  rises by one per event; a command's :class:`TradePrint` events come first,
  in match order, then one :class:`BookUpdate` with every level it changed
  (bid before ask, price ascending) and the book's checksum after it.
  ``prev_sequence`` is the previous event of the same channel and SKU.
  When a trade's settlement becomes ``canceled`` the command that did it
  (a :class:`Tick` or a failed :class:`AuthenticateTrade`) emits a
  :class:`TradeCanceled` on the trade's SKU, on the trades channel (it takes
  the next ``sequence``; replaying advances the sequences the same way).
- Settlement (:mod:`exchange.settlement`): a trade starts
  ``awaiting_shipment`` with ``ship_by = ts + ship_deadline``; the seller
  ships it (:class:`MarkShipped`, only while ``ts < ship_by``); an
  authenticator passes it (``delivered``: the seller is paid, the buyer's
  portfolio gains the items, the seller's loses its oldest ones of the SKU)
  or fails it (``canceled``). A :class:`Tick` at or after ``ship_by`` cancels
  a trade still awaiting shipment. Canceling refunds the buyer and charges the
  seller the penalty; the sale also stops counting toward the seller's level.
- :meth:`Engine.next_due` is the earliest time a :class:`Tick` would change
  something (an order's expiry or a ship deadline), so the venue journals a
  Tick only when useful.
- Wire shapes (times RFC 3339 UTC, ms, ``Z``): order ``{id, client_order_id,
  sku, side, type, time_in_force, post_only, price_cents, quantity,
  filled_quantity, remaining_quantity, status, cancel_reason, created_at,
  updated_at, expires_at}``; ``remaining_quantity`` is what still works on
  the book (``quantity - filled_quantity`` while open, else 0). A fill (an
  account's own view of a trade) adds ``side``, ``role`` (maker|taker),
  ``ship_by`` and its fee fields to the public trade ``{id, sku, price_cents,
  quantity, taker_side, buy_order_id, sell_order_id, time,
  settlement_status}``.
- Store ops (``(kind, row)``, /work/notes/shapes.md) are full rows, copies
  that the engine never mutates afterwards, so the store writer thread may
  read them while the engine goes on.

Costs: placing or canceling is the book's cost plus O(1) bookkeeping per
event; :meth:`next_due` is amortized O(log n); the snapshot is O(state).
"""

from __future__ import annotations

import heapq
import time
import zlib
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import orjson

from orderbook.book import OrderBook
from orderbook.checksum import CHECKSUM_DEPTH
from orderbook.commands import AmendOrder as BookAmend
from orderbook.commands import CancelOrder as BookCancel
from orderbook.commands import ExpireOrders as BookExpire
from orderbook.commands import PlaceOrder as BookPlace
from orderbook.events import Accepted, Amended, Canceled, Fill, LevelChanged, Rejected
from orderbook.rules import (
    CancelReason,
    OrderType,
    Side,
    SkuRules,
    TimeInForce,
    check_place,
    check_price,
)

from .accounts import Account, Accounts, Role, parse_role, validate_name
from .catalog import Catalog
from .clock import HOUR_NS, SECOND_NS
from .commands import (
    AddHolding,
    AmendOrder,
    AuthenticateTrade,
    CancelOrder,
    Command,
    CreateAccount,
    CreateProduct,
    MarkShipped,
    PlaceOrder,
    RemoveHolding,
    Tick,
)
from .errors import ExchangeError
from .fees import DEFAULT_SCHEDULE, FeeSchedule, SellerStats
from .fees import seller_level as fee_seller_level
from .marketdata import BookUpdate, MarketDataEvent, TradeCanceled, TradePrint
from .portfolio import Holding, Portfolios, check_manual
from .settlement import (
    DeadlineQueue,
    LedgerEntry,
    SettlementStatus,
    TradeState,
    Transition,
    authenticate,
    open_trade,
    overdue,
    ship,
)

__all__ = [
    "SNAPSHOT_VERSION",
    "Engine",
    "Outcome",
    "StoreOp",
    "holding_wire",
    "order_wire",
    "trade_public",
    "trade_view",
]

SNAPSHOT_VERSION = 2

StoreOp = tuple[str, dict[str, Any]]

# Hot-path constants bound once (enum attribute lookups cost in loops).
_ACCEPTED = Accepted
_FILL = Fill
_LEVEL = LevelChanged
_CANCELED = Canceled
_AMENDED = Amended
_REJECTED = Rejected
_EXPIRED_REASON = CancelReason.EXPIRED
_BID = Side.BID
_ASK = Side.ASK
_SIDES = {"bid": Side.BID, "ask": Side.ASK}
# Enum .value goes through a descriptor; a dict lookup is cheaper on the hot path.
_REASONS = {reason: str(reason.value) for reason in CancelReason}
_TYPES = {"limit": OrderType.LIMIT, "market": OrderType.MARKET}
_TIFS = {"gtc": TimeInForce.GTC, "ioc": TimeInForce.IOC, "fok": TimeInForce.FOK}

OPEN = "open"
FILLED = "filled"
CANCELED = "canceled"
EXPIRED = "expired"
REJECTED = "rejected"

AWAITING = "awaiting_shipment"
SHIPPED = "shipped"
DELIVERED = "delivered"
SETTLEMENT_CANCELED = "canceled"

_CLIENT_ORDER_ID_MAX = 64

ORDER_KEYS = (
    "id",
    "account_id",
    "client_order_id",
    "sku",
    "side",
    "type",
    "time_in_force",
    "post_only",
    "price_cents",
    "quantity",
    "filled_quantity",
    "status",
    "cancel_reason",
    "created_at",
    "updated_at",
    "expires_at",
)
"""The fields of an order row, in order (a closed order is kept as a tuple of them)."""

_order_tuple = itemgetter(*ORDER_KEYS)
"""An order row's values as a tuple in ORDER_KEYS order (in C, on the hot path)."""

TRADE_KEYS = (
    "id",
    "sku",
    "style",
    "price_cents",
    "quantity",
    "taker_side",
    "buy_order_id",
    "sell_order_id",
    "buyer_id",
    "seller_id",
    "time",
    "settlement_status",
    "ship_by",
    "seller_level",
    "buyer_fee_cents",
    "transaction_fee_cents",
    "processing_fee_cents",
    "buyer_total_cents",
    "seller_payout_cents",
    "platform_fee_cents",
    "updated_at",
)
"""The fields of a trade row (shapes.md), in order."""

LEDGER_KEYS = ("id", "account_id", "trade_id", "kind", "amount_cents", "time", "description")
"""The fields of a ledger row (shapes.md), in order."""


@dataclass(slots=True)
class Outcome:
    """What applying one command produced.

    Attributes:
        seq: the command's journal seq.
        ts: its time (ns).
        response: the answer for the caller (a JSON-able dict), None for none.
        status: HTTP-ish status of ``response`` (201 new order, 200 other).
        error: a refusal only the book could see (the command changed nothing).
        md: market-data events in publication order.
        md_orders: parallel to ``md``: for a BookUpdate, ``(side, price) ->
            order count`` of every changed level (for the L2 mirror), else None.
        store_ops: rows for the trade store.
        order_status: final status of a newly placed order (metrics), or None.
        order_reason: its cancel/reject reason, or None.
        trades: trades matched by this command.
        traded_cents: their gross value.
        fees_cents: platform fees they earned.
    """

    seq: int
    ts: int
    response: dict[str, Any] | None = None
    status: int = 200
    error: ExchangeError | None = None
    md: list[MarketDataEvent] = field(default_factory=list)
    md_orders: list[dict[tuple[str, int], int] | None] = field(default_factory=list)
    store_ops: list[StoreOp] = field(default_factory=list)
    order_status: str | None = None
    order_reason: str | None = None
    trades: int = 0
    traded_cents: int = 0
    fees_cents: int = 0


# Minute -> "YYYY-MM-DDTHH:MM:": the engine formats several far-apart times
# per command (now, ship_by two days on, expiries whole days on), which
# defeats clock.rfc3339's one-second cache; each of those recurs for a
# minute of commands, so prefixes are cached per minute. Bounded: cleared
# when it grows large.
_MINUTE_PREFIX: dict[int, str] = {}
_MINUTE_PREFIX_MAX = 8192


def rfc3339(ns: int) -> str:
    """Format ``ns`` as :func:`exchange.clock.rfc3339` does (RFC 3339 UTC, ms, ``Z``)."""
    secs, rem = divmod(ns, SECOND_NS)
    minute, sec = divmod(secs, 60)
    prefix = _MINUTE_PREFIX.get(minute)
    if prefix is None:
        if len(_MINUTE_PREFIX) >= _MINUTE_PREFIX_MAX:
            _MINUTE_PREFIX.clear()
        prefix = _MINUTE_PREFIX[minute] = time.strftime(
            "%Y-%m-%dT%H:%M:", time.gmtime(minute * 60)
        )
    return f"{prefix}{sec:02d}.{rem // 1_000_000:03d}Z"


def rfc3339_opt(ns: int | None) -> str | None:
    """:func:`rfc3339`, passing None through."""
    return None if ns is None else rfc3339(ns)


def _err(code: str, message: str) -> ExchangeError:
    return ExchangeError(code, message)


def _is_int(value: object) -> bool:
    # bool is an int subclass; a JSON true must never pass for a quantity.
    return type(value) is int


def order_wire(order: dict[str, Any]) -> dict[str, Any]:
    """The wire shape of an internal order row (times as RFC 3339)."""
    status = order["status"]
    created = order["created_at"]
    created_s = rfc3339(created)
    updated = order["updated_at"]
    return {
        "id": order["id"],
        "client_order_id": order["client_order_id"],
        "sku": order["sku"],
        "side": order["side"],
        "type": order["type"],
        "time_in_force": order["time_in_force"],
        "post_only": order["post_only"],
        "price_cents": order["price_cents"],
        "quantity": order["quantity"],
        "filled_quantity": order["filled_quantity"],
        "remaining_quantity": (
            order["quantity"] - order["filled_quantity"] if status == OPEN else 0
        ),
        "status": status,
        "cancel_reason": order["cancel_reason"],
        "created_at": created_s,
        # Most answers are about an order changed by the command that made it.
        "updated_at": created_s if updated == created else rfc3339(updated),
        "expires_at": rfc3339_opt(order["expires_at"]),
    }


def trade_public(trade: dict[str, Any]) -> dict[str, Any]:
    """The public wire shape of a trade (no account ids, no fees)."""
    return {
        "id": trade["id"],
        "sku": trade["sku"],
        "price_cents": trade["price_cents"],
        "quantity": trade["quantity"],
        "taker_side": trade["taker_side"],
        "buy_order_id": trade["buy_order_id"],
        "sell_order_id": trade["sell_order_id"],
        "time": rfc3339(trade["time"]),
        "settlement_status": trade["settlement_status"],
    }


def trade_view(trade: dict[str, Any], account_id: str | None) -> dict[str, Any]:
    """A trade as ``account_id`` sees it: its side, role and fees when a party.

    Anyone else (an authenticator) sees the public fields plus ``ship_by``.
    """
    out = trade_public(trade)
    out["ship_by"] = rfc3339(trade["ship_by"])
    if account_id == trade["buyer_id"]:
        out["side"] = "bid"
        out["role"] = "taker" if trade["taker_side"] == "bid" else "maker"
        out["fee_cents"] = trade["buyer_fee_cents"]
        out["buyer_fee_cents"] = trade["buyer_fee_cents"]
        out["buyer_total_cents"] = trade["buyer_total_cents"]
    elif account_id == trade["seller_id"]:
        out["side"] = "ask"
        out["role"] = "taker" if trade["taker_side"] == "ask" else "maker"
        out["fee_cents"] = trade["transaction_fee_cents"] + trade["processing_fee_cents"]
        out["seller_level"] = trade["seller_level"]
        out["transaction_fee_cents"] = trade["transaction_fee_cents"]
        out["processing_fee_cents"] = trade["processing_fee_cents"]
        out["seller_payout_cents"] = trade["seller_payout_cents"]
    return out


class Engine:
    """Every book, order, trade, account and ledger entry of the venue.

    Args:
        schedule: the fee schedule.
        ship_deadline_ns: time a seller has to ship after the match.
    """

    def __init__(
        self,
        schedule: FeeSchedule = DEFAULT_SCHEDULE,
        ship_deadline_ns: int = 48 * HOUR_NS,
    ) -> None:
        self.schedule = schedule
        self.ship_deadline_ns = ship_deadline_ns
        self.catalog = Catalog()
        self.accounts = Accounts()
        self.seller_stats = SellerStats(schedule)
        self.portfolios = Portfolios()
        self.books: dict[str, OrderBook] = {}
        self.last_seq = 0
        self.last_ts = 0
        self._next_order = 1
        self._next_trade = 1
        self._next_ledger = 1
        # Open orders are dicts (they change); closed ones are tuples in
        # ORDER_KEYS order, which take a third of the memory.
        self._orders: dict[int, Any] = {}
        self._trades: dict[int, dict[str, Any]] = {}
        self._ledger: dict[int, dict[str, Any]] = {}
        self._idem: dict[tuple[str, str], int] = {}
        self._first_fills: dict[int, list[int]] = {}
        # order id -> (price_cents, quantity) as placed, for orders with a
        # client_order_id (amends change the live values, not the body's).
        self._placed: dict[int, tuple[int | None, int]] = {}
        # sku -> [sequence, book channel sequence, trade channel sequence]
        self._md: dict[str, list[int]] = {}
        # Derived indexes (rebuilt on restore, never snapshotted).
        self._orders_by_account: dict[str, list[int]] = {}
        self._trades_by_account: dict[str, list[int]] = {}
        self._trades_by_sku: dict[str, list[int]] = {}
        self._ledger_by_account: dict[str, list[int]] = {}
        self._expiries: list[tuple[int, int]] = []
        # Settlement of trades not yet delivered or canceled (snapshotted);
        # the deadline queue is derived from it.
        self._settling: dict[int, TradeState] = {}
        self._deadlines = DeadlineQueue()
        self._open_orders = 0
        # sku -> (ask mirror, bid mirror) of the book's best levels and the
        # checksum string's parts: derived, see _checksum.
        self._checksums: dict[str, tuple[_TopLevels, _TopLevels]] = {}
        self.live = True
        """False while replaying a journal: answers and market-data events
        are not built (nobody reads them), which makes recovery faster;
        everything else, market-data sequences included, is the same."""
        self.store_ops_after = 0
        """While not :attr:`live`, the order, trade and ledger store ops of
        commands with ``seq`` at or below this may be left out (the venue sets
        it to the seq its store already holds); live, every op is built."""
        self._want_ops = True

    # ------------------------------------------------------------------ ids

    def next_account_id(self) -> str:
        """The id the next :class:`CreateAccount` must carry."""
        return self.accounts.next_id()

    # ------------------------------------------------------------- validate

    def validate(self, cmd: Command, now: int | None = None) -> None:
        """Check ``cmd`` statically against the state; change nothing.

        Args:
            cmd: the command.
            now: the time the command would be journaled with (ns); None
                means the time of the last applied command.

        Raises:
            ExchangeError: the command must not be journaled.
        """
        if now is None:
            now = self.last_ts
        kind = type(cmd)
        if kind is PlaceOrder:
            self._validate_place(cmd, now)  # type: ignore[arg-type]
        elif kind is CancelOrder:
            self._own_open_order(cmd.account_id, cmd.order_id)  # type: ignore[union-attr]
        elif kind is AmendOrder:
            self._validate_amend(cmd)  # type: ignore[arg-type]
        elif kind is Tick:
            return
        elif kind is CreateAccount:
            self._validate_account(cmd)  # type: ignore[arg-type]
        elif kind is CreateProduct:
            self._validate_product(cmd)  # type: ignore[arg-type]
        elif kind is MarkShipped:
            self._party_trade(cmd.account_id, cmd.trade_id)  # type: ignore[union-attr]
            ship(self._settlement_state(cmd.trade_id), now)  # type: ignore[union-attr]
        elif kind is AuthenticateTrade:
            self._validate_authenticate(cmd, now)  # type: ignore[arg-type]
        elif kind is AddHolding:
            self._validate_holding(cmd)  # type: ignore[arg-type]
        elif kind is RemoveHolding:
            self._account(cmd.account_id)  # type: ignore[union-attr]
            if not _is_int(cmd.holding_id):  # type: ignore[union-attr]
                raise _err("not_found", "No such portfolio item.")
            self.portfolios.check_remove_manual(cmd.account_id, cmd.holding_id)  # type: ignore[union-attr]
        else:
            raise _err("validation_error", f"Unknown command {cmd!r}.")

    def _account(self, account_id: str) -> Account:
        account = self.accounts.get(account_id)
        if account is None:
            raise _err("unauthorized", "Unknown account.")
        return account

    def _rules(self, sku: object) -> SkuRules:
        if not isinstance(sku, str) or not self.catalog.has_sku(sku):
            raise _err("unknown_sku", f"There is no SKU {sku!r}.")
        rules: SkuRules = self.catalog.sku(sku).rules
        return rules

    def _validate_place(self, cmd: PlaceOrder, now: int) -> None:
        self._account(cmd.account_id)
        rules = self._rules(cmd.sku)
        side = _SIDES.get(cmd.side) if isinstance(cmd.side, str) else None
        if side is None:
            raise _err("validation_error", "side must be 'bid' or 'ask'.")
        otype = _TYPES.get(cmd.order_type) if isinstance(cmd.order_type, str) else None
        if otype is None:
            raise _err("validation_error", "type must be 'limit' or 'market'.")
        tif = _TIFS.get(cmd.time_in_force) if isinstance(cmd.time_in_force, str) else None
        if tif is None:
            raise _err("validation_error", "time_in_force must be 'gtc', 'ioc' or 'fok'.")
        if type(cmd.post_only) is not bool:
            raise _err("validation_error", "post_only must be true or false.")
        if not _is_int(cmd.quantity):
            raise _err("validation_error", "quantity must be an integer.")
        if cmd.price_cents is not None and not _is_int(cmd.price_cents):
            raise _err("validation_error", "price_cents must be an integer number of cents.")
        if cmd.expires_at is not None and not _is_int(cmd.expires_at):
            raise _err("validation_error", "expires_at must be an integer time in ns.")
        coid = cmd.client_order_id
        if coid is not None:
            if not isinstance(coid, str) or not 1 <= len(coid) <= _CLIENT_ORDER_ID_MAX:
                raise _err(
                    "validation_error",
                    f"client_order_id must be a string of 1 to {_CLIENT_ORDER_ID_MAX} characters.",
                )
            if (cmd.account_id, coid) in self._idem:
                raise _err(
                    "client_order_id_reused",
                    f"client_order_id {coid!r} was already used for a different order.",
                )
        reason = check_place(
            rules, otype, cmd.price_cents, cmd.quantity, tif, cmd.post_only, cmd.expires_at, now
        )
        if reason is not None:
            raise _err(str(reason), self._reject_sentence(str(reason), rules))

    @staticmethod
    def _reject_sentence(code: str, rules: SkuRules) -> str:
        if code == "off_tick":
            return (
                f"price_cents must be a multiple of the tick size, {rules.tick_size_cents} cents."
            )
        if code == "price_out_of_band":
            return (
                f"price_cents must lie between {rules.min_price_cents} and "
                f"{rules.max_price_cents} cents."
            )
        if code == "quantity_out_of_range":
            return f"quantity must be between 1 and {rules.max_quantity}."
        if code == "missing_price":
            return "A limit order needs price_cents."
        if code == "expiry_in_past":
            return "The order would expire before it is placed."
        if code == "quantity_at_or_below_filled":
            return "The new quantity must be above the quantity already filled."
        if code == "post_only_would_take":
            return "A post-only order may not take liquidity."
        return (
            "This combination is not allowed: market orders cannot be post-only or "
            "expire, post-only and expiry need time_in_force 'gtc'."
        )

    def _own_order(self, account_id: str, order_id: object) -> dict[str, Any]:
        self._account(account_id)
        order = self._order(order_id) if type(order_id) is int else None
        if order is None or order["account_id"] != account_id:
            raise _err("not_found", f"You have no order {order_id}.")
        return order

    def _own_open_order(self, account_id: str, order_id: object) -> dict[str, Any]:
        order = self._own_order(account_id, order_id)
        if order["status"] != OPEN:
            raise _err("order_not_open", f"Order {order_id} is {order['status']}, not open.")
        return order

    def _validate_amend(self, cmd: AmendOrder) -> None:
        order = self._own_open_order(cmd.account_id, cmd.order_id)
        if cmd.quantity is None and cmd.price_cents is None:
            raise _err("validation_error", "Give a new quantity, a new price_cents, or both.")
        rules = self._rules(order["sku"])
        if cmd.quantity is not None:
            if not _is_int(cmd.quantity):
                raise _err("validation_error", "quantity must be an integer.")
            if cmd.quantity <= order["filled_quantity"]:
                raise _err(
                    "quantity_at_or_below_filled",
                    f"The new quantity must be above the {order['filled_quantity']} "
                    "already filled.",
                )
            if cmd.quantity > rules.max_quantity:
                raise _err(
                    "quantity_out_of_range", self._reject_sentence("quantity_out_of_range", rules)
                )
        if cmd.price_cents is not None:
            if not _is_int(cmd.price_cents):
                raise _err("validation_error", "price_cents must be an integer number of cents.")
            reason = check_price(rules, cmd.price_cents)
            if reason is not None:
                raise _err(str(reason), self._reject_sentence(str(reason), rules))

    def _validate_account(self, cmd: CreateAccount) -> None:
        validate_name(cmd.name)
        parse_role(cmd.role)
        if cmd.account_id != self.accounts.next_id():
            raise _err("validation_error", "account_id must be the engine's next account id.")
        if not isinstance(cmd.key_hash, str) or len(cmd.key_hash) != 64:
            raise _err("validation_error", "key_hash must be a sha256 hex digest.")
        if self.accounts.by_key_hash(cmd.key_hash) is not None:
            raise _err("validation_error", "That API key is already in use.")

    def _validate_product(self, cmd: CreateProduct) -> None:
        # Building the Product checks its fields; check_new what add() would refuse.
        self.catalog.check_new(cmd.product())

    def _party_trade(self, account_id: str, trade_id: object) -> dict[str, Any]:
        """The trade ``account_id`` sold; another's trade is not found."""
        self._account(account_id)
        trade = self._trades.get(trade_id) if type(trade_id) is int else None
        if trade is None or trade["seller_id"] != account_id:
            raise _err("not_found", f"You sold no trade {trade_id}.")
        return trade

    def _settlement_state(self, trade_id: int) -> TradeState:
        state = self._settling.get(trade_id)
        if state is None:
            trade = self._trades[trade_id]
            raise _err(
                "invalid_settlement_transition",
                f"Trade {trade_id} is {trade['settlement_status']}; its settlement is over.",
            )
        return state

    def _validate_authenticate(self, cmd: AuthenticateTrade, now: int) -> None:
        account = self._account(cmd.account_id)
        if account.role not in (Role.AUTHENTICATOR, Role.ADMIN):
            raise _err("forbidden", "Only an authenticator may authenticate trades.")
        if type(cmd.passed) is not bool:
            raise _err("validation_error", "passed must be true or false.")
        trade = self._trades.get(cmd.trade_id) if _is_int(cmd.trade_id) else None
        if trade is None:
            raise _err("not_found", f"There is no trade {cmd.trade_id}.")
        authenticate(self._settlement_state(cmd.trade_id), cmd.passed, now)

    def _validate_holding(self, cmd: AddHolding) -> None:
        self._account(cmd.account_id)
        self._rules(cmd.sku)
        check_manual(cmd.purchase_price_cents, cmd.acquired_at, cmd.condition)

    # ---------------------------------------------------------- idempotency

    def idempotent_replay(self, cmd: PlaceOrder, now: int) -> dict[str, Any] | None:
        """The answer to a repeated placement, or None when its id is new.

        Returns:
            ``{"order", "fills"}``: the order's current state and the fills
            of its first placement, when ``cmd`` repeats the same normalized
            body under the same ``client_order_id``.

        Raises:
            ExchangeError: ``client_order_id_reused`` for a different body.
        """
        coid = cmd.client_order_id
        if coid is None:
            return None
        order_id = self._idem.get((cmd.account_id, coid))
        if order_id is None:
            return None
        order = self._order(order_id)
        assert order is not None
        same = (
            order["sku"] == cmd.sku
            and order["side"] == cmd.side
            and order["type"] == cmd.order_type
            and self._placed[order_id] == (cmd.price_cents, cmd.quantity)
            and order["time_in_force"] == cmd.time_in_force
            and order["post_only"] == cmd.post_only
            and _expiry_span(order["expires_at"], order["created_at"])
            == _expiry_span(cmd.expires_at, now)
        )
        if not same:
            raise _err(
                "client_order_id_reused",
                f"client_order_id {coid!r} was already used for a different order.",
            )
        return self._place_answer(order)

    def _place_answer(self, order: dict[str, Any]) -> dict[str, Any]:
        account_id = order["account_id"]
        fills = [
            trade_view(self._trades[t], account_id) for t in self._first_fills.get(order["id"], ())
        ]
        return {"order": order_wire(order), "fills": fills}

    # ---------------------------------------------------------------- apply

    def apply(self, seq: int, ts: int, cmd: Command) -> Outcome:
        """Apply a validated command journaled as ``seq`` at time ``ts``.

        Returns:
            The :class:`Outcome` (response, market data, store ops, facts).
        """
        self.last_seq = seq
        if ts > self.last_ts:
            self.last_ts = ts
        out = Outcome(seq, ts)
        self._want_ops = self.live or seq > self.store_ops_after
        kind = type(cmd)
        if kind is PlaceOrder:
            self._apply_place(cmd, out)  # type: ignore[arg-type]
        elif kind is CancelOrder:
            self._apply_cancel(cmd, out)  # type: ignore[arg-type]
        elif kind is AmendOrder:
            self._apply_amend(cmd, out)  # type: ignore[arg-type]
        elif kind is Tick:
            self._apply_tick(out)
        elif kind is CreateAccount:
            self._apply_account(cmd, out)  # type: ignore[arg-type]
        elif kind is CreateProduct:
            product = self.catalog.add(cmd.product())  # type: ignore[union-attr]
            out.response = self.catalog.product_dict(product.style)
            out.status = 201
        elif kind is MarkShipped:
            self._apply_ship(cmd, out)  # type: ignore[arg-type]
        elif kind is AuthenticateTrade:
            self._apply_authenticate(cmd, out)  # type: ignore[arg-type]
        elif kind is AddHolding:
            self._apply_add_holding(cmd, out)  # type: ignore[arg-type]
        elif kind is RemoveHolding:
            self._apply_remove_holding(cmd, out)  # type: ignore[arg-type]
        else:  # pragma: no cover - validate() refuses these
            raise TypeError(f"unknown command {cmd!r}")
        return out

    def _book(self, sku: str) -> OrderBook:
        book = self.books.get(sku)
        if book is None:
            book = self.books[sku] = OrderBook(sku, self.catalog.sku(sku).rules)
        return book

    def _apply_account(self, cmd: CreateAccount, out: Outcome) -> None:
        account = self.accounts.add(
            Account(
                id=cmd.account_id,
                name=cmd.name,
                role=Role(cmd.role),
                key_hash=cmd.key_hash,
                created_at=out.ts,
            )
        )
        out.status = 201
        out.response = {
            "account_id": account.id,
            "name": account.name,
            "role": str(account.role),
            "created_at": rfc3339(out.ts),
        }

    def _apply_place(self, cmd: PlaceOrder, out: Outcome) -> None:
        ts = out.ts
        oid = self._next_order
        self._next_order = oid + 1
        account_id = cmd.account_id
        order: dict[str, Any] = {
            "id": oid,
            "account_id": account_id,
            "client_order_id": cmd.client_order_id,
            "sku": cmd.sku,
            "side": cmd.side,
            "type": cmd.order_type,
            "time_in_force": cmd.time_in_force,
            "post_only": cmd.post_only,
            "price_cents": cmd.price_cents,
            "quantity": cmd.quantity,
            "filled_quantity": 0,
            "status": OPEN,
            "cancel_reason": None,
            "created_at": ts,
            "updated_at": ts,
            "expires_at": cmd.expires_at,
        }
        self._orders[oid] = order
        by_acc = self._orders_by_account.get(account_id)
        if by_acc is None:
            self._orders_by_account[account_id] = [oid]
        else:
            by_acc.append(oid)
        if cmd.client_order_id is not None:
            self._idem[(account_id, cmd.client_order_id)] = oid
            # What the body said, for comparing repeats after amends.
            self._placed[oid] = (cmd.price_cents, cmd.quantity)
        self._open_orders += 1
        book = self._book(cmd.sku)
        events = book.place(
            BookPlace(
                oid,
                account_id,
                _SIDES[cmd.side],
                cmd.quantity,
                cmd.price_cents,
                _TYPES[cmd.order_type],
                _TIFS[cmd.time_in_force],
                cmd.post_only,
                cmd.expires_at,
                ts,
            )
        )
        fills = self._process(cmd.sku, events, out, order, placing=True)
        if order["status"] == OPEN and cmd.expires_at is not None:
            heapq.heappush(self._expiries, (cmd.expires_at, oid))
        if fills and cmd.client_order_id is not None:
            self._first_fills[oid] = [t["id"] for t in fills]
        out.status = 201
        out.order_status = order["status"]
        out.order_reason = order["cancel_reason"]
        if self.live:
            out.response = {
                "order": order_wire(order),
                "fills": [trade_view(t, account_id) for t in fills],
            }

    def _apply_cancel(self, cmd: CancelOrder, out: Outcome) -> None:
        order = self._orders[cmd.order_id]
        events = self._book(order["sku"]).cancel(BookCancel(cmd.order_id, out.ts))
        self._process(order["sku"], events, out, None)
        if self.live:
            out.response = order_wire(order)

    def _apply_amend(self, cmd: AmendOrder, out: Outcome) -> None:
        order = self._orders[cmd.order_id]
        events = self._book(order["sku"]).amend(
            BookAmend(cmd.order_id, cmd.quantity, cmd.price_cents, out.ts)
        )
        fills = self._process(order["sku"], events, out, order)
        out.response = {
            "order": order_wire(order),
            "fills": [trade_view(t, cmd.account_id) for t in fills],
        }

    def _process(
        self,
        sku: str,
        events: list[Any],
        out: Outcome,
        taker: dict[str, Any] | None,
        placing: bool = False,
    ) -> list[dict[str, Any]]:
        """Fold one book command's events into the state; returns the new trades."""
        ts = out.ts
        orders = self._orders
        touched: dict[int, dict[str, Any]] = {}
        if taker is not None:
            touched[taker["id"]] = taker
        trades: list[dict[str, Any]] = []
        changes: list[tuple[str, int, int]] = []
        counts: dict[tuple[str, int], int] = {}
        live = self.live
        levels_changed = False
        for ev in events:
            kind = type(ev)
            if kind is _ACCEPTED:
                continue
            if kind is _LEVEL:
                levels_changed = True
                if live:  # a replay builds no BookUpdate: skip its parts
                    side = "bid" if ev.side is _BID else "ask"
                    price = ev.price_cents
                    changes.append((side, price, ev.quantity))
                    counts[(side, price)] = ev.orders
            elif kind is _FILL:
                taker_id = ev.taker_order_id
                maker_id = ev.maker_order_id
                qty = ev.quantity
                maker = orders[maker_id]
                tk = orders[taker_id]
                maker["filled_quantity"] += qty
                tk["filled_quantity"] += qty
                maker["updated_at"] = ts
                tk["updated_at"] = ts
                if ev.maker_remaining == 0:
                    maker["status"] = FILLED
                    self._open_orders -= 1
                if ev.taker_remaining == 0:
                    tk["status"] = FILLED
                    self._open_orders -= 1
                touched[maker_id] = maker
                touched[taker_id] = tk
                trades.append(self._trade(sku, ev, ts, out))
            elif kind is _CANCELED:
                o = orders[ev.order_id]
                o["status"] = EXPIRED if ev.reason is _EXPIRED_REASON else CANCELED
                o["cancel_reason"] = _REASONS[ev.reason]
                o["updated_at"] = ts
                self._open_orders -= 1
                touched[o["id"]] = o
            elif kind is _AMENDED:
                o = orders[ev.order_id]
                o["price_cents"] = ev.price_cents
                o["quantity"] = ev.quantity
                o["updated_at"] = ts
                touched[o["id"]] = o
            elif kind is _REJECTED:
                if placing and taker is not None:
                    # A new order refused by the book (post-only would take):
                    # journaled all the same, it ends rejected.
                    o = taker
                    o["status"] = REJECTED
                    o["cancel_reason"] = ev.reason.value
                    self._open_orders -= 1
                else:
                    out.error = _err(
                        ev.reason.value, self._reject_sentence(ev.reason.value, SkuRules())
                    )
        md = self._md.get(sku)
        if md is None:
            md = self._md[sku] = [0, 0, 0]
        if not live:
            # Replaying: only the sequences matter (nobody reads the events).
            if trades:
                md[0] += len(trades)
                md[2] = md[0]
            if levels_changed:
                md[0] += 1
                md[1] = md[0]
                self._checksums.pop(sku, None)
        else:
            for t in trades:
                md[0] += 1
                out.md.append(
                    TradePrint(
                        sku,
                        md[0],
                        md[2],
                        t["id"],
                        t["price_cents"],
                        t["quantity"],
                        t["taker_side"],
                        ts,
                    )
                )
                out.md_orders.append(None)
                md[2] = md[0]
            if changes:
                md[0] += 1
                checksum = self._checksum(sku, changes)
                out.md.append(BookUpdate(sku, md[0], md[1], tuple(changes), checksum, ts))
                out.md_orders.append(counts)
                md[1] = md[0]
        ops = out.store_ops
        want_ops = self._want_ops
        for o in touched.values():
            if want_ops:
                ops.append(("order", dict(o)))
            if o["status"] != OPEN:
                self._orders[o["id"]] = _order_tuple(o)
        return trades

    def _checksum(self, sku: str, changes: list[tuple[str, int, int]]) -> int:
        """The book's checksum after ``changes``, kept up to date incrementally.

        The rule is :func:`orderbook.checksum.book_checksum`'s (the test of
        this method compares with ``OrderBook.checksum`` after every
        command). Each side keeps a :class:`_TopLevels` mirror of its best
        levels, updated from the command's level changes (each carries the
        level's new total), so the book's ladder is read only when a side's
        mirror runs short of :data:`CHECKSUM_DEPTH` levels; the side's part of
        the string is rejoined only when a change lands among its top 10.
        """
        cached = self._checksums.get(sku)
        if cached is None:
            bids, asks = self.books[sku].depth(_MIRROR_DEPTH)
            ask_top = _TopLevels(asks, 1)
            bid_top = _TopLevels(bids, -1)
            self._checksums[sku] = (ask_top, bid_top)
        else:
            ask_top, bid_top = cached
            ask_dirty = bid_dirty = False
            for side, price, qty in changes:
                if side == "ask":
                    if ask_top.change(price, price, qty):
                        ask_dirty = True
                elif bid_top.change(-price, price, qty):
                    bid_dirty = True
            if ask_dirty or bid_dirty:
                refill = (ask_dirty and ask_top.short()) or (bid_dirty and bid_top.short())
                bids_asks = self.books[sku].depth(_MIRROR_DEPTH) if refill else None
                if ask_dirty:
                    ask_top.rejoin(None if bids_asks is None else bids_asks[1])
                if bid_dirty:
                    bid_top.rejoin(None if bids_asks is None else bids_asks[0])
            if len(ask_top.keys) > _MIRROR_MAX:
                ask_top.trim()
            if len(bid_top.keys) > _MIRROR_MAX:
                bid_top.trim()
            if not (ask_dirty or bid_dirty):
                return ask_top.checksum_with(bid_top)
        return ask_top.checksum_with(bid_top, fresh=True)

    # ----------------------------------------------------------- trades

    def _trade(self, sku: str, ev: Fill, ts: int, out: Outcome) -> dict[str, Any]:
        tid = self._next_trade
        self._next_trade = tid + 1
        if ev.taker_side is _BID:
            buy_id, sell_id = ev.taker_order_id, ev.maker_order_id
            buyer, seller = ev.taker_owner, ev.maker_owner
        else:
            buy_id, sell_id = ev.maker_order_id, ev.taker_order_id
            buyer, seller = ev.maker_owner, ev.taker_owner
        level = self.seller_stats.level(seller, ts)
        opened = open_trade(
            trade_id=tid,
            sku=sku,
            buyer_id=buyer,
            seller_id=seller,
            price_cents=ev.price_cents,
            quantity=ev.quantity,
            seller_level=level,
            now=ts,
            schedule=self.schedule,
            ship_deadline_ns=self.ship_deadline_ns,
        )
        state = opened.state
        fees = state.fees
        self.seller_stats.record_sale(seller, tid, ts, ev.quantity, fees.gross_cents)
        trade: dict[str, Any] = {
            "id": tid,
            "sku": sku,
            "style": self.catalog.sku(sku).style,
            "price_cents": ev.price_cents,
            "quantity": ev.quantity,
            "taker_side": "bid" if ev.taker_side is _BID else "ask",
            "buy_order_id": buy_id,
            "sell_order_id": sell_id,
            "buyer_id": buyer,
            "seller_id": seller,
            "time": ts,
            "settlement_status": AWAITING,
            "ship_by": state.ship_by,
            "seller_level": level,
            "buyer_fee_cents": fees.buyer_fee_cents,
            "transaction_fee_cents": fees.transaction_fee_cents,
            "processing_fee_cents": fees.processing_fee_cents,
            "buyer_total_cents": fees.buyer_total_cents,
            "seller_payout_cents": fees.seller_payout_cents,
            "platform_fee_cents": fees.platform_fee_cents,
            "updated_at": ts,
        }
        self._trades[tid] = trade
        self._settling[tid] = state
        self._index_trade(trade)
        self._deadlines.push(tid, state.ship_by)
        out.trades += 1
        out.traded_cents += fees.gross_cents
        out.fees_cents += fees.platform_fee_cents
        if self._want_ops:
            out.store_ops.append(("trade", dict(trade)))
        self._record(opened.entries, out)
        return trade

    def _index_trade(self, trade: dict[str, Any]) -> None:
        tid = trade["id"]
        for account_id in (trade["buyer_id"], trade["seller_id"]):
            lst = self._trades_by_account.get(account_id)
            if lst is None:
                self._trades_by_account[account_id] = [tid]
            else:
                lst.append(tid)
        lst = self._trades_by_sku.get(trade["sku"])
        if lst is None:
            self._trades_by_sku[trade["sku"]] = [tid]
        else:
            lst.append(tid)

    def _record(self, entries: Iterable[LedgerEntry], out: Outcome) -> None:
        """Give ledger entries their ids and keep them."""
        by_account = self._ledger_by_account
        for entry in entries:
            lid = self._next_ledger
            self._next_ledger = lid + 1
            row = entry.to_row(lid)
            self._ledger[lid] = row
            lst = by_account.get(entry.account_id)
            if lst is None:
                by_account[entry.account_id] = [lid]
            else:
                lst.append(lid)
            if self._want_ops:
                out.store_ops.append(("ledger", dict(row)))

    # ------------------------------------------------------- settlement

    def _settle(self, trade: dict[str, Any], step: Transition, out: Outcome) -> None:
        """Apply one settlement step to the trade and record its entries."""
        state = step.state
        status = state.status
        trade["settlement_status"] = status.value
        trade["updated_at"] = out.ts
        if status is SettlementStatus.DELIVERED or status is SettlementStatus.CANCELED:
            del self._settling[trade["id"]]
            self._deadlines.discard(trade["id"])
            if status is SettlementStatus.CANCELED:
                # A canceled trade is not a sale: it no longer counts for levels.
                self.seller_stats.remove_sale(trade["seller_id"], trade["id"])
                self._md_trade_canceled(trade, out)
            else:
                self._deliver(trade, out)
        else:
            self._settling[trade["id"]] = state
            self._deadlines.discard(trade["id"])
        self._record(step.entries, out)
        out.store_ops.append(("trade", dict(trade)))

    def _md_trade_canceled(self, trade: dict[str, Any], out: Outcome) -> None:
        """Tell market data that a printed trade is no longer a sale."""
        sku = trade["sku"]
        md = self._md.get(sku)
        if md is None:
            md = self._md[sku] = [0, 0, 0]
        md[0] += 1
        if self.live:  # a replay builds no events, but its sequences advance alike
            out.md.append(
                TradeCanceled(
                    sku,
                    md[0],
                    md[2],
                    trade["id"],
                    trade["price_cents"],
                    trade["quantity"],
                    out.ts,
                )
            )
            out.md_orders.append(None)
        md[2] = md[0]

    def _apply_ship(self, cmd: MarkShipped, out: Outcome) -> None:
        trade = self._trades[cmd.trade_id]
        self._settle(trade, ship(self._settling[cmd.trade_id], out.ts), out)
        out.response = trade_view(trade, cmd.account_id)

    def _apply_authenticate(self, cmd: AuthenticateTrade, out: Outcome) -> None:
        trade = self._trades[cmd.trade_id]
        step = authenticate(self._settling[cmd.trade_id], cmd.passed, out.ts)
        self._settle(trade, step, out)
        out.response = trade_view(trade, cmd.account_id)

    def _deliver(self, trade: dict[str, Any], out: Outcome) -> None:
        """Move the items into the buyer's portfolio and out of the seller's."""
        ts = out.ts
        qty = trade["quantity"]
        # Costs and proceeds per unit are whole cents: fees are per unit.
        holdings = self.portfolios.on_delivered_purchase(
            trade["buyer_id"],
            trade["sku"],
            trade["buyer_total_cents"] // qty,
            qty,
            trade["id"],
            ts,
        )
        for holding in holdings:
            out.store_ops.append(("holding", holding.to_row()))
        _, gains = self.portfolios.on_delivered_sale(
            trade["seller_id"], trade["sku"], trade["seller_payout_cents"] // qty, qty, ts
        )
        for gain in gains:
            out.store_ops.append(("holding_delete", {"id": gain.holding_id}))
            out.store_ops.append(("realized", gain.to_row()))

    def _apply_tick(self, out: Outcome) -> None:
        ts = out.ts
        # Expire due orders, book by book in SKU order (deterministic).
        due_skus: set[str] = set()
        heap = self._expiries
        while heap and heap[0][0] <= ts:
            expires_at, oid = heapq.heappop(heap)
            order = self._orders[oid]
            if (
                type(order) is dict
                and order["status"] == OPEN
                and order["expires_at"] == expires_at
            ):
                due_skus.add(order["sku"])
        for sku in sorted(due_skus):
            self._process(sku, self.books[sku].expire(BookExpire(ts)), out, None)
        for tid in self._deadlines.due(ts):
            self._settle(self._trades[tid], overdue(self._settling[tid], ts), out)
        out.response = {"time": rfc3339(ts)}

    # ----------------------------------------------------------- portfolio

    def _apply_add_holding(self, cmd: AddHolding, out: Outcome) -> None:
        holding = self.portfolios.add_manual(
            cmd.account_id, cmd.sku, cmd.purchase_price_cents, cmd.acquired_at, cmd.condition
        )
        out.store_ops.append(("holding", holding.to_row()))
        out.status = 201
        out.response = holding_wire(holding)

    def _apply_remove_holding(self, cmd: RemoveHolding, out: Outcome) -> None:
        self.portfolios.remove_manual(cmd.account_id, cmd.holding_id)
        out.store_ops.append(("holding_delete", {"id": cmd.holding_id}))
        out.response = {"id": cmd.holding_id, "removed": True}

    # -------------------------------------------------------------- due

    def next_due(self) -> int | None:
        """Earliest time a :class:`Tick` would change something, or None."""
        heap = self._expiries
        while heap:
            expires_at, oid = heap[0]
            order = self._orders[oid]
            if (
                type(order) is dict
                and order["status"] == OPEN
                and order["expires_at"] == expires_at
            ):
                break
            heapq.heappop(heap)
        expiry = heap[0][0] if heap else None
        deadline = self._deadlines.next_deadline()
        # A trade is overdue only once ts > ship_by (shipping at ship_by is on time).
        overdue_at = None if deadline is None else deadline + 1
        if expiry is None:
            return overdue_at
        return expiry if overdue_at is None else min(expiry, overdue_at)

    # ------------------------------------------------------------ queries

    def order(self, account_id: str, order_id: int) -> dict[str, Any]:
        """One of the account's orders in wire shape (another's: not_found)."""
        return order_wire(self._own_order(account_id, order_id))

    def orders(self, account_id: str, status: str | None = None) -> list[dict[str, Any]]:
        """The account's orders, oldest first, optionally of one status."""
        rows = (self._known_order(i) for i in self._orders_by_account.get(account_id, ()))
        return [order_wire(o) for o in rows if status is None or o["status"] == status]

    def trade(self, account_id: str, trade_id: int) -> dict[str, Any]:
        """A trade as the account sees it; parties and authenticators only."""
        trade = self._trades.get(trade_id) if _is_int(trade_id) else None
        account = self.accounts.get(account_id)
        if (
            trade is None
            or account is None
            or (
                account_id not in (trade["buyer_id"], trade["seller_id"])
                and account.role not in (Role.AUTHENTICATOR, Role.ADMIN)
            )
        ):
            raise _err("not_found", f"You have no trade {trade_id}.")
        return trade_view(trade, account_id)

    def trades(self, account_id: str, settlement_status: str | None = None) -> list[dict[str, Any]]:
        """The account's fills, oldest first (an authenticator's: every trade)."""
        account = self.accounts.get(account_id)
        if account is not None and account.role in (Role.AUTHENTICATOR, Role.ADMIN):
            ids: Iterable[int] = self._trades.keys()
        else:
            ids = self._trades_by_account.get(account_id, ())
        rows = (self._trades[i] for i in ids)
        return [
            trade_view(t, account_id)
            for t in rows
            if settlement_status is None or t["settlement_status"] == settlement_status
        ]

    def public_trades(
        self, sku: str, limit: int = 100, before: int | None = None, upto_seq: int | None = None
    ) -> list[dict[str, Any]]:
        """The SKU's trades newest first, ids below ``before``, at most ``limit``."""
        ids = self._trades_by_sku.get(sku, [])
        out: list[dict[str, Any]] = []
        for tid in reversed(ids):
            if before is not None and tid >= before:
                continue
            out.append(trade_public(self._trades[tid]))
            if len(out) >= limit:
                break
        return out

    def ledger(self, account_id: str) -> list[dict[str, Any]]:
        """The account's ledger entries, oldest first, times as RFC 3339."""
        out = []
        for lid in self._ledger_by_account.get(account_id, ()):
            row = dict(self._ledger[lid])
            row["time"] = rfc3339(row["time"])
            del row["account_id"]
            out.append(row)
        return out

    def book_levels(
        self, sku: str, depth: int | None = None
    ) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
        """``(bids, asks)`` of ``(price, quantity, orders)``, best first."""
        book = self.books.get(sku)
        if book is None:
            return [], []
        return book.depth(depth)

    def md_sequences(self, sku: str) -> tuple[int, int, int]:
        """``(sequence, book channel sequence, trade channel sequence)`` of a SKU."""
        md = self._md.get(sku)
        return (md[0], md[1], md[2]) if md else (0, 0, 0)

    def seller_level(self, account_id: str, now: int) -> int:
        """The seller's fee level at ``now``, without touching any state.

        (``seller_stats.level`` prunes its window as it reads, which would
        make this engine's snapshot differ from a replay's; use this outside
        :meth:`apply`.)
        """
        window = self.seller_stats._sellers.get(account_id)
        if window is None:
            return fee_seller_level(0, 0, self.schedule)
        cutoff = now - self.schedule.window_ns
        count = volume = 0
        for time_, quantity, gross in window.live.values():
            if time_ > cutoff:
                count += quantity
                volume += gross
        return fee_seller_level(count, volume, self.schedule)

    def trade_count(self) -> int:
        """Trades matched so far (trade ids run from 1 to this)."""
        return self._next_trade - 1

    def resting_orders(self) -> int:
        """Orders open on all books."""
        return self._open_orders

    def order_row(self, order_id: int) -> dict[str, Any] | None:
        """The internal row of any order (tests and tools)."""
        return self._order(order_id)

    def _known_order(self, order_id: int) -> dict[str, Any]:
        order = self._order(order_id)
        assert order is not None
        return order

    def _order_values(self, order_id: int) -> list[Any]:
        order = self._orders[order_id]
        if type(order) is dict:
            return list(_order_tuple(order))
        return list(order)

    def _order(self, order_id: int) -> dict[str, Any] | None:
        """An order as a row dict (a fresh copy for a closed order), or None."""
        order = self._orders.get(order_id)
        if order is None or type(order) is dict:
            return order
        return dict(zip(ORDER_KEYS, order, strict=True))

    def trade_row(self, trade_id: int) -> dict[str, Any] | None:
        """The internal row of any trade (tests and tools)."""
        return self._trades.get(trade_id)

    def store_rows(self) -> Iterable[StoreOp]:
        """Every row the trade store should hold, for rebuilding it."""
        for oid in self._orders:
            yield ("order", dict(self._known_order(oid)))
        for t in self._trades.values():
            yield ("trade", dict(t))
        for e in self._ledger.values():
            yield ("ledger", dict(e))
        portfolios = self.portfolios.to_dict()
        for row in portfolios["holdings"]:
            yield ("holding", row)
        for row in portfolios["realized"]:
            yield ("realized", row)

    # ------------------------------------------------------------ snapshot

    def snapshot(self) -> dict[str, Any]:
        """Everything, as a JSON-able dict (see :meth:`snapshot_bytes`)."""
        return {
            "version": SNAPSHOT_VERSION,
            "last_seq": self.last_seq,
            "last_ts": self.last_ts,
            "ship_deadline_ns": self.ship_deadline_ns,
            "schedule": self.schedule.to_dict(),
            "counters": {
                "order": self._next_order,
                "trade": self._next_trade,
                "ledger": self._next_ledger,
            },
            "catalog": self.catalog.to_dict(),
            "accounts": self.accounts.to_dict(),
            "books": {sku: self.books[sku].snapshot() for sku in sorted(self.books)},
            # Rows as arrays in ORDER_KEYS / TRADE_KEYS / LEDGER_KEYS order: a
            # third of the size (and time) of dicts repeating their keys.
            "orders": [self._order_values(i) for i in sorted(self._orders)],
            "placed": [[i, *self._placed[i]] for i in sorted(self._placed)],
            "idempotency": sorted([a, c, o] for (a, c), o in self._idem.items()),
            "first_fills": [[i, self._first_fills[i]] for i in sorted(self._first_fills)],
            "trades": [[self._trades[i][k] for k in TRADE_KEYS] for i in sorted(self._trades)],
            "ledger": [[self._ledger[i][k] for k in LEDGER_KEYS] for i in sorted(self._ledger)],
            "settling": [self._settling[i].to_dict() for i in sorted(self._settling)],
            "seller_stats": self.seller_stats.to_dict(),
            "portfolios": self.portfolios.to_dict(),
            "md": {sku: self._md[sku] for sku in sorted(self._md)},
        }

    def snapshot_bytes(self) -> bytes:
        """The canonical encoding of :meth:`snapshot` (sorted keys): equal
        states give equal bytes."""
        return orjson.dumps(self.snapshot(), option=orjson.OPT_SORT_KEYS)

    @classmethod
    def restore(cls, data: dict[str, Any]) -> Engine:
        """Rebuild an engine from :meth:`snapshot` output."""
        if data.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"unsupported snapshot version {data.get('version')!r}")
        schedule = FeeSchedule.from_dict(data["schedule"])
        eng = cls(schedule, data["ship_deadline_ns"])
        eng.last_seq = data["last_seq"]
        eng.last_ts = data["last_ts"]
        counters = data["counters"]
        eng._next_order = counters["order"]
        eng._next_trade = counters["trade"]
        eng._next_ledger = counters["ledger"]
        eng.catalog = Catalog.from_dict(data["catalog"])
        eng.accounts = Accounts.from_dict(data["accounts"])
        eng.books = {sku: OrderBook.restore(b) for sku, b in data["books"].items()}
        for values in data["orders"]:
            o = dict(zip(ORDER_KEYS, values, strict=True))
            eng._orders[o["id"]] = o if o["status"] == OPEN else tuple(values)
            eng._orders_by_account.setdefault(o["account_id"], []).append(o["id"])
            if o["status"] == OPEN:
                eng._open_orders += 1
                if o["expires_at"] is not None:
                    eng._expiries.append((o["expires_at"], o["id"]))
        heapq.heapify(eng._expiries)
        eng._placed = {i: (p, q) for i, p, q in data["placed"]}
        eng._idem = {(a, c): o for a, c, o in data["idempotency"]}
        eng._first_fills = {i: list(ids) for i, ids in data["first_fills"]}
        for values in data["trades"]:
            t = dict(zip(TRADE_KEYS, values, strict=True))
            eng._trades[t["id"]] = t
            eng._index_trade(t)
        for item in data["settling"]:
            state = TradeState.from_dict(item)
            eng._settling[state.trade_id] = state
            if state.status is SettlementStatus.AWAITING_SHIPMENT:
                eng._deadlines.push(state.trade_id, state.ship_by)
        for values in data["ledger"]:
            e = dict(zip(LEDGER_KEYS, values, strict=True))
            eng._ledger[e["id"]] = e
            eng._ledger_by_account.setdefault(e["account_id"], []).append(e["id"])
        eng.seller_stats = SellerStats.from_dict(data["seller_stats"], schedule)
        eng.portfolios = Portfolios.from_dict(data["portfolios"])
        eng._md = {sku: list(v) for sku, v in data["md"].items()}
        return eng

    @classmethod
    def restore_bytes(cls, data: bytes) -> Engine:
        """:meth:`restore` from :meth:`snapshot_bytes` output."""
        return cls.restore(orjson.loads(data))


_MIRROR_DEPTH = 2 * CHECKSUM_DEPTH
"""Levels a side's :class:`_TopLevels` reads from the book when (re)filled."""
_MIRROR_MAX = 4 * CHECKSUM_DEPTH
"""A mirror grown beyond this is cut back to :data:`_MIRROR_DEPTH` levels."""


class _TopLevels:
    """One side's best levels, mirrored for the checksum (engine-internal).

    Invariant: ``keys`` (ascending; the price for asks, minus the price for
    bids) holds exactly the book's live levels of that side whose key is at
    most ``keys[-1]``, and all of them when ``complete``; ``strs`` holds each
    level's ``price:quantity``; ``part`` is the checksum string's part for
    the side as of the last :meth:`rejoin`.
    """

    __slots__ = ("checksum", "complete", "keys", "part", "sign", "strs")

    def __init__(self, levels: list[tuple[int, int, int]], sign: int) -> None:
        self.sign = sign
        self.checksum = 0
        self.keys: list[int] = []
        self.strs: list[str] = []
        self.complete = True
        self.part = ""
        self.rejoin(levels)

    def change(self, key: int, price: int, qty: int) -> bool:
        """Apply a level's new total ``qty`` (0: gone); True when it is in the top 10."""
        keys = self.keys
        i = bisect_left(keys, key)
        if i < len(keys) and keys[i] == key:
            if qty:
                self.strs[i] = f"{price}:{qty}"
            else:
                del keys[i]
                del self.strs[i]
        elif qty and (i < len(keys) or self.complete):
            keys.insert(i, key)
            self.strs.insert(i, f"{price}:{qty}")
        else:
            # Beyond the mirror's last level (or a removal of one): not mirrored.
            return False
        return i < CHECKSUM_DEPTH

    def short(self) -> bool:
        """Whether the book may hold top-10 levels the mirror lacks."""
        return not self.complete and len(self.keys) < CHECKSUM_DEPTH

    def rejoin(self, levels: list[tuple[int, int, int]] | None) -> None:
        """Rebuild ``part``; first refill from ``levels`` (best first) when given."""
        if levels is not None:
            sign = self.sign
            self.keys = [sign * p for p, _, _ in levels]
            self.strs = [f"{p}:{q}" for p, q, _ in levels]
            self.complete = len(levels) < _MIRROR_DEPTH
        self.part = ",".join(self.strs[:CHECKSUM_DEPTH])

    def trim(self) -> None:
        """Forget the levels beyond the first :data:`_MIRROR_DEPTH`."""
        del self.keys[_MIRROR_DEPTH:]
        del self.strs[_MIRROR_DEPTH:]
        self.complete = False

    def checksum_with(self, bids: _TopLevels, fresh: bool = False) -> int:
        """The book checksum of this (ask) side and ``bids``; cached unless ``fresh``."""
        if fresh:
            self.checksum = zlib.crc32(f"{self.part}|{bids.part}".encode("ascii"))
        return self.checksum


def holding_wire(holding: Holding) -> dict[str, Any]:
    """The wire shape of a holding (times as RFC 3339)."""
    row = holding.to_row()
    del row["account_id"]
    row["acquired_at"] = rfc3339(holding.acquired_at)
    return row


def _expiry_span(expires_at: int | None, created_at: int) -> int | None:
    return None if expires_at is None else expires_at - created_at
