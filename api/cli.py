"""The ``exchange`` command: the one composition root of venue, REST and feed.

Subcommands::

    exchange serve      REST API + websocket feed + metrics in one process
    exchange demo       serve, plus simulated traders so prices move
    exchange accounts create NAME [--role trader|authenticator|admin] [--url URL --api-key KEY]
    exchange recover --check | --repair
    exchange export trades --format parquet|csv [--output FILE] [--sku SKU] [--url URL]
    exchange portfolio --api-key KEY [--url URL | --data-dir DIR] [--mark MARK]
    exchange watch [SKU ...] [--api-key KEY] [--url WS_URL] [--api-url URL]

Settings come from flags or environment variables (flag wins). ``serve``
prints ``http://HOST:PORT`` and ``ws://HOST:PORT`` (the bound ports; port 0
picks a free one) as its first two lines, flushed, then serves until SIGINT
or SIGTERM and shuts down gracefully (:mod:`api.shutdown`: requests in flight
are answered, the feed closes with 1001, within ``--shutdown-grace``).

Exit codes: 0 success; 1 runtime failure (port in use, data directory
locked, damaged journal, a server refusing); 2 a bad setting. Errors are one
line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import gc
import inspect
import json
import logging
import os
import signal
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, NoReturn

__all__ = ["CliError", "build_parser", "main"]

EXIT_RUNTIME = 1
EXIT_SETTING = 2


class CliError(Exception):
    """A failure to report as one line on stderr with an exit code."""

    def __init__(self, message: str, code: int = EXIT_RUNTIME) -> None:
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2) instead of usage dumps."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_SETTING, f"{self.prog}: error: {message} (see --help)\n")


def _env(name: str, default: str | None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be an integer, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be between 0 and 65535, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value < 0 or value != value:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _retention(text: str) -> float | None:
    """``--journal-retention``: a number of days (>= 0), or ``forever``."""
    if text.strip().lower() == "forever":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number of days or 'forever', got {text!r}"
        ) from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of days >= 0, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def _log_level(text: str) -> str:
    level = text.strip().lower()
    if level not in ("debug", "info", "warning", "error"):
        raise argparse.ArgumentTypeError(
            f"log level must be debug, info, warning or error, got {text!r}"
        )
    return level


def _add_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir",
        type=Path,
        default=Path(_env("EXCHANGE_DATA_DIR", "data") or "data"),
        help="data directory: journal, snapshots, SQLite store (env EXCHANGE_DATA_DIR; ./data)",
    )


def _add_database_url(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--database-url",
        default=_env("EXCHANGE_DATABASE_URL", None),
        help="trade store URL, e.g. postgresql+psycopg://user@host/db "
        "(env EXCHANGE_DATABASE_URL; default SQLite in the data dir)",
    )


def _add_serve_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--host",
        default=_env("EXCHANGE_HOST", "127.0.0.1"),
        help="address to bind (env EXCHANGE_HOST; default 127.0.0.1)",
    )
    p.add_argument(
        "--http-port",
        type=_port,
        default=_env("EXCHANGE_HTTP_PORT", "8080"),
        help="REST port, 0 = pick a free one (env EXCHANGE_HTTP_PORT; default 8080)",
    )
    p.add_argument(
        "--feed-port",
        type=_port,
        default=_env("EXCHANGE_FEED_PORT", "8765"),
        help="websocket feed port, 0 = pick a free one (env EXCHANGE_FEED_PORT; default 8765)",
    )
    _add_data_dir(p)
    _add_database_url(p)
    p.add_argument(
        "--rate-limit",
        type=_non_negative_float,
        default=_env("EXCHANGE_RATE_LIMIT", "100"),
        help="requests per second per API key, burst twice that; 0 turns limits off "
        "(env EXCHANGE_RATE_LIMIT; default 100)",
    )
    p.add_argument(
        "--ship-deadline-hours",
        type=_positive_int,
        default=_env("EXCHANGE_SHIP_DEADLINE_HOURS", "48"),
        help="hours a seller has to ship after a match (default 48)",
    )
    p.add_argument(
        "--journal-retention",
        type=_retention,
        default=_env("EXCHANGE_JOURNAL_RETENTION", "7"),
        help="days to keep journal segments a snapshot covers, for audit, or 'forever' "
        "(env EXCHANGE_JOURNAL_RETENTION; default 7)",
    )
    p.add_argument(
        "--authenticate-deadline-hours",
        type=_positive_int,
        default=_env("EXCHANGE_AUTHENTICATE_DEADLINE_HOURS", "72"),
        help="hours the platform has to authenticate a shipped trade before it is "
        "canceled, the buyer refunded and the seller not penalized (default 72)",
    )
    p.add_argument(
        "--max-open-orders",
        type=_positive_int,
        default=_env("EXCHANGE_MAX_OPEN_ORDERS", "10000"),
        help="open orders per account; more is refused open_order_limit (default 10000)",
    )
    p.add_argument(
        "--max-holdings",
        type=_positive_int,
        default=_env("EXCHANGE_MAX_HOLDINGS", "5000"),
        help="portfolio items per account; more is refused holding_limit (default 5000)",
    )
    p.add_argument(
        "--no-fsync",
        action="store_true",
        help="acknowledge orders without fsync (benchmarks only: a crash may lose them)",
    )
    p.add_argument(
        "--log-level",
        type=_log_level,
        default=_env("EXCHANGE_LOG_LEVEL", "warning"),
        help="log level on stderr (env EXCHANGE_LOG_LEVEL; default warning)",
    )
    p.add_argument(
        "--no-demo-catalog",
        action="store_true",
        help="do not load the demo catalog on first start",
    )
    p.add_argument(
        "--shutdown-grace",
        type=_non_negative_float,
        default=_env("EXCHANGE_SHUTDOWN_GRACE", "10"),
        help="seconds that SIGTERM/SIGINT leaves requests in flight to be answered "
        "(env EXCHANGE_SHUTDOWN_GRACE; default 10)",
    )
    p.add_argument(
        "--bootstrap-admin",
        action="store_true",
        help="when the venue has no admin yet, create one and print its key once, after "
        "the two URLs (`admin account_id: ...`, `admin api_key: ...`); otherwise do nothing",
    )
    p.add_argument(
        "--max-clock-jump-hours",
        type=_non_negative_float,
        default=float(_env("EXCHANGE_MAX_CLOCK_JUMP_HOURS", "24") or 24),
        help="refuse to start when the wall clock is this far ahead of the journal's last "
        "record (env EXCHANGE_MAX_CLOCK_JUMP_HOURS; default 24)",
    )
    p.add_argument(
        "--accept-clock-jump",
        action="store_true",
        help="start even so: deadlines and expiries in between fire at once",
    )
    from .limitflags import add_limit_flags

    add_limit_flags(p)


def build_parser() -> argparse.ArgumentParser:
    """The ``exchange`` argument parser with every subcommand."""
    parser = _Parser(
        prog="exchange",
        description="Resale Exchange: a stock market of things (sneakers, watches, cards).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)

    serve = sub.add_parser("serve", help="run the exchange: REST API, websocket feed, metrics")
    _add_serve_flags(serve)

    demo = sub.add_parser("demo", help="serve plus simulated traders, so prices move and trade")
    _add_serve_flags(demo)
    demo.add_argument("--orders-per-second", type=_non_negative_float, default=8.0,
                      help="simulated orders per second (default 8)")
    demo.add_argument("--skus", type=_positive_int, default=24,
                      help="how many SKUs the simulated traders trade (default 24)")
    demo.add_argument("--seed", type=int, default=None, help="random seed for the simulation")

    accounts = sub.add_parser("accounts", help="create accounts: in the data directory while "
                              "the server is stopped, or through a running server's API")
    acc_sub = accounts.add_subparsers(dest="accounts_command", required=True, metavar="ACTION",
                                      parser_class=_Parser)
    create = acc_sub.add_parser("create", help="create an account and print its API key")
    create.add_argument("name", help="the account's display name")
    create.add_argument("--role", choices=("trader", "authenticator", "admin"),
                        default="trader", help="role (default trader)")
    _add_data_dir(create)
    create.add_argument("--url", default=None,
                        help="create it through the running server at this URL (POST "
                        "/v1/accounts) instead of in --data-dir; a role other than trader "
                        "needs an admin's --api-key")
    create.add_argument("--api-key", default=_env("EXCHANGE_API_KEY", None),
                        help="with --url: an admin's API key (env EXCHANGE_API_KEY)")

    recover = sub.add_parser("recover", help="check or repair the journal and snapshots")
    how = recover.add_mutually_exclusive_group(required=True)
    how.add_argument("--check", action="store_true",
                     help="check every snapshot and journal record; exit 0 when a start "
                     "recovers everything")
    how.add_argument("--repair", action="store_true",
                     help="server stopped: cut the journal at its first damaged record "
                     "(a copy of the cut goes beside it) and say what that loses")
    _add_data_dir(recover)

    export = sub.add_parser("export", help="export data")
    export.add_argument("what", choices=("trades",), help="what to export")
    export.add_argument("--format", choices=("parquet", "csv"), default="parquet",
                        help="file format (default parquet)")
    export.add_argument("--sku", default=None, help="only this SKU")
    export.add_argument("--output", "-o", type=Path, default=None,
                        help="file to write (default: stdout)")
    export.add_argument("--url", default=_env("EXCHANGE_URL", "http://127.0.0.1:8080"),
                        help="the running server, asked whether a SKU without trades exists "
                        "(env EXCHANGE_URL; default http://127.0.0.1:8080)")
    _add_data_dir(export)
    _add_database_url(export)

    portfolio = sub.add_parser("portfolio", help="print a portfolio's valuation as a table")
    portfolio.add_argument("--api-key", default=_env("EXCHANGE_API_KEY", None),
                           help="your API key (env EXCHANGE_API_KEY)")
    portfolio.add_argument("--url", default=_env("EXCHANGE_URL", "http://127.0.0.1:8080"),
                           help="the server (env EXCHANGE_URL; default http://127.0.0.1:8080)")
    portfolio.add_argument("--mark", choices=("last_sale", "highest_bid", "lowest_ask", "mid"),
                           default="last_sale", help="how to value holdings (default last_sale)")
    portfolio.add_argument("--data-dir", type=Path, default=None,
                           help="read the data directory directly instead of asking a server "
                           "(the server must be stopped)")
    _add_database_url(portfolio)

    watch = sub.add_parser("watch", help="live terminal view of SKUs from the websocket feed")
    watch.add_argument("skus", nargs="*", metavar="SKU", help="SKUs to watch")
    watch.add_argument("--api-key", default=_env("EXCHANGE_API_KEY", None),
                       help="also show this account's open orders and fills, live "
                       "(env EXCHANGE_API_KEY)")
    watch.add_argument("--url", default=_env("EXCHANGE_FEED_URL", "ws://127.0.0.1:8765"),
                       help="the feed (env EXCHANGE_FEED_URL; default ws://127.0.0.1:8765)")
    watch.add_argument("--api-url", default=_env("EXCHANGE_URL", "http://127.0.0.1:8080"),
                       help="the REST API, for the latest trades at start and trades missed "
                       "while reconnecting (env EXCHANGE_URL; default http://127.0.0.1:8080)")
    watch.add_argument("--duration", type=_non_negative_float, default=None,
                       help="stop after this many seconds (default: until Ctrl-C)")

    from .cli_cluster import add_cluster_parser

    add_cluster_parser(sub)
    return parser


# ------------------------------------------------------------------------ serve


def _url(scheme: str, host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}"


async def _serve(args: argparse.Namespace, *, demo: bool) -> int:
    from exchange.datadir import DataDirLocked
    from exchange.journal import JournalCorrupt
    from exchange.venue import Venue, VenueConfig
    from exchange.venueclock import ClockJumpRefused
    from feeds.server import FeedServer

    from .app import make_app
    from .context import CONFIG_KEY
    from .httpserver import start_http, start_metrics
    from .limitflags import feed_caps, http_limits
    from .shutdown import LINGER_S, Drain

    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    config = VenueConfig(
        data_dir=Path(args.data_dir),
        database_url=args.database_url,
        fsync=not args.no_fsync,
        ship_deadline_hours=args.ship_deadline_hours,
        journal_retention_days=args.journal_retention,
        authenticate_deadline_hours=args.authenticate_deadline_hours,
        max_open_orders=args.max_open_orders,
        max_holdings=args.max_holdings,
        demo_catalog=not args.no_demo_catalog,
        max_clock_ahead_hours=args.max_clock_jump_hours,
        # The demo's data directory is play data that `make run` reopens days
        # later: its deadlines firing at once is what a new user expects.
        accept_clock_jump=args.accept_clock_jump or demo,
    )
    try:
        venue = await Venue.open(config)
    except (DataDirLocked, ClockJumpRefused) as exc:
        raise CliError(str(exc)) from None
    except JournalCorrupt as exc:
        raise CliError(f"{exc}; run `exchange recover --check`") from None
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot open the exchange: {exc}", EXIT_SETTING) from None
    except Exception as exc:  # e.g. SQLAlchemy refusing a database URL
        raise CliError(f"cannot open the exchange: {type(exc).__name__}: {exc}",
                       EXIT_SETTING) from None
    # The recovered state is long-lived: move it out of the collector's
    # generations so full collections do not rescan it (tail latency).
    gc.collect()
    gc.freeze()

    feed: Any = None
    runner: Any = None
    metrics_runner: Any = None
    demo_task: asyncio.Task[None] | None = None
    stop = asyncio.Event()
    try:
        feed = FeedServer(venue, args.host, args.feed_port, accounts=venue, **feed_caps(args))
        try:
            await feed.start()
        except OSError as exc:
            raise _bind_error(exc, args.host, args.feed_port, "feed") from None
        feed_url = _url("ws", args.host, feed.port)
        app = make_app(venue, rate_limit=args.rate_limit, burst=max(1, int(args.rate_limit * 2)),
                       feed_url=feed_url, public_rate_limit=args.public_rate_limit,
                       auth_failure_limit=args.auth_failure_limit, metrics_route=False)
        feed.limiter = app[CONFIG_KEY].limiter  # order entry shares REST's per-key limit
        drain = Drain()
        app.middlewares.insert(0, drain.middleware)
        try:
            # The drain waits for handlers (see _stop); shutdown_timeout bounds the rest.
            runner, http_port = await start_http(app, args.host, args.http_port, http_limits(args),
                                                 shutdown_timeout=LINGER_S)
        except OSError as exc:
            raise _bind_error(exc, args.host, args.http_port, "HTTP") from None
        print(_url("http", args.host, http_port), flush=True)
        print(feed_url, flush=True)
        if args.metrics_port is not None:
            try:
                metrics_runner, metrics_port = await start_metrics(
                    args.metrics_host, args.metrics_port)
            except OSError as exc:
                raise _bind_error(exc, args.metrics_host, args.metrics_port, "metrics") from None
            print(_url("http", args.metrics_host, metrics_port) + "/metrics", flush=True)
        if args.bootstrap_admin:
            await _bootstrap_admin(venue)

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if demo:
            from .demo import run_demo_traders

            demo_task = asyncio.create_task(
                run_demo_traders(
                    venue, rate=args.orders_per_second, seed=args.seed, skus=args.skus
                )
            )
        await stop.wait()
        print("shutting down", file=sys.stderr, flush=True)
        if demo_task is not None:
            demo_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await demo_task
        for site in list(runner.sites):
            await site.stop()  # no new HTTP connections
        if not await drain.drain(args.shutdown_grace):
            print(f"shutting down: requests still running after {args.shutdown_grace:g} s "
                  f"are cancelled", file=sys.stderr, flush=True)
        with contextlib.suppress(Exception):
            await feed.close()  # after the last answers' market data: 1001
        return 0
    finally:
        if demo_task is not None:
            demo_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await demo_task
        if runner is not None:
            await runner.cleanup()
        if metrics_runner is not None:
            await metrics_runner.cleanup()
        if feed is not None:
            with contextlib.suppress(Exception):
                await feed.close()
        # After the requests: commits what is pending, snapshots when due.
        await venue.close()


async def _bootstrap_admin(venue: Any) -> None:
    """Create the venue's first admin and print its key, unless it has an admin.

    The first admin makes the others (and authenticators) through the API, so
    a venue never has to stop for one. Journaled like any account, before
    the key is printed.
    """
    from exchange.accounts import Role

    if any(account.role is Role.ADMIN for account in venue.engine.accounts.all()):
        print("--bootstrap-admin: the venue has an admin already; no key printed",
              file=sys.stderr, flush=True)
        return
    created = await venue.create_account("admin", role="admin")
    print(f"admin account_id: {created['account_id']}", flush=True)
    print(f"admin api_key: {created['api_key']}", flush=True)


def _bind_error(exc: OSError, host: str, port: int, what: str) -> CliError:
    if exc.errno == errno.EADDRINUSE or "address already in use" in str(exc).lower():
        return CliError(f"the {what} port {port} on {host} is already in use; "
                        f"choose another with --{what.lower()}-port")
    return CliError(f"cannot listen on {host}:{port} for {what}: {exc.strerror or exc}",
                    EXIT_SETTING)


def _run(coro: Coroutine[Any, Any, int]) -> int:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a default dependency on Unix
        return asyncio.run(coro)
    return uvloop.run(coro)


# ---------------------------------------------------------------- other commands


def _accounts_create(args: argparse.Namespace) -> int:
    from exchange.datadir import DataDirLocked
    from exchange.errors import ExchangeError
    from exchange.venue import open_offline

    if args.url is not None:
        body = {"name": args.name, "role": args.role}
        created = _api(args.url, "POST", "/v1/accounts", key=args.api_key, body=body)
        print(f"account_id: {created['account_id']}")
        print(f"api_key: {created['api_key']}")
        return 0
    try:
        created = _call_offline(open_offline, Path(args.data_dir), args.name, args.role)
    except DataDirLocked as exc:
        raise CliError(f"{exc}; while the server runs, give its --url and an admin's "
                       "--api-key (an admin's key comes from `serve --bootstrap-admin`)") from None
    except ExchangeError as exc:
        raise CliError(exc.message, EXIT_SETTING) from None
    print(f"account_id: {created['account_id']}")
    print(f"api_key: {created['api_key']}")
    return 0


def _call_offline(open_offline: Any, data_dir: Path, name: str, role: str) -> dict[str, Any]:
    """Create an account through the venue's offline opener (lock, recover, append, close)."""
    handle = open_offline(data_dir)
    if hasattr(handle, "__enter__"):
        with handle as offline:
            return dict(offline.create_account(name, role=role))
    try:
        return dict(handle.create_account(name, role=role))
    finally:
        handle.close()


