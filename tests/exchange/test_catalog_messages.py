"""Catalog refusals name the unit a number is in.

Regression: a non-integer ``retail_price_cents`` was refused with "must be an
integer number of cents or items", leaving the reader to guess which.
"""

from __future__ import annotations

import pytest

from exchange.catalog import Product
from exchange.errors import ExchangeError

BODY = {"style": "DD1391-100", "name": "Nike Dunk Low Panda", "brand": "Nike",
        "retail_price_cents": 11_000, "release_date": "2021-03-10", "sizes": ["9"]}


@pytest.mark.parametrize(
    ("field", "unit"),
    [("retail_price_cents", "cents"), ("tick_size_cents", "cents"),
     ("max_price_cents", "cents"), ("max_quantity", "items")],
)
def test_a_non_integer_number_names_its_unit(field: str, unit: str) -> None:
    with pytest.raises(ExchangeError) as err:
        Product.from_request({**BODY, field: 1.5})
    assert err.value.code == "validation_error"
    assert err.value.message == f"{field} must be an integer number of {unit}."
