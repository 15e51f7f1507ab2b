"""``exchange export trades`` never writes binary parquet onto a terminal.

Regression: the default format is parquet and the default output stdout, so
a user trying the command in a terminal got a screen of binary garbage.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from api import cli


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_parquet_to_a_terminal_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr("sys.stdout", terminal)
    code = cli.main(["export", "trades", "--data-dir", str(tmp_path)])
    assert code == 2
    assert terminal.getvalue() == ""
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--output FILE" in err[0]


def test_csv_to_a_terminal_is_still_fine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdout", _Terminal())
    # No trade store in an empty dir: the refusal is about the store, not the tty.
    code = cli.main(["export", "trades", "--format", "csv", "--data-dir", str(tmp_path)])
    assert code == 2
    assert "exchange.db is missing" in capsys.readouterr().err
