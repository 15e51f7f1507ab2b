"""The one table of error codes: every code raised anywhere is in it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from exchange.errors import CODES, STATUS_BY_CODE, ExchangeError
from orderbook.rules import RejectReason

ROOT = Path(__file__).resolve().parents[2]
# Calls whose first argument is an error code.
_RAISERS = frozenset({"ExchangeError", "_err", "problem_response", "problem_body"})


def _codes_in_source() -> dict[str, str]:
    """Every string literal passed as a code in exchange/ and api/, with where."""
    found: dict[str, str] = {}
    for package in ("exchange", "api"):
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text("utf-8"))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                first = node.args[0]
                if (
                    name in _RAISERS
                    and isinstance(first, ast.Constant)
                    and isinstance(first.value, str)
                ):
                    found.setdefault(first.value, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_code_raised_is_in_the_table() -> None:
    found = _codes_in_source()
    assert len(found) >= 15, found  # the scan sees the raisers
    unknown = {code: where for code, where in found.items() if code not in CODES}
    assert not unknown, f"codes missing from exchange.errors.CODES: {unknown}"


def test_the_api_maps_aiohttp_statuses_to_listed_codes() -> None:
    from api.middleware import _HTTP_CODES

    for status, code in _HTTP_CODES.items():
        assert CODES[code].status == status, code


@pytest.mark.parametrize("reason", list(RejectReason))
def test_book_reject_reasons_are_codes(reason: RejectReason) -> None:
    assert str(reason) in CODES


def test_an_unknown_code_is_a_bug_not_a_400() -> None:
    assert ExchangeError("no_such_code_ever", "x").status == 500
    assert ExchangeError("off_tick", "x").status == 422
    assert {code: entry.status for code, entry in CODES.items()} == STATUS_BY_CODE
    for code, entry in CODES.items():
        assert 400 <= entry.status <= 599 and entry.meaning.endswith("."), code
