"""Prometheus metrics of the venue, in prometheus-client's default registry.

``api/`` serves the default registry at ``/metrics``, so these appear there
next to the HTTP and feed metrics. They are module-level singletons (a
metric can be registered once per process); several venues in one process
(tests) share them. Money counters are integer cents.

- ``exchange_orders_total{outcome, reason}``: new orders by final status
  after placement (``open``, ``filled``, ``canceled``, ``rejected``) and
  cancel/reject reason (``none`` when there is none).
- ``exchange_trades_total``, ``exchange_traded_value_cents_total``,
  ``exchange_fees_earned_cents_total``: matches, their gross value, and the
  platform fees they earned (at match time, before any settlement refund).
- ``exchange_commands_total{type}``: journaled commands by type.
- ``exchange_match_latency_seconds``: time to apply one command in the
  engine (validation excluded).
- ``exchange_journal_fsync_seconds``: one group's journal sync;
  ``exchange_journal_group_size``: commands per group commit.
- ``exchange_books``, ``exchange_resting_orders``: gauges read at scrape time.
- ``exchange_store_lag_seqs``: journal seqs released but not yet in the
  trade store (read at scrape time); ``exchange_store_last_seq``: the
  store's position.
- ``exchange_store_write_failures_total``: failed store write attempts;
  ``exchange_store_write_retries_total``: attempts that repeat a failed
  batch (a batch is retried until it succeeds, never dropped);
  ``exchange_store_writer_restarts_total``: writer processes restarted after
  dying or stalling.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "BOOKS",
    "COMMANDS",
    "FEES_EARNED_CENTS",
    "FSYNC_SECONDS",
    "GROUP_SIZE",
    "MATCH_SECONDS",
    "ORDERS",
    "RESTING_ORDERS",
    "STORE_LAG",
    "STORE_LAST_SEQ",
    "STORE_WRITER_RESTARTS",
    "STORE_WRITE_FAILURES",
    "STORE_WRITE_RETRIES",
    "TRADED_VALUE_CENTS",
    "TRADES",
    "bind_gauges",
    "bind_store_gauges",
]

ORDERS = Counter(
    "exchange_orders_total",
    "New orders by their status after placement and their cancel or reject reason.",
    ["outcome", "reason"],
)
TRADES = Counter("exchange_trades_total", "Trades matched.")
TRADED_VALUE_CENTS = Counter(
    "exchange_traded_value_cents_total", "Gross value of matched trades, in cents."
)
FEES_EARNED_CENTS = Counter(
    "exchange_fees_earned_cents_total", "Platform fees of matched trades, in cents."
)
COMMANDS = Counter("exchange_commands_total", "Journaled commands by type.", ["type"])
MATCH_SECONDS = Histogram(
    "exchange_match_latency_seconds",
    "Time to apply one command in the engine.",
    buckets=(5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 0.025, 0.1),
)
FSYNC_SECONDS = Histogram(
    "exchange_journal_fsync_seconds",
    "Time to make one group of journal records durable.",
    buckets=(1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
GROUP_SIZE = Histogram(
    "exchange_journal_group_size",
    "Commands made durable together by one group commit.",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 1000, 10_000),
)
BOOKS = Gauge("exchange_books", "Order books (SKUs that have seen an order).")
RESTING_ORDERS = Gauge("exchange_resting_orders", "Orders resting on all books.")
STORE_LAG = Gauge(
    "exchange_store_lag_seqs", "Journal seqs released but not yet written to the trade store."
)
STORE_LAST_SEQ = Gauge("exchange_store_last_seq", "The trade store's position (journal seq).")
STORE_WRITE_FAILURES = Counter(
    "exchange_store_write_failures", "Failed trade-store write attempts (each one is retried)."
)
STORE_WRITE_RETRIES = Counter(
    "exchange_store_write_retries", "Trade-store write attempts that repeat a failed batch."
)
STORE_WRITER_RESTARTS = Counter(
    "exchange_store_writer_restarts", "Store writers restarted after dying or stalling."
)


def bind_gauges(books: Callable[[], float], resting: Callable[[], float]) -> None:
    """Read the gauges from the given callables at scrape time (the latest venue wins)."""
    BOOKS.set_function(books)
    RESTING_ORDERS.set_function(resting)


def bind_store_gauges(lag: Callable[[], float], position: Callable[[], float]) -> None:
    """Read the store gauges from the given callables at scrape time."""
    STORE_LAG.set_function(lag)
    STORE_LAST_SEQ.set_function(position)
