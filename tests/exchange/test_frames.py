"""The 64-bit conventions of the analytics frames."""

from __future__ import annotations

import polars as pl

from exchange.frames import as_int64, csv_bytes, i64, int64_count


def test_literals_are_int64_whatever_their_size() -> None:
    assert pl.select(i64(5)).dtypes == [pl.Int64]
    assert pl.select(i64(None)).dtypes == [pl.Int64]
    assert pl.select(i64(2**31 - 1) * i64(10_000)).item() == (2**31 - 1) * 10_000


def test_frames_are_widened_only_where_named() -> None:
    frame = pl.DataFrame(
        {"a": [1], "b": [2], "s": ["x"]}, schema={"a": pl.Int32, "b": pl.Int16, "s": pl.String}
    )
    wide = as_int64(frame, ("a", "s_missing"))
    assert wide.schema == pl.Schema({"a": pl.Int64, "b": pl.Int16, "s": pl.String})
    lazy = as_int64(frame.lazy(), ("a", "b")).collect()
    assert lazy.schema["b"] == pl.Int64


def test_a_count_minus_one_does_not_wrap() -> None:
    empty = pl.DataFrame({"a": []}, schema={"a": pl.Int64})
    got = empty.select(n=int64_count(pl.col("a").len()) - i64(1))
    assert got.item() == -1


def test_csv_escapes_text_cells_a_spreadsheet_would_run() -> None:
    frame = pl.DataFrame({
        "text": ["=1+2", "+1", "-2-3", "@SUM(A1)", "\tx", "\ry", "ok", "a=b", None],
        "cents": [-500, 1, 2, 3, 4, 5, 6, 7, 8],
    })
    lines = csv_bytes(frame).decode().split("\n")
    assert lines[0] == "text,cents"
    assert lines[1:5] == ["'=1+2,-500", "'+1,1", "'-2-3,2", "'@SUM(A1),3"]
    assert lines[5] == "'\tx,4"
    assert lines[6:11] == ['"\'\ry",5', "ok,6", "a=b,7", ",8", ""]