def _recover(args: argparse.Namespace) -> int:
    from exchange.datadir import DataDirLock, DataDirLocked
    from exchange.repair import Unrecoverable, check_data, repair_data

    data_dir = Path(args.data_dir)
    if not (data_dir / "journal").is_dir():
        raise CliError(f"no journal in {data_dir} (journal/ is missing)")
    if args.repair:
        try:
            with DataDirLock(data_dir):
                result = repair_data(data_dir)
        except DataDirLocked as exc:
            raise CliError(f"{exc}; stop the server before `exchange recover --repair`") from None
        except Unrecoverable as exc:
            raise CliError(str(exc)) from None
        print(result.message)
    check = check_data(data_dir)
    for warning in check.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for problem in check.problems:
        print(problem, file=sys.stderr)
    intact = sum(1 for s in check.snapshots if s.reason is None)
    newest = f", newest at seq {check.snapshot_seq}" if check.snapshot_seq else ""
    summary = (f"{check.records} journal records, last seq {check.last_seq}; "
               f"{intact} of {len(check.snapshots)} snapshots intact{newest}")
    if check.ok:
        print(f"intact for a start: {summary}")
        return 0
    hint = ("restore the snapshots from a backup" if check.unrecoverable else
            "`exchange recover --repair` cuts the journal at the first damaged record")
    print(f"not intact: {summary}; {hint}", file=sys.stderr)
    return EXIT_RUNTIME


