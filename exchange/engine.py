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
  :meth:`Engine.next_account_id`, which the venue reads before journaling;
  API key ids ``key_<n>`` from :class:`~exchange.keys.ApiKeys` (a revoked key
  leaves every lookup when its :class:`RevokeApiKey` is applied).
- Idempotency (:mod:`exchange.orders`): ``(account_id, client_order_id)`` is
  unique for good. :meth:`Engine.idempotent_replay` answers a repeat with the
  same normalized body (200: the order's current state and the fills of its
  first placement); a different body raises ``client_order_id_reused``.
- Market data (:mod:`exchange.marketdata`): one ``sequence`` per SKU rises
  by one per event; a command's :class:`TradePrint` events come first, in
  match order, then one :class:`BookUpdate` with every level it changed
  (bid before ask, price ascending) and the book's checksum after it.
  ``prev_sequence`` is the previous event of the same channel and SKU.
  When a trade's settlement becomes ``canceled`` the command that did it
  (a :class:`Tick` or a failed :class:`AuthenticateTrade`) emits a
  :class:`TradeCanceled` on the trade's SKU, on the trades channel (it takes
  the next ``sequence``; replaying advances the sequences the same way).
- Settlement (:mod:`exchange.settlement`, applied by
  :mod:`exchange.clearing`): a trade starts ``awaiting_shipment`` with
  ``ship_by = ts + ship_deadline``; the seller ships it (:class:`MarkShipped`,
  only while ``ts <= ship_by``); an authenticator passes it (``delivered``:
  the seller is paid, the buyer's portfolio gains the items, the seller's
  loses its oldest ones of the SKU, and the sale starts counting toward
  the seller's fee level) or fails it (``canceled``). Nobody authenticates a
  trade they are a party to. A :class:`Tick` after ``ship_by`` cancels a
  trade still awaiting shipment, and one after ``authenticate_by`` (ship
  time + ``authenticate_deadline_ns``) a shipped trade nobody authenticated.
  Canceling refunds the buyer and, unless the platform missed the
  authentication deadline, charges the seller the penalty.
- :meth:`Engine.next_due` is the earliest time a :class:`Tick` would change
  something (an order's expiry or a ship deadline), so the venue journals a
  Tick only when useful.
- Wire shapes: :mod:`exchange.wire`. Store ops: :mod:`exchange.outcome`.

LAYOUT

The engine is a dispatch table over components, each owning its state and
its part of the snapshot: :class:`~exchange.orders.Orders` (registry,
idempotency, expiry), :class:`~exchange.trades.Trades` (trades and the
ledger), :class:`~exchange.clearing.Clearing` (settlement),
:class:`~exchange.marketdata.Sequencer` (market-data sequences and
checksums), plus the catalog, the accounts, the seller statistics of the fee
levels and the portfolios. One handler checks and one applies each command
type (:attr:`Engine.live` and :attr:`Engine.store_ops_after` reach them
through the :class:`Outcome`).

Costs: placing or canceling is the book's cost plus O(1) bookkeeping per
event; :meth:`next_due` is amortized O(log n); the snapshot is O(state).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import orjson

from orderbook.book import OrderBook
from orderbook.commands import AmendOrder as BookAmend
from orderbook.commands import CancelOrder as BookCancel
from orderbook.commands import ExpireOrders as BookExpire
from orderbook.commands import PlaceOrder as BookPlace
from orderbook.events import Fill
from orderbook.rules import SkuRules

from .accounts import Account, Accounts, Role, parse_role, validate_name
from .catalog import Catalog
from .clearing import Clearing
from .clock import HOUR_NS, rfc3339
from .commands import (
    AddHolding,
    AmendOrder,
    AuthenticateTrade,
    CancelOrder,
    Command,
    CreateAccount,
    CreateApiKey,
    CreateProduct,
    Evict,
    MarkShipped,
    PlaceOrder,
    RemoveHolding,
    RevokeApiKey,
    Tick,
)
from .errors import ExchangeError
from .eviction import ORDER, TRADE, Retirements
from .fees import DEFAULT_SCHEDULE, FeeSchedule, SellerStats
from .fees import seller_level as fee_seller_level
from .keys import ApiKey, key_wire
from .marketdata import Sequencer
from .orders import SIDES, TIFS, TYPES, OrderRecord, Orders
from .outcome import Outcome, StoreOp
from .portfolio import Portfolios, check_manual
from .settlement import DEFAULT_AUTHENTICATE_DEADLINE_NS
from .trades import TradeRecord, Trades
from .wire import account_wire, holding_wire, ledger_wire, order_wire, trade_public, trade_view

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

SNAPSHOT_VERSION = 3
"""3: ``authenticate_deadline_ns``, and ``authenticate_by`` of shipped trades in
``settling``. :meth:`Engine.restore` also reads version 2 (the deadline takes
its default; a shipped trade's authentication is due that long after it
shipped)."""

_READABLE_VERSIONS = (2, SNAPSHOT_VERSION)

DEFAULT_MAX_OPEN_ORDERS = 10_000
"""Open orders one account may have; placing one more that could rest (a GTC
limit order) is refused ``open_order_limit``."""
DEFAULT_MAX_HOLDINGS = 5_000
"""Holdings one account's portfolio may have; adding one more is refused
``holding_limit`` (deliveries still add theirs: a settled purchase is a fact)."""

_OPEN = "open"


def _err(code: str, message: str) -> ExchangeError:
    return ExchangeError(code, message)


class Engine:
    """Every book, order, trade, account and ledger entry of the venue.

    Args:
        schedule: the fee schedule.
        ship_deadline_ns: time a seller has to ship after the match.
        authenticate_deadline_ns: time the platform has to authenticate a
            trade after it shipped (then it is canceled, the buyer refunded,
            the seller not penalized).

    Attributes:
        max_open_orders: per-account open orders, checked when placing.
        max_holdings: per-account holdings, checked when adding one by hand.
            Both are static checks only (never applied in replay), so they
            are settings, not state: not in the snapshot.
    """

    def __init__(
        self,
        schedule: FeeSchedule = DEFAULT_SCHEDULE,
        ship_deadline_ns: int = 48 * HOUR_NS,
        authenticate_deadline_ns: int = DEFAULT_AUTHENTICATE_DEADLINE_NS,
    ) -> None:
        self.schedule = schedule
        self.ship_deadline_ns = ship_deadline_ns
        self.authenticate_deadline_ns = authenticate_deadline_ns
        self.max_open_orders = DEFAULT_MAX_OPEN_ORDERS
        self.max_holdings = DEFAULT_MAX_HOLDINGS
        self.catalog = Catalog()
        self.accounts = Accounts()
        self.seller_stats = SellerStats(schedule)
        self.portfolios = Portfolios()
        self.books: dict[str, OrderBook] = {}
        self.last_seq = 0
        self.last_ts = 0
        self._orders = Orders()
        self._trades = Trades()
        self._sequencer = Sequencer()
        self._clearing = Clearing(self._trades, self.seller_stats, self.portfolios, self._sequencer)
        self._trades.retired = self._orders.retired
        self.evicted_seq = 0
        """The last :class:`Evict` watermark: history final at or below it
        left memory (the store must hold it)."""
        self.live = True
        """False while replaying a journal: answers and market-data events
        are not built (nobody reads them), which makes recovery faster;
        everything else, market-data sequences included, is the same."""
        self.store_ops_after = 0
        """While not :attr:`live`, the order, trade and ledger store ops of
        commands with ``seq`` at or below this are left out (the venue sets
        it to the seq its store already holds); live, every op is built."""
        # One static check and one application per command type.
        self._checks: dict[type, Callable[[Any, int], None]] = {
            PlaceOrder: self._check_place,
            CancelOrder: self._check_cancel,
            AmendOrder: self._check_amend,
            Tick: self._check_tick,
            CreateAccount: self._check_account,
            CreateProduct: self._check_product,
            MarkShipped: self._check_ship,
            AuthenticateTrade: self._check_authenticate,
            AddHolding: self._check_add_holding,
            RemoveHolding: self._check_remove_holding,
            Evict: self._check_evict,
            CreateApiKey: self._check_create_key,
            RevokeApiKey: self._check_revoke_key,
        }
        self._handlers: dict[type, Callable[[Any, Outcome], None]] = {
            PlaceOrder: self._apply_place,
            CancelOrder: self._apply_cancel,
            AmendOrder: self._apply_amend,
            Tick: self._apply_tick,
            CreateAccount: self._apply_account,
            CreateProduct: self._apply_product,
            MarkShipped: self._apply_ship,
            AuthenticateTrade: self._apply_authenticate,
            AddHolding: self._apply_add_holding,
            RemoveHolding: self._apply_remove_holding,
            Evict: self._apply_evict,
            CreateApiKey: self._apply_create_key,
            RevokeApiKey: self._apply_revoke_key,
        }

    # ------------------------------------------------------------------ ids

    def start_ids_at(self, base: int) -> None:
        """Number orders, trades, ledger entries and holdings from ``base + 1``.

        Cluster mode gives each shard a range of its own, so that an id names
        its shard. Only on a fresh engine (before its first command).
        """
        if self.last_seq:
            raise RuntimeError("ids can only be moved before the first command")
        self._orders.next_id = base + 1
        self._trades.next_trade = base + 1
        self._trades.next_ledger = base + 1
        self.portfolios.start_ids_at(base)

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
        check = self._checks.get(type(cmd))
        if check is None:
            raise _err("validation_error", f"Unknown command {cmd!r}.")
        check(cmd, self.last_ts if now is None else now)

    def _account(self, account_id: str) -> Account:
        account = self.accounts.get(account_id)
        if account is None:
            raise _err("unauthorized", "Unknown account.")
        return account

    def _rules(self, sku: object) -> SkuRules:
        info = self.catalog.find_sku(sku)
        if info is None:
            raise _err("unknown_sku", f"There is no SKU {sku!r}.")
        return info.rules

    def _check_place(self, cmd: PlaceOrder, now: int) -> None:
        if self.accounts.get(cmd.account_id) is None:  # self._account, inlined: the hot path
            raise _err("unauthorized", "Unknown account.")
        self._orders.check_place(cmd, self._rules(cmd.sku), now)
        # Only an order that may rest counts against the limit: market, IOC and FOK never do.
        if (
            cmd.order_type == "limit"
            and cmd.time_in_force == "gtc"
            and self._orders.open_by_account.get(cmd.account_id, 0) >= self.max_open_orders
        ):
            raise _err(
                "open_order_limit",
                f"An account may have at most {self.max_open_orders} open orders; "
                "cancel some before placing more.",
            )

    def _check_cancel(self, cmd: CancelOrder, now: int) -> None:
        self._account(cmd.account_id)
        self._orders.own_open(cmd.account_id, cmd.order_id)

    def _check_amend(self, cmd: AmendOrder, now: int) -> None:
        self._account(cmd.account_id)
        order = self._orders.own_open(cmd.account_id, cmd.order_id)
        self._orders.check_amend(cmd, order, self._rules(order.sku))

    def _check_tick(self, cmd: Tick, now: int) -> None:
        return

    def _check_account(self, cmd: CreateAccount, now: int) -> None:
        validate_name(cmd.name)
        parse_role(cmd.role)
        if cmd.account_id != self.accounts.next_id():
            raise _err("validation_error", "account_id must be the engine's next account id.")
        if not isinstance(cmd.key_hash, str) or len(cmd.key_hash) != 64:
            raise _err("validation_error", "key_hash must be a sha256 hex digest.")
        if self.accounts.by_key_hash(cmd.key_hash) is not None:
            raise _err("validation_error", "That API key is already in use.")

    def _check_create_key(self, cmd: CreateApiKey, now: int) -> None:
        self.accounts.check_new_key(cmd.account_id, cmd.key_hash, cmd.label)

    def _check_revoke_key(self, cmd: RevokeApiKey, now: int) -> None:
        self.accounts.check_revoke(cmd.account_id, cmd.key_id, cmd.as_admin is True)

    def _check_product(self, cmd: CreateProduct, now: int) -> None:
        # Building the Product checks its fields; check_new what add() would refuse.
        self.catalog.check_new(cmd.product())

    def _check_ship(self, cmd: MarkShipped, now: int) -> None:
        self._account(cmd.account_id)
        self._clearing.check_ship(cmd.account_id, cmd.trade_id, now)

    def _check_authenticate(self, cmd: AuthenticateTrade, now: int) -> None:
        account = self._account(cmd.account_id)
        self._clearing.check_authenticate(account, cmd.trade_id, cmd.passed, now)

    def _check_add_holding(self, cmd: AddHolding, now: int) -> None:
        self._account(cmd.account_id)
        self._rules(cmd.sku)
        check_manual(cmd.purchase_price_cents, cmd.acquired_at, cmd.condition)
        if self.portfolios.count(cmd.account_id) >= self.max_holdings:
            raise _err(
                "holding_limit",
                f"A portfolio may hold at most {self.max_holdings} items; "
                "remove some before adding more.",
            )

    def _check_remove_holding(self, cmd: RemoveHolding, now: int) -> None:
        self._account(cmd.account_id)
        if type(cmd.holding_id) is not int:
            raise _err("not_found", "No such portfolio item.")
        self.portfolios.check_remove_manual(cmd.account_id, cmd.holding_id)

    def _check_evict(self, cmd: Evict, now: int) -> None:
        upto = cmd.upto_seq
        if type(upto) is not int or not self.evicted_seq < upto <= self.last_seq:
            raise _err("validation_error", "upto_seq must lie after the last eviction.")

    # ------------------------------------------------------------- eviction

    def _apply_evict(self, cmd: Evict, out: Outcome) -> None:
        orders, trades = self._orders, self._trades
        evicted = 0
        # The live answer names the trades that left (the venue keeps each
        # SKU's recent ones for the feed's history); a replay needs none.
        gone: list[dict[str, Any]] | None = [] if out.live else None
        for kind, row_id in orders.retired.due(cmd.upto_seq):
            if kind == ORDER:
                orders.evict(row_id)
            elif kind == TRADE:
                if gone is not None and (trade := trades.get(row_id)) is not None:
                    gone.append(trade.to_row())
                trades.evict_trade(row_id)
            else:
                trades.evict_entry(row_id)
            evicted += 1
        self.evicted_seq = cmd.upto_seq
        out.response = {"upto_seq": cmd.upto_seq, "evicted": evicted, "trades": gone or []}

    def oldest_final_seq(self) -> int | None:
        """Seq at which the oldest final row still in memory ended (None: none),
        so the venue journals an :class:`Evict` only when it would drop something."""
        return self._orders.retired.oldest_seq()

    def has_evicted_keys(self, account_id: str) -> bool:
        """Whether some of the account's ``client_order_id`` keys left memory."""
        return account_id in self._orders.evicted_keys

    @property
    def order_registry(self) -> Orders:
        """The orders component (read only outside :meth:`apply`)."""
        return self._orders

    @property
    def trade_book(self) -> Trades:
        """The trades and ledger component (read only outside :meth:`apply`)."""
        return self._trades

    # ---------------------------------------------------------- idempotency

    def idempotent_replay(self, cmd: PlaceOrder, now: int) -> dict[str, Any] | None:
        """The answer to a repeated placement, or None when its id is new.

        Returns:
            ``{"order", "fills"}``: the order's current state and the fills
            of its first placement, when ``cmd`` repeats the same normalized
            body under the same ``client_order_id``. When some of those
            trades left memory, ``fills`` is None and ``fill_ids`` names them
            all (the venue reads them from the store).

        Raises:
            ExchangeError: ``client_order_id_reused`` for a different body.
        """
        order = self._orders.repeat_of(cmd, now)
        if order is None:
            return None
        account_id = order.account_id
        trades = self._trades
        fill_ids = self._orders.first_fills(order.id)
        if not all(trades.holds(t) for t in fill_ids):
            return {"order": order_wire(order), "fills": None, "fill_ids": fill_ids}
        fills = [trade_view(trades[t], account_id) for t in fill_ids]
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
        if not self.live:
            out.live = False
            out.want_ops = seq > self.store_ops_after
        handler = self._handlers.get(type(cmd))
        if handler is None:  # pragma: no cover - validate() refuses these
            raise TypeError(f"unknown command {cmd!r}")
        handler(cmd, out)
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
            ),
            cmd.key_last4,
        )
        out.status = 201
        out.response = account_wire(account.id, account.name, str(account.role), out.ts)

    def _apply_create_key(self, cmd: CreateApiKey, out: Outcome) -> None:
        keys = self.accounts.keys
        label = None if cmd.label is None else cmd.label.strip()
        key = ApiKey(keys.next_id(), cmd.account_id, cmd.key_hash, label, cmd.last4, out.ts)
        out.status = 201
        out.response = key_wire(keys.add(key))

    def _apply_revoke_key(self, cmd: RevokeApiKey, out: Outcome) -> None:
        out.response = key_wire(self.accounts.keys.remove(cmd.key_id))

    def _apply_product(self, cmd: CreateProduct, out: Outcome) -> None:
        product = self.catalog.add(cmd.product())
        out.response = self.catalog.product_dict(product.style)
        out.status = 201

    def _apply_place(self, cmd: PlaceOrder, out: Outcome) -> None:
        ts = out.ts
        order = self._orders.new(cmd, ts)
        sku = cmd.sku
        book = self._book(sku)
        events = book.place(
            BookPlace(
                order.id,
                cmd.account_id,
                SIDES[cmd.side],
                cmd.quantity,
                cmd.price_cents,
                TYPES[cmd.order_type],
                TIFS[cmd.time_in_force],
                cmd.post_only,
                cmd.expires_at,
                ts,
            )
        )
        done = self._orders.fold(events, out, order, self._open_trade, True)
        self._sequencer.publish(sku, book, done, out)
        out.status = 201
        out.order_status = order.status
        out.order_reason = order.cancel_reason
        if out.live:
            account_id = cmd.account_id
            out.response = {
                "order": order_wire(order),
                "fills": [trade_view(t, account_id) for t in done.trades],
            }

    def _apply_cancel(self, cmd: CancelOrder, out: Outcome) -> None:
        order = self._orders.open_row(cmd.order_id)
        sku = order.sku
        book = self._book(sku)
        events = book.cancel(BookCancel(cmd.order_id, out.ts))
        self._sequencer.publish(
            sku, book, self._orders.fold(events, out, None, self._open_trade), out
        )
        if out.live:
            out.response = order_wire(order)

    def _apply_amend(self, cmd: AmendOrder, out: Outcome) -> None:
        order = self._orders.open_row(cmd.order_id)
        sku = order.sku
        book = self._book(sku)
        events = book.amend(BookAmend(cmd.order_id, cmd.quantity, cmd.price_cents, out.ts))
        done = self._orders.fold(events, out, order, self._open_trade)
        self._sequencer.publish(sku, book, done, out)
        if out.live:
            out.response = {
                "order": order_wire(order),
                "fills": [trade_view(t, cmd.account_id) for t in done.trades],
            }

    def _open_trade(self, sku: str, fill: Fill, out: Outcome) -> TradeRecord:
        """Open the trade of a fill (``Orders.fold``'s ``on_fill``)."""
        trade, state = self._trades.open(
            sku,
            self.catalog.sku(sku).style,
            fill,
            out.ts,
            out,
            self.seller_stats,
            self.schedule,
            self.ship_deadline_ns,
        )
        self._clearing.track(state)
        return trade

    def _apply_ship(self, cmd: MarkShipped, out: Outcome) -> None:
        trade = self._clearing.ship(cmd.trade_id, self.authenticate_deadline_ns, out)
        if out.live:
            out.response = trade_view(trade, cmd.account_id)

    def _apply_authenticate(self, cmd: AuthenticateTrade, out: Outcome) -> None:
        trade = self._clearing.authenticate(cmd.trade_id, cmd.passed, out)
        if out.live:
            out.response = trade_view(trade, cmd.account_id)

    def _apply_tick(self, cmd: Tick, out: Outcome) -> None:
        ts = out.ts
        # Expire due orders, book by book in SKU order (deterministic).
        for sku in self._orders.due_skus(ts):
            book = self.books[sku]
            events = book.expire(BookExpire(ts))
            self._sequencer.publish(
                sku, book, self._orders.fold(events, out, None, self._open_trade), out
            )
        self._clearing.overdue(out)
        if out.live:
            out.response = {"time": rfc3339(ts)}

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
        expiry = self._orders.next_expiry()
        overdue_at = self._clearing.next_due()
        if expiry is None:
            return overdue_at
        return expiry if overdue_at is None else min(expiry, overdue_at)

    # ------------------------------------------------------------ queries

    def order(self, account_id: str, order_id: int) -> dict[str, Any]:
        """One of the account's orders in wire shape (another's: not_found)."""
        self._account(account_id)
        return order_wire(self._orders.own(account_id, order_id))

    def orders(self, account_id: str, status: str | None = None) -> list[dict[str, Any]]:
        """The account's orders, oldest first, optionally of one status."""
        rows = self._orders.of_account(account_id)
        return [order_wire(o) for o in rows if status is None or o.status == status]

    def trade(self, account_id: str, trade_id: int) -> dict[str, Any]:
        """A trade as the account sees it; parties and authenticators only."""
        trade = self._trades.get(trade_id)
        account = self.accounts.get(account_id)
        if (
            trade is None
            or account is None
            or (
                account_id not in (trade.buyer_id, trade.seller_id)
                and account.role not in (Role.AUTHENTICATOR, Role.ADMIN)
            )
        ):
            raise _err("not_found", f"You have no trade {trade_id}.")
        return trade_view(trade, account_id)

    def trades(self, account_id: str, settlement_status: str | None = None) -> list[dict[str, Any]]:
        """The account's fills, oldest first (an authenticator's: every trade)."""
        account = self.accounts.get(account_id)
        book = self._trades
        if account is not None and account.role in (Role.AUTHENTICATOR, Role.ADMIN):
            ids: Iterable[int] = book.all_ids()
        else:
            ids = book.ids_of(account_id)
        rows = (book[i] for i in ids)
        return [
            trade_view(t, account_id)
            for t in rows
            if settlement_status is None or t.settlement_status == settlement_status
        ]

    def public_trades(
        self, sku: str, limit: int = 100, before: int | None = None, upto_seq: int | None = None
    ) -> list[dict[str, Any]]:
        """The SKU's trades newest first, ids below ``before``, at most ``limit``."""
        book = self._trades
        out: list[dict[str, Any]] = []
        for tid in reversed(book.ids_of_sku(sku)):
            if before is not None and tid >= before:
                continue
            out.append(trade_public(book[tid]))
            if len(out) >= limit:
                break
        return out

    def ledger(self, account_id: str) -> list[dict[str, Any]]:
        """The account's ledger entries, oldest first, times as RFC 3339."""
        return [ledger_wire(row) for row in self._trades.ledger_of(account_id)]

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
        return self._sequencer.of(sku)

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
        return self._trades.count()

    def ledger_count(self) -> int:
        """Ledger entries recorded so far (entry ids run from 1 to this)."""
        return self._trades.next_ledger - 1

    def resting_orders(self) -> int:
        """Orders open on all books."""
        return self._orders.open_count

    def order_row(self, order_id: int) -> OrderRecord | None:
        """The record of any order held in memory (tests and tools; read only)."""
        return self._orders.get(order_id)

    def trade_row(self, trade_id: int) -> TradeRecord | None:
        """The record of any trade held in memory (tests and tools; read only)."""
        return self._trades.get(trade_id)

    def store_rows(self) -> Iterable[StoreOp]:
        """Every row the trade store should hold, for rebuilding it."""
        for row in self._orders.rows():
            yield ("order", row)
        yield from self._trades.store_rows()
        portfolios = self.portfolios.to_dict()
        for row in portfolios["holdings"]:
            yield ("holding", row)
        for row in portfolios["realized"]:
            yield ("realized", row)

    # ------------------------------------------------------------ snapshot

    def snapshot(self) -> dict[str, Any]:
        """Everything, as a JSON-able dict (see :meth:`snapshot_bytes`)."""
        data: dict[str, Any] = {
            "version": SNAPSHOT_VERSION,
            "last_seq": self.last_seq,
            "last_ts": self.last_ts,
            "ship_deadline_ns": self.ship_deadline_ns,
            "authenticate_deadline_ns": self.authenticate_deadline_ns,
            "schedule": self.schedule.to_dict(),
            "counters": {
                "order": self._orders.next_id,
                "trade": self._trades.next_trade,
                "ledger": self._trades.next_ledger,
            },
            "catalog": self.catalog.to_dict(),
            "accounts": self.accounts.to_dict(),
            "books": {sku: self.books[sku].snapshot() for sku in sorted(self.books)},
            "settling": self._clearing.to_snapshot(),
            "seller_stats": self.seller_stats.to_dict(),
            "portfolios": self.portfolios.to_dict(),
            "md": self._sequencer.to_snapshot(),
            "retired": self._orders.retired.to_snapshot(),
            "evicted_seq": self.evicted_seq,
        }
        self._orders.to_snapshot(data)
        self._trades.to_snapshot(data)
        return data

    def snapshot_bytes(self) -> bytes:
        """The canonical encoding of :meth:`snapshot` (sorted keys): equal
        states give equal bytes."""
        return orjson.dumps(self.snapshot(), option=orjson.OPT_SORT_KEYS)

    @classmethod
    def restore(cls, data: dict[str, Any]) -> Engine:
        """Rebuild an engine from :meth:`snapshot` output."""
        if data.get("version") not in _READABLE_VERSIONS:
            raise ValueError(f"unsupported snapshot version {data.get('version')!r}")
        schedule = FeeSchedule.from_dict(data["schedule"])
        eng = cls(
            schedule,
            data["ship_deadline_ns"],
            data.get("authenticate_deadline_ns", DEFAULT_AUTHENTICATE_DEADLINE_NS),
        )
        eng.last_seq = data["last_seq"]
        eng.last_ts = data["last_ts"]
        counters = data["counters"]
        eng.catalog = Catalog.from_dict(data["catalog"])
        eng.accounts = Accounts.from_dict(data["accounts"])
        eng.books = {sku: OrderBook.restore(b) for sku, b in data["books"].items()}
        eng._orders = Orders.from_snapshot(data, counters["order"])
        eng._trades = Trades.from_snapshot(data, counters["trade"], counters["ledger"])
        eng._orders.retired = eng._trades.retired = Retirements(data.get("retired"))
        eng.evicted_seq = data.get("evicted_seq", 0)
        eng.seller_stats = SellerStats.from_dict(data["seller_stats"], schedule)
        eng.portfolios = Portfolios.from_dict(data["portfolios"])
        eng._sequencer = Sequencer.from_snapshot(data["md"])
        eng._clearing = Clearing(eng._trades, eng.seller_stats, eng.portfolios, eng._sequencer)
        eng._clearing.load_snapshot(data["settling"], eng.authenticate_deadline_ns)
        return eng

    @classmethod
    def restore_bytes(cls, data: bytes) -> Engine:
        """:meth:`restore` from :meth:`snapshot_bytes` output."""
        return cls.restore(orjson.loads(data))
