"""Polars conventions of the analytics: every integer is 64-bit, said out loud.

Polars types a Python integer literal by its value (``pl.lit(5)`` is Int32
in polars 2) and counts (``len``, ``sum`` of booleans) as unsigned 32-bit.
Cents times ten thousand, or a count minus one, then overflow 32 bits or
wrap around, and a mixed Int32/Int64 operation can panic inside polars
(a ``PanicException``, which is not an ``Exception``). So the analytics
never lets polars choose: literals come from :func:`i64`, input frames pass
through :func:`as_int64` on their integer columns, and counts are cast.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

import polars as pl

__all__ = ["I64", "as_int64", "csv_bytes", "i64", "int64_count"]

I64 = pl.Int64()

F = TypeVar("F", pl.DataFrame, pl.LazyFrame)


def i64(value: int | None) -> pl.Expr:
    """An Int64 literal (None: an Int64 null), whatever the value's size."""
    return pl.lit(value, dtype=pl.Int64)


def as_int64(frame: F, columns: Iterable[str]) -> F:
    """``frame`` with those of ``columns`` it has cast to Int64 (the others as they are)."""
    names = frame.collect_schema().names()
    return frame.cast({c: pl.Int64 for c in columns if c in names})


def int64_count(expr: pl.Expr) -> pl.Expr:
    """A count (``len()``, a sum of booleans) as Int64, so subtracting cannot wrap."""
    return expr.cast(pl.Int64)


# A text cell starting with =, +, -, @, a tab or a carriage return is run as
# a formula by spreadsheets (CSV injection, CWE-1236): such cells get a
# leading ``'``, which makes them text again, as OWASP advises.
_FORMULA_START = r"^[=+\-@\t\r]"


def csv_bytes(frame: pl.DataFrame) -> bytes:
    """``frame`` as CSV, with text cells a spreadsheet would run as a formula escaped.

    Only text (String) columns are escaped: numbers stay numbers (a negative
    price is ``-500``, not ``'-500``).
    """
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    safe = frame.with_columns(
        pl.when(pl.col(name).str.contains(_FORMULA_START))
        .then(pl.lit("'") + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name in text
    )
    return safe.write_csv().encode()