def _export(args: argparse.Namespace) -> int:
    from exchange.analytics import Analytics
    from exchange.store import TradeStore, sqlite_url

    if args.output is None and args.format == "parquet" and sys.stdout.isatty():
        # Parquet is binary: written to a terminal it is garbage (and can
        # leave the terminal in a bad state).
        raise CliError("parquet is binary: give --output FILE, redirect stdout, "
                       "or use --format csv", EXIT_SETTING)
    data_dir = Path(args.data_dir)
    url = args.database_url
    if url is None:
        if not (data_dir / "exchange.db").exists():
            raise CliError(f"no trade store in {data_dir} (exchange.db is missing)", EXIT_SETTING)
        url = sqlite_url(str(data_dir))
    store = TradeStore(url)
    try:
        # A SKU with trades is known; only one without needs the catalog.
        if args.sku is not None and not store.trades_for_sku(args.sku, limit=1):
            _require_sku(args)
        data = Analytics(store).export_trades(args.format, sku=args.sku)
    finally:
        store.close()
    if args.output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        args.output.write_bytes(data)
        print(f"wrote {len(data)} bytes to {args.output}", file=sys.stderr)
    return 0


def _require_sku(args: argparse.Namespace) -> None:
    """Refuse a SKU the catalog does not have, as the API does (``unknown_sku``).

    The catalog is the venue's: read from the data directory when no server
    holds it, else asked of the running server at ``--url``.
    """
    from exchange.datadir import DataDirLocked
    from exchange.venue import open_offline

    data_dir = Path(args.data_dir)
    if (data_dir / "journal").is_dir():
        try:
            with open_offline(data_dir) as offline:
                known = offline.engine.catalog.has_sku(args.sku)
        except DataDirLocked:
            pass
        else:
            if not known:
                raise CliError(f"there is no SKU {args.sku!r}")
            return
    try:
        _api(args.url, "GET", f"/v1/skus/{urllib.parse.quote(args.sku, safe='')}")
    except _Refused as exc:
        if exc.status == 404:
            raise CliError(f"there is no SKU {args.sku!r}") from None
        raise
    except CliError as exc:
        raise CliError(f"cannot tell whether SKU {args.sku!r} exists: the data directory is "
                       f"in use and {exc}; give the server's --url") from None


