"""Frames as files: times read back as the same UTC instants in every format."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime

import orjson
import polars as pl
import pytest

from exchange.clock import rfc3339
from exchange.errors import ExchangeError
from exchange.exports import frame_bytes, frame_rows


@pytest.mark.parametrize("seed", range(5))
def test_frame_times_are_the_clocks_rfc3339(seed: int) -> None:
    rng = random.Random(seed)
    times = [rng.randrange(0, 4_102_444_800 * 10**9) for _ in range(200)] + [0, 999_999, 10**6]
    frame = pl.DataFrame({"time": times}, schema={"time": pl.Int64})
    assert [r["time"] for r in frame_rows(frame, ("time",))] == [rfc3339(t) for t in times]


def test_each_format_says_the_same_instant() -> None:
    t = int(datetime(2024, 1, 3, 10, 15, tzinfo=UTC).timestamp()) * 10**9 + 123_456_789
    frame = pl.DataFrame({"time": [t], "sku": ["=X"], "price_cents": [-5]})
    instant = datetime(2024, 1, 3, 10, 15, 0, 123_000, tzinfo=UTC)

    parquet = pl.read_parquet(io.BytesIO(frame_bytes(frame, "parquet", ("time",))))
    assert parquet.schema["time"] == pl.Datetime("ms", "UTC")
    assert parquet["time"].to_list() == [instant]
    csv = pl.read_csv(io.BytesIO(frame_bytes(frame, "csv", ("time",))), try_parse_dates=True)
    assert csv["time"].to_list() == [instant]
    assert csv["sku"].to_list() == ["'=X"]  # escaped for spreadsheets; numbers are not
    rows = orjson.loads(frame_bytes(frame, "json", ("time",)))
    assert rows == [{"time": "2024-01-03T10:15:00.123Z", "sku": "=X", "price_cents": -5}]
    with pytest.raises(ExchangeError) as err:
        frame_bytes(frame, "xlsx")
    assert err.value.code == "validation_error"
