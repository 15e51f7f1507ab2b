"""Where a shard's history is stored: its own schema of the cluster's PostgreSQL.

Each shard's engine writes its history (orders, trades, ledger, holdings) with
the venue's own store writer; shards share one PostgreSQL database, each in a
schema of its own (``exchange_shard_<K>``), so that each store keeps its own
position (the journal seq it holds) exactly as in one process. Without a
database URL (trying it out) each shard gets a SQLite file beside the data
directories; that is for one machine only.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import sqlalchemy

__all__ = ["shard_database_url", "shard_schema"]


def shard_schema(shard: int) -> str:
    """The PostgreSQL schema of shard ``shard``'s history."""
    return f"exchange_shard_{shard}"


def shard_database_url(database_url: str | None, shard: int, root: Path) -> str:
    """The store URL of shard ``shard``, creating its schema if needed (blocks).

    Args:
        database_url: the cluster's database (``postgresql+psycopg://...``),
            or None for SQLite files under ``root``.
        shard: the shard.
        root: where SQLite files go without a database URL.
    """
    if database_url is None:
        root.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{root / f'store-shard-{shard}.db'}"
    if not database_url.startswith("postgresql"):
        raise ValueError("cluster mode stores history in PostgreSQL (postgresql+psycopg://...)")
    schema = shard_schema(shard)
    engine = sqlalchemy.create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    finally:
        engine.dispose()
    parts = urlsplit(database_url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-csearch_path={schema}"))
    return urlunsplit(parts._replace(query=urlencode(query)))
