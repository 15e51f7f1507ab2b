"""The venue as an asyncio service: the one object ``api/`` and ``feeds/`` use.

Modules: :mod:`.venue` (the shell: lifecycle, ``submit``, release),
:mod:`.requests` (bodies -> commands), :mod:`.committer` (group commit),
:mod:`.recovery`, :mod:`.snapshotter`, :mod:`.storefeed` (the trade store),
:mod:`.queries` (reads), :mod:`.keys` (API keys), :mod:`.offline` and :mod:`.ports` (the ``Journal``
protocol the shell uses). ``exchange.venue`` re-exports this interface.

CONTRACT (api/feeds code against it). All money in integer cents; all
returned records are plain JSON-able dicts in the wire shapes of DESIGN.md
(times as RFC 3339 UTC strings). Every refusal raises
:class:`exchange.errors.ExchangeError` and changes nothing.

    cfg = VenueConfig(data_dir=Path("data"), database_url=None, fsync=True,
                      ship_deadline_hours=48, demo_catalog=True)
    venue = await Venue.open(cfg)      # locks data dir, recovers, ready
    venue.ready -> bool

    # accounts (journaled)
    await venue.create_account(name, role="trader") -> {"account_id", "api_key", "name", "role"}
    venue.authenticate(api_key) -> Account | None          # O(1), sha256 of key
    Account: .id (str), .name, .role ("trader"|"authenticator"|"admin")
    venue.account(account_id) -> Account | None

    # API keys (journaled; exchange.keys, .keys)
    await venue.create_key(account, label=None) -> {"id","account_id","label","last4",
                                                    "created_at","api_key"}  # key_limit
    venue.list_keys(account, owner_id=None) -> list[key dict]   # owner_id: admin only
    await venue.revoke_key(account, key_id, as_admin=False) -> key dict
        # not_found (not live / not the account's), forbidden, last_api_key;
        # the key is refused by authenticate() from the moment it is applied
    venue.key_id(api_key) -> str | None
    venue.on_key_revoked(listener) / venue.off_key_revoked(listener)
        # listener(KeyRevoked(key_id, account_id, key_hash)) once durable

    # catalog
    venue.products() -> list[dict]        # {"style","name","brand","category",
                                          #  "retail_price_cents","release_date",
                                          #  "skus":[{"sku","size"}]}
    venue.product(style) -> dict          # ExchangeError unknown_product
    await venue.create_product(account, {...}) -> dict   # admin only (forbidden)
    venue.sku_rules(sku) -> dict          # tick_size_cents, min/max_price_cents, max_quantity
                                          # (+ sku, style, size, retail_price_cents); unknown_sku
    venue.sku_exists(sku) -> bool
    venue.skus() -> list[str]

    # orders (journaled; acknowledged after fsync)
    await venue.place_order(account, body: dict) -> (status_code, {"order":{...},"fills":[...]})
        body keys: sku, side, type, price_cents, quantity, time_in_force,
        post_only, expires_in_days, client_order_id (validated here: unknown
        keys -> unknown_field, wrong types -> validation_error). status_code is
        201 for a new order, 200 for an idempotent replay.
    await venue.place_orders(account, bodies: list[dict]) -> list[dict]
        one {"order","fills"} or {"error": ExchangeError} per body, in order,
        committed as one group (no limit here; api/ enforces 100).
    await venue.cancel_order(account, order_id) -> order dict     # not_found / order_not_open
    await venue.amend_order(account, order_id, body) -> {"order","fills"}
        body keys: quantity (new total), price_cents
    venue.get_order(account, order_id) -> order dict              # another's: not_found
    venue.list_orders(account, status=None) -> list[order dict]

    # trades, settlement, ledger
    venue.list_trades(account) -> list[trade dict]   # own fills, with the account's side
                                                     # (authenticator/admin: every trade)
    venue.get_trade(account, trade_id) -> trade dict # parties and authenticators
    await venue.ship(account, trade_id) -> trade dict  # seller only; ship_deadline_passed 409
    await venue.authenticate_trade(account, trade_id, passed) -> trade dict  # authenticator role
    venue.ledger(account) -> list[entry dict]        # {id, trade_id, kind, amount_cents,
                                                     #  time, description}

    # portfolio holdings (journaled); valuation through venue.analytics
    await venue.add_holding(account, {"sku","purchase_price_cents","acquired_at","condition"})
        -> holding dict {id, sku, purchase_price_cents, acquired_at, condition,
           source, trade_id}; acquired_at is an RFC 3339 time or a YYYY-MM-DD date
           (default: now), condition "new" (default) or "used"
    await venue.remove_holding(account, holding_id) -> {"id", "removed": True}
    venue.holdings(account) -> list[holding dict]
    venue.fee_schedule -> exchange.fees.FeeSchedule  # for net proceeds
    venue.seller_level(account, now=None) -> int     # pure (does not prune fee stats)

    # public market data
    venue.book(sku, depth) -> {"sku","sequence","bids":[[p,q,n]],"asks":[...]}  # released state
    venue.public_trades(sku, limit, before) -> list[trade dict]                # released only
    venue.mirror -> exchange.marketdata.L2Mirror   # released L2 of every SKU
    venue.subscribe(callback)  # callback(list[MarketDataEvent]) after durability, in order
    venue.unsubscribe(callback)

    # analytics and portfolio (issue 6; polars over the trade store)
    venue.analytics -> Analytics calls, bounded: None when store=False; each
        call waits store_read_timeout s at most for the store, then a dict
        answer carries "as_of_seq" (the store's position) and others raise
        ExchangeError store_behind (503); a store that cannot be read raises
        store_unavailable (503). Never a hang, never a driver error.
    await venue.flush_store(timeout=None) -> bool   # store holds all released?
    venue.store_status() -> {"enabled","position","lag","writer_alive",
                             "writer_restarts","write_failures","last_error"}

    await venue.close()   # final snapshot, store catch-up (bounded), release the lock

    # more settings and tools
    VenueConfig(..., snapshot_every=100_000, store=True, tick_interval=1.0,
                schedule=DEFAULT_SCHEDULE, fork_snapshots=True, store_process=True,
                store_stall_seconds=30, store_read_timeout=1, store_open_wait=5,
                store_close_timeout=10)
    await venue.tick_if_due() -> bool   # journal a Tick now if an expiry/deadline passed
    venue.engine -> exchange.engine.Engine   # read-only use outside the venue!
    venue.released_seq, venue.groups, venue.commands, venue.journal   # tests, benchmarks

    open_offline(data_dir) -> OfflineVenue   # sync; for `exchange accounts create`
        .create_account(name, role) -> {"account_id","api_key","name","role"}; .close()

HOW IT WORKS

- Recovery (:meth:`Venue.open`): lock the data dir (:class:`DataDirLock`),
  open the journal (a torn last record is truncated; damage elsewhere raises
  :class:`JournalCorrupt`), load the newest good snapshot and replay the
  journal after it, each record with its own ``ts`` as now. On a first start
  with ``demo_catalog`` the demo products are journaled as CreateProduct
  commands. The store outbox is completed from the replayed tail (see
  below) and the writer catches the store up from its own position.
- Submitting: validate (raise before journaling) -> seq and ``ts =
  time.time_ns()`` (never below the last ts) -> ``engine.apply`` -> encode ->
  queue. One committer task hands a group to a worker thread, which appends
  it with one write and runs ``journal.sync()``; everything submitted while
  that is in flight forms the next group, and all its callers share one
  future. After the sync, the io thread appends the group's store ops to the
  store outbox; then, in journal order: the L2 mirror, the metrics (summed
  per group), the store writer is told how far the outbox goes, the
  subscribers (once per group, with that group's events); then the callers
  get their answers. So nothing is acknowledged or published before it is
  durable.
- The trade store holds trades, settlement states, ledger, holdings and
  orders' final states (filled, canceled, expired, rejected): an open
  order's row is not written (it is served from the engine), and arrives
  when the order ends. A supervised child process (``store_process``)
  follows the store outbox (``<data_dir>/store-outbox/``, one record per
  journal seq) from the store's own position, ``meta`` ``last_seq``, and
  retries a failed write in order until it succeeds; it is restarted when it
  dies or stalls (:mod:`exchange.storewriter`, :mod:`.storefeed`). An outage
  of the database is lag (``exchange_store_lag_seqs``), never loss, and costs
  disk (the outbox), not memory.
- Reads (orders, trades, ledger) come from the engine's state, which may be
  a few milliseconds ahead of what is durable; public market data (book,
  public trades, the mirror) shows released state only.
- A timer every ``tick_interval`` seconds journals a :class:`Tick` when
  ``engine.next_due()`` has passed (order expiry, ship deadlines).
- Snapshots every ``snapshot_every`` commands and on close, written once the
  journal is durable up to them; then the journal rotates, segments older
  than the previous snapshot are pruned, and two snapshots are kept. The
  periodic ones are encoded by a forked child (copy-on-write, like Redis's
  BGSAVE), so the loop does not pause for a large state; the child writes
  its file only when the parent tells it the journal is durable up to it.
  Recovery ignores (and deletes) a snapshot ahead of the journal.
- Memory: the engine keeps every order and trade (queries and idempotent
  replays read them); closed orders are stored as compact tuples.
- A journal write or sync error is fatal: the venue stops accepting commands
  (``not_ready``, 503), since its memory is ahead of its journal; a restart
  recovers the durable state.
- ``ship_deadline_hours`` applies to trades matched from this start on
  (replayed trades keep the deadline they were matched with only when they
  come from the snapshot; set it once and keep it).
"""

from .offline import OfflineVenue, open_offline
from .ports import Journal, SegmentedJournal
from .recovery import Recovered, recover_engine
from .requests import ORDER_FIELDS, create_product_command, parse_place
from .venue import Subscriber, Venue, VenueConfig

__all__ = [
    "ORDER_FIELDS",
    "Journal",
    "OfflineVenue",
    "Recovered",
    "SegmentedJournal",
    "Subscriber",
    "Venue",
    "VenueConfig",
    "create_product_command",
    "open_offline",
    "parse_place",
    "recover_engine",
]
