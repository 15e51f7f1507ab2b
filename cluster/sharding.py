"""Which shard owns what: products by a stable hash, ids by range.

A product (every size of one style) belongs to shard
``zlib.crc32(style) % shards``: the same on every machine and every run
(never Python's per-process ``hash()``), and an order that spans sizes stays
on one shard. Each shard's engine numbers its orders, trades, ledger entries
and holdings from ``shard * ID_RANGE + 1`` (:meth:`exchange.engine.Engine.start_ids_at`),
so an id names its shard: ``shard_of_id(id) == id // ID_RANGE``. Account
ids (``acc_<n>``) are not numbered per shard: accounts are created on shard 0
and every other shard applies them in shard 0's order (see ``cluster.engine``).
"""

from __future__ import annotations

import zlib

__all__ = ["ACCOUNTS_SHARD", "ID_RANGE", "id_base", "shard_of_id", "shard_of_style"]

#: Ids of one shard: ``[shard * ID_RANGE + 1, (shard + 1) * ID_RANGE)``.
ID_RANGE = 10**12
#: The shard whose journal holds every account and product command.
ACCOUNTS_SHARD = 0


def shard_of_style(style: str, shards: int) -> int:
    """The shard of a product style: ``zlib.crc32(style) % shards``."""
    return zlib.crc32(style.encode()) % shards


def id_base(shard: int) -> int:
    """Ids of ``shard`` start above this."""
    return shard * ID_RANGE


def shard_of_id(entity_id: int, shards: int) -> int | None:
    """The shard that numbered ``entity_id``; None for an id no shard gives."""
    if entity_id <= 0:
        return None
    shard = entity_id // ID_RANGE
    return shard if shard < shards else None
