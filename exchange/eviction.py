"""What the engine needs to let history leave memory (docs/history.md).

- :class:`Retirements`: the rows (orders, trades, ledger entries) that became
  final, in journal order, each with the seq of the command that made it
  final. An ``Evict(upto_seq)`` command pops those at or below its watermark;
  being a function of the journal, a replay pops exactly the same.
- :class:`IdIndex`: per-key lists of ids (an account's orders, a SKU's
  trades), ascending, with O(1) amortized removal and a page read that seeks
  with bisect: ``page(key, before, limit)`` is O(log n + rows read).

Both are plain data, deterministic, with their own snapshot encodings.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from typing import Any

__all__ = ["LEDGER", "ORDER", "TRADE", "IdIndex", "Retirements"]

ORDER = 0
TRADE = 1
LEDGER = 2


class Retirements:
    """Rows that became final, oldest first: ``(seq, kind, id)``."""

    __slots__ = ("_queue",)

    def __init__(self, items: list[list[int]] | None = None) -> None:
        self._queue: deque[tuple[int, int, int]] = deque((s, k, i) for s, k, i in (items or ()))

    def add(self, seq: int, kind: int, row_id: int) -> None:
        """Row ``row_id`` of ``kind`` became final at ``seq`` (never below the last one)."""
        self._queue.append((seq, kind, row_id))

    def oldest_seq(self) -> int | None:
        """Seq of the oldest final row still held, None when there is none."""
        return self._queue[0][0] if self._queue else None

    def due(self, upto_seq: int) -> Iterator[tuple[int, int]]:
        """Pop and yield ``(kind, id)`` of every row final at or below ``upto_seq``."""
        queue = self._queue
        while queue and queue[0][0] <= upto_seq:
            _, kind, row_id = queue.popleft()
            yield kind, row_id

    def __len__(self) -> int:
        return len(self._queue)

    def to_snapshot(self) -> list[list[int]]:
        """JSON-able, in order."""
        return [[s, k, i] for s, k, i in self._queue]


class IdIndex:
    """Ascending id lists per key, with lazy removal and paged reads.

    Ids of one key must be added in rising order (they come from counters).
    A removed id stays in its list until more than half of the list is dead,
    then the list is compacted; readers skip dead ids through ``alive``.

    Args:
        alive: whether an id is still held (the owner's dict lookup).
    """

    __slots__ = ("_alive", "_dead", "_lists")

    def __init__(self, alive: Callable[[int], bool]) -> None:
        self._alive = alive
        self._lists: dict[Hashable, list[int]] = {}
        self._dead: dict[Hashable, int] = {}

    def add(self, key: Hashable, row_id: int) -> None:
        """Append ``row_id`` (above every id of ``key`` so far)."""
        lst = self._lists.get(key)
        if lst is None:
            self._lists[key] = [row_id]
        else:
            lst.append(row_id)

    def remove(self, key: Hashable, row_id: int) -> None:
        """Note that ``row_id`` left (``alive`` already says False for it)."""
        lst = self._lists.get(key)
        if lst is None:
            return
        dead = self._dead.get(key, 0) + 1
        if 2 * dead > len(lst):
            alive = self._alive
            kept = [i for i in lst if alive(i)]
            if kept:
                self._lists[key] = kept
            else:
                del self._lists[key]
            self._dead.pop(key, None)
        else:
            self._dead[key] = dead

    def ids(self, key: Hashable) -> Iterator[int]:
        """Every live id of ``key``, oldest first."""
        alive = self._alive
        return (i for i in self._lists.get(key, ()) if alive(i))

    def page(
        self,
        key: Hashable,
        before: int | None,
        limit: int,
        want: Callable[[int], bool] | None = None,
    ) -> list[int]:
        """Up to ``limit`` live ids of ``key`` below ``before``, newest first.

        ``want`` filters further (a status); rows it refuses cost a read each.
        """
        lst = self._lists.get(key)
        if not lst:
            return []
        i = len(lst) if before is None else bisect_left(lst, before)
        alive = self._alive
        out: list[int] = []
        while i > 0 and len(out) < limit:
            i -= 1
            row_id = lst[i]
            if alive(row_id) and (want is None or want(row_id)):
                out.append(row_id)
        return out

    def keys(self) -> Iterator[Hashable]:
        """Keys with at least one id listed (maybe dead)."""
        return iter(self._lists)

    def size(self) -> int:
        """Ids listed, dead ones included (for tests and metrics)."""
        return sum(len(lst) for lst in self._lists.values())

    def debug_state(self) -> dict[Any, list[int]]:
        """The live ids per key (tests)."""
        return {k: list(self.ids(k)) for k in self._lists}
