"""The one checksum rule shared by the book, the feed and its clients.

``zlib.crc32`` (unsigned) of the ASCII string ``ASKS|BIDS``: ASKS is the top
10 ask levels from the lowest price up, BIDS the top 10 bid levels from the
highest price down, each level ``price_cents:quantity``, joined by ``,``.

>>> book_checksum([(10500, 2), (11000, 1)], [(10000, 3), (9500, 1)])
4148808677
>>> book_checksum([], [])
2343686810
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence

__all__ = ["CHECKSUM_DEPTH", "book_checksum"]

CHECKSUM_DEPTH = 10


def book_checksum(
    asks: Iterable[Sequence[int]], bids: Iterable[Sequence[int]]
) -> int:
    """CRC32 of the top levels; ``asks`` lowest first, ``bids`` highest first.

    Only the first :data:`CHECKSUM_DEPTH` levels of each side are used, and
    only their first two items (price, quantity).
    """
    ask_part = ",".join(
        f"{lvl[0]}:{lvl[1]}" for _, lvl in zip(range(CHECKSUM_DEPTH), asks, strict=False)
    )
    bid_part = ",".join(
        f"{lvl[0]}:{lvl[1]}" for _, lvl in zip(range(CHECKSUM_DEPTH), bids, strict=False)
    )
    return zlib.crc32(f"{ask_part}|{bid_part}".encode("ascii"))
