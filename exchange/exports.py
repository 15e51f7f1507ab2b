"""Frames as files: one encoding of times and tables for JSON, CSV and Parquet.

Every export (trades, candles; the API's CSV and Parquet answers and the
CLI's files) goes through :func:`frame_bytes`, and every JSON row with a time
through :func:`frame_rows`, so a time reads the same in every format: UTC to
the millisecond.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import orjson
import polars as pl

from exchange.errors import ExchangeError
from exchange.frames import csv_bytes

__all__ = [
    "EXPORT_CONTENT_TYPES",
    "EXPORT_FORMATS",
    "ExportFormat",
    "check_format",
    "frame_bytes",
    "frame_rows",
]

EXPORT_FORMATS = ("json", "csv", "parquet")
# The media type of each export format (HTTP answers and downloads).
EXPORT_CONTENT_TYPES = {
    "json": "application/json",
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
}
ExportFormat = Literal["json", "csv", "parquet"]


def check_format(fmt: str) -> None:
    """Raise ``validation_error`` unless ``fmt`` is one of :data:`EXPORT_FORMATS`."""
    if fmt not in EXPORT_FORMATS:
        raise ExchangeError(
            "validation_error", f"format must be one of {', '.join(EXPORT_FORMATS)}, not {fmt!r}."
        )


def _times_to_text(frame: pl.DataFrame, columns: Iterable[str]) -> pl.DataFrame:
    """Replace int-ns time columns by RFC 3339 UTC strings (ms, ``Z``, truncated).

    The vectorized twin of :func:`exchange.clock.rfc3339` (a test keeps them
    equal): the text every JSON and CSV export and every JSON candle carries.
    """
    return frame.with_columns(
        pl.from_epoch(c, time_unit="ns").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").alias(c)
        for c in columns
        if c in frame.columns
    )


def frame_rows(frame: pl.DataFrame, time_columns: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The frame as JSON-ready row dicts, time columns (int ns) as RFC 3339 text."""
    return _times_to_text(frame, time_columns).to_dicts()


def frame_bytes(frame: pl.DataFrame, fmt: str, time_columns: Sequence[str] = ()) -> bytes:
    """Encode a frame as ``json`` (an array of row objects), ``csv`` or ``parquet``.

    Time columns (int ns) become, in each format, what its readers take as a
    time in UTC without a parse step of their own: in Parquet a timestamp
    column ``Datetime("ms", "UTC")`` (polars, pandas and pyarrow read it as
    a UTC datetime); in JSON and CSV RFC 3339 text with milliseconds and
    ``Z`` (``polars.read_csv(..., try_parse_dates=True)`` reads it as
    ``Datetime(time_zone="UTC")``, pandas with ``parse_dates``). One
    precision everywhere: the millisecond.

    Raises:
        ExchangeError: ``validation_error`` for an unknown format.
    """
    check_format(fmt)
    if fmt == "parquet":
        out = frame.with_columns(
            pl.from_epoch(c, time_unit="ns")
            .dt.cast_time_unit("ms")
            .dt.replace_time_zone("UTC")
            .alias(c)
            for c in time_columns
            if c in frame.columns
        )
        buf = io.BytesIO()
        out.write_parquet(buf)
        return buf.getvalue()
    if fmt == "csv":
        return csv_bytes(_times_to_text(frame, time_columns))
    return orjson.dumps(frame_rows(frame, time_columns))