def _portfolio(args: argparse.Namespace) -> int:
    if not args.api_key:
        raise CliError("an API key is needed: --api-key KEY or EXCHANGE_API_KEY", EXIT_SETTING)
    if args.data_dir is not None:
        data = _run_value(_portfolio_offline(args))
    else:
        data = _portfolio_rest(args)
    from .terminal import print_portfolio

    print_portfolio(data)
    return 0


def _portfolio_rest(args: argparse.Namespace) -> dict[str, Any]:
    return _api(args.url, "GET", f"/v1/portfolio?mark={args.mark}", key=args.api_key)


def _api(base: str, method: str, path: str, *, key: str | None = None,
         body: Any = None) -> dict[str, Any]:
    """One call to a running server's REST API; a refusal or no answer is a CliError."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base.rstrip('/')}{path}", data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answer: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("detail", exc.reason)
        except ValueError:
            detail = exc.reason
        raise _Refused(exc.code, f"the server refused: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CliError(f"cannot reach {base}: {reason}") from None
    return answer


class _Refused(CliError):
    """The server answered with an HTTP error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def _portfolio_offline(args: argparse.Namespace) -> dict[str, Any]:
    """Open the venue on the data dir (server stopped), value, close."""
    from exchange.appraisal import value_portfolio
    from exchange.clock import now_ns
    from exchange.datadir import DataDirLocked
    from exchange.venue import Venue, VenueConfig

    config = VenueConfig(data_dir=Path(args.data_dir), database_url=args.database_url,
                         demo_catalog=False)
    try:
        venue = await Venue.open(config)
    except DataDirLocked as exc:
        raise CliError(f"{exc}; while the server runs, leave out --data-dir") from None
    try:
        account = venue.authenticate(args.api_key)
        if account is None:
            raise CliError("the API key is not known in this data directory")
        return await value_portfolio(venue, account, args.mark, now_ns())
    finally:
        await venue.close()


