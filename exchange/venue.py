"""The venue as an asyncio service: the one object ``api/`` and ``feeds/`` use.

CONTRACT (the engine helper implements it; api/feeds code against it). All
money in integer cents; all returned records are plain JSON-able dicts in the
wire shapes of ../shared/DESIGN.md (times as RFC 3339 UTC strings). Every
refusal raises :class:`exchange.errors.ExchangeError` and changes nothing.

    cfg = VenueConfig(data_dir=Path("data"), database_url=None, fsync=True,
                      ship_deadline_hours=48, demo_catalog=True)
    venue = await Venue.open(cfg)      # locks data dir, recovers, ready
    venue.ready -> bool

    # accounts (journaled)
    await venue.create_account(name, role="trader") -> {"account_id", "api_key", "name", "role"}
    venue.authenticate(api_key) -> Account | None          # O(1), sha256 of key
    Account: .id (str), .name, .role ("trader"|"authenticator"|"admin")

    # catalog
    venue.products() -> list[dict]        # {"style","name","brand","category",
                                          #  "retail_price_cents","release_date",
                                          #  "skus":[{"sku","size"}]}
    venue.product(style) -> dict          # ExchangeError unknown_product
    await venue.create_product(account, {...}) -> dict   # admin only
    venue.sku_rules(sku) -> dict          # tick_size_cents, min/max_price_cents, max_quantity
    venue.sku_exists(sku) -> bool

    # orders (journaled; acknowledged after fsync)
    await venue.place_order(account, body: dict) -> (status_code, {"order":{...},"fills":[...]})
        body keys: sku, side, type, price_cents, quantity, time_in_force,
        post_only, expires_in_days, client_order_id (validated here: unknown
        keys -> unknown_field, wrong types -> validation_error). status_code is
        201 for a new order, 200 for an idempotent replay.
    await venue.place_orders(account, bodies: list[dict]) -> list[dict]
        one {"order","fills"} or {"error": ExchangeError} per body, in order,
        committed as one group.
    await venue.cancel_order(account, order_id) -> order dict     # not_found / order_not_open
    await venue.amend_order(account, order_id, body) -> {"order","fills"}
    venue.get_order(account, order_id) -> order dict              # another's: not_found
    venue.list_orders(account, status=None) -> list[order dict]

    # trades, settlement, ledger
    venue.list_trades(account) -> list[trade dict]   # own fills, with the account's side
    await venue.ship(account, trade_id) -> trade dict
    await venue.authenticate_trade(account, trade_id, passed) -> trade dict  # authenticator role
    venue.ledger(account) -> list[entry dict]

    # public market data
    venue.book(sku, depth) -> {"sku","sequence","bids":[[p,q,n]],"asks":[...]}  # released state
    venue.public_trades(sku, limit, before) -> list[trade dict]
    venue.mirror -> exchange.marketdata.L2Mirror   # released L2 of every SKU
    venue.subscribe(callback)  # callback(list[MarketDataEvent]) after durability, in order
    venue.unsubscribe(callback)

    # analytics and portfolio (issue 6; polars over the trade store)
    venue.analytics -> exchange.analytics.Analytics

    await venue.close()   # final snapshot, flush store, release the lock
"""