def _run_value(coro: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    return asyncio.run(coro)


def _watch(args: argparse.Namespace) -> int:
    from feeds.watch import WatchError, run_watch

    # The view shows feed errors in its footer; log lines on stderr would tear
    # through the live drawing (and double the one-line error on exit).
    logging.getLogger("feeds").setLevel(logging.ERROR)
    if not args.skus and not args.api_key:
        raise CliError("name SKUs to watch, or --api-key KEY for your orders and fills",
                       EXIT_SETTING)
    kwargs: dict[str, Any] = {} if args.duration is None else {"duration": args.duration}
    if args.api_key:
        kwargs["api_key"] = args.api_key
    result = run_watch(args.url, list(args.skus), api_url=args.api_url, **kwargs)
    if inspect.iscoroutine(result):
        try:
            with contextlib.suppress(KeyboardInterrupt):
                _run(_as_int(result))
        except WatchError as exc:
            # e.g. `exchange watch NOPE`: say so and stop, instead of showing
            # "resyncing…" forever.
            raise CliError(f"the feed refused: {exc}") from None
    return 0


async def _as_int(coro: Coroutine[Any, Any, Any]) -> int:
    await coro
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``exchange`` command; returns (and exits with) its exit code."""
    args = build_parser().parse_args(argv)
    if args.command in ("serve", "demo", "accounts", "recover") and \
            getattr(args, "data_dir", None) is not None:
        from .privatefiles import private_files

        private_files(Path(args.data_dir))
    try:
        if args.command in ("serve", "demo"):
            code = _run(_serve(args, demo=args.command == "demo"))
        elif args.command == "accounts":
            code = _accounts_create(args)
        elif args.command == "recover":
            code = _recover(args)
        elif args.command == "export":
            code = _export(args)
        elif args.command == "portfolio":
            code = _portfolio(args)
        elif args.command == "cluster":
            from .cli_cluster import run_cluster

            code = run_cluster(args)
        else:
            code = _watch(args)
    except CliError as exc:
        print(f"exchange: error: {exc}", file=sys.stderr, flush=True)
        code = exc.code
    except KeyboardInterrupt:
        code = 130
    if __name__ == "__main__" or argv is None:
        sys.exit(code)
    return code


if __name__ == "__main__":  # pragma: no cover
    main()
