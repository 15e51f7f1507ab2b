"""Catalog: products, SKUs, rules, request validation, snapshots and the demo data."""

from __future__ import annotations

from typing import Any

import pytest

from exchange.catalog import (
    Catalog,
    Product,
    SkuInfo,
    default_max_price_cents,
    demo_products,
    sku_id,
)
from exchange.errors import ExchangeError
from orderbook.rules import SkuRules


def make_product(**overrides: Any) -> Product:
    fields: dict[str, Any] = {
        "style": "DZ5485-612",
        "name": 'Jordan 1 Retro High OG "Chicago Lost & Found"',
        "brand": "Jordan",
        "category": "sneakers",
        "retail_price_cents": 18_000,
        "release_date": "2022-11-19",
        "sizes": ("9", "9.5", "10"),
    }
    fields.update(overrides)
    return Product(**fields)


def request(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "style": "DD1391-100",
        "name": "Nike Dunk Low Panda",
        "brand": "Nike",
        "retail_price_cents": 11_000,
        "release_date": "2021-03-10",
        "sizes": ["9", "10"],
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def code_of(exc: pytest.ExceptionInfo[ExchangeError]) -> str:
    return exc.value.code


def test_sku_id() -> None:
    assert sku_id("DZ5485-612", "10") == "DZ5485-612-10"
    assert sku_id("126610LN", "OS") == "126610LN-OS"


def test_default_rules() -> None:
    product = make_product()
    # 100 cents tick, band $1.00 .. 100 x $180 = $18,000, 100 items.
    assert product.rules == SkuRules(100, 100, 1_800_000, 100)
    # A cheap product's band still reaches $1,000.
    assert make_product(retail_price_cents=500).max_price_cents == 100_000
    # The default top is rounded down to the tick.
    assert default_max_price_cents(18_001, 1_000) == 1_800_000
    assert (
        make_product(retail_price_cents=18_001, tick_size_cents=1_000).max_price_cents == 1_800_000
    )


def test_explicit_rules_are_kept() -> None:
    product = make_product(
        tick_size_cents=500, min_price_cents=5_000, max_price_cents=50_000, max_quantity=3
    )
    assert product.rules == SkuRules(500, 5_000, 50_000, 3)
    assert make_product(sizes=["9", "10"]).sizes == ("9", "10")  # any sequence becomes a tuple


def test_add_and_look_up() -> None:
    catalog = Catalog()
    product = catalog.add(make_product())
    catalog.add(make_product(style="126610LN", name="Submariner", brand="Rolex", sizes=("OS",)))
    assert catalog.product("DZ5485-612") is product
    assert [p.style for p in catalog.products()] == ["DZ5485-612", "126610LN"]
    assert catalog.skus() == ["DZ5485-612-9", "DZ5485-612-9.5", "DZ5485-612-10", "126610LN-OS"]
    assert catalog.sku("DZ5485-612-9.5") == SkuInfo(
        "DZ5485-612-9.5", "DZ5485-612", "9.5", product.rules
    )
    assert catalog.has_sku("126610LN-OS") and not catalog.has_sku("126610LN-10")
    assert catalog.has_product("126610LN") and not catalog.has_product("nope")
    assert len(catalog) == 2


def test_unknown_lookups() -> None:
    catalog = Catalog()
    with pytest.raises(ExchangeError) as exc:
        catalog.product("nope")
    assert code_of(exc) == "unknown_product" and exc.value.status == 404
    with pytest.raises(ExchangeError) as exc:
        catalog.sku("nope-10")
    assert code_of(exc) == "unknown_sku" and exc.value.status == 404
    with pytest.raises(ExchangeError) as exc:
        catalog.product_dict("nope")
    assert code_of(exc) == "unknown_product"


def test_duplicates_are_refused_and_change_nothing() -> None:
    catalog = Catalog()
    catalog.add(make_product(style="A-1", sizes=("2",)))
    with pytest.raises(ExchangeError) as exc:
        catalog.add(make_product(style="A-1", sizes=("3",)))
    assert code_of(exc) == "product_exists" and exc.value.status == 409
    # Style "A" in size "1-2" would be SKU "A-1-2" too.
    clash = make_product(style="A", sizes=("5", "1-2"))
    with pytest.raises(ExchangeError) as exc:
        catalog.check_new(clash)
    assert code_of(exc) == "product_exists"
    with pytest.raises(ExchangeError) as exc:
        catalog.add(clash)
    assert code_of(exc) == "product_exists" and "A-1-2" in exc.value.message
    assert catalog.skus() == ["A-1-2"] and not catalog.has_sku("A-5")
    catalog.check_new(make_product(style="B"))  # a free one passes


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"style": ""}, "style"),
        ({"style": "DZ5485/612"}, "style"),
        ({"style": "DZ 5485"}, "style"),
        ({"style": "x" * 41}, "style"),
        ({"name": "  "}, "name"),
        ({"brand": ""}, "brand"),
        ({"name": "Dunk\nLow"}, "name"),
        ({"category": ""}, "category"),
        ({"retail_price_cents": 0}, "retail_price_cents"),
        ({"retail_price_cents": -100}, "retail_price_cents"),
        ({"retail_price_cents": True}, "retail_price_cents"),
        ({"release_date": "2022-13-01"}, "release_date"),
        ({"release_date": "2022-02-30"}, "release_date"),
        ({"release_date": "20221119"}, "release_date"),
        ({"release_date": "Nov 19 2022"}, "release_date"),
        ({"sizes": ()}, "sizes"),
        ({"sizes": "10"}, "sizes"),
        ({"sizes": ("9", "9")}, "sizes"),
        ({"sizes": ("9", "")}, "size"),
        ({"sizes": ("9?",)}, "size"),
        ({"tick_size_cents": 0}, "tick_size_cents"),
        ({"max_quantity": 0}, "max_quantity"),
        ({"min_price_cents": 0}, "min_price_cents"),
        ({"max_price_cents": -1}, "max_price_cents"),
        ({"min_price_cents": 5_000, "max_price_cents": 4_000}, "admit no price"),
        (
            {"min_price_cents": 150, "max_price_cents": 199},
            "admit no price",
        ),  # no 100-cent tick in it
    ],
)
def test_bad_fields_are_validation_errors(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ExchangeError) as exc:
        make_product(**overrides)
    assert code_of(exc) == "validation_error" and exc.value.status == 422
    assert field in exc.value.message


def test_wire_shape() -> None:
    catalog = Catalog()
    catalog.add(make_product(sizes=("9", "10")))
    expected = {
        "style": "DZ5485-612",
        "name": 'Jordan 1 Retro High OG "Chicago Lost & Found"',
        "brand": "Jordan",
        "category": "sneakers",
        "retail_price_cents": 18_000,
        "release_date": "2022-11-19",
        "skus": [{"sku": "DZ5485-612-9", "size": "9"}, {"sku": "DZ5485-612-10", "size": "10"}],
    }
    assert catalog.product_dict("DZ5485-612") == expected
    assert catalog.products_dicts() == [expected]


def test_snapshot_round_trip() -> None:
    catalog = Catalog()
    catalog.add(make_product())
    catalog.add(
        make_product(style="X1", sizes=("OS",), max_price_cents=5_000_000, tick_size_cents=50)
    )
    data = catalog.to_dict()
    restored = Catalog.from_dict(data)
    assert restored.to_dict() == data
    assert restored.products() == catalog.products()
    assert restored.sku("X1-OS") == catalog.sku("X1-OS")
    assert data["products"][0]["max_price_cents"] == 1_800_000  # the resolved default is stored


def test_from_request_defaults() -> None:
    product = Product.from_request(request(name="  Nike Dunk Low Panda "))
    assert product == Product(
        style="DD1391-100",
        name="Nike Dunk Low Panda",
        brand="Nike",
        category="other",
        retail_price_cents=11_000,
        release_date="2021-03-10",
        sizes=("9", "10"),
        tick_size_cents=100,
        min_price_cents=100,
        max_price_cents=1_100_000,
        max_quantity=100,
    )


def test_from_request_optional_fields() -> None:
    product = Product.from_request(
        request(
            category="sneakers",
            tick_size_cents=500,
            min_price_cents=1_000,
            max_price_cents=100_000,
            max_quantity=5,
        )
    )
    assert product.category == "sneakers"
    assert product.rules == SkuRules(500, 1_000, 100_000, 5)


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        (["not", "an", "object"], "validation_error", "JSON object"),
        (request(color="red"), "unknown_field", "'color'"),
        (request(style=...), "validation_error", "style is required"),
        (request(sizes=...), "validation_error", "sizes is required"),
        (request(style=123), "validation_error", "style must be a string"),
        (request(name=None), "validation_error", "name must be a string"),
        (request(retail_price_cents="11000"), "validation_error", "retail_price_cents"),
        (request(retail_price_cents=110.0), "validation_error", "retail_price_cents"),
        (request(retail_price_cents=False), "validation_error", "retail_price_cents"),
        (request(max_quantity=2.5), "validation_error", "max_quantity"),
        (request(sizes="9"), "validation_error", "sizes must be a list"),
        (request(sizes=[9, 10]), "validation_error", "sizes must be a list"),
        (request(sizes=[]), "validation_error", "sizes"),
        (request(release_date="2021-3-10"), "validation_error", "release_date"),
        (request(category=7), "validation_error", "category must be a string"),
    ],
)
def test_from_request_refusals(body: Any, code: str, words: str) -> None:
    with pytest.raises(ExchangeError) as exc:
        Product.from_request(body)
    assert code_of(exc) == code
    assert words in exc.value.message


def test_demo_catalog() -> None:
    products = demo_products()
    assert 30 <= len(products) <= 60
    catalog = Catalog()
    for product in products:
        catalog.add(product)  # valid, no duplicate style or SKU
    chicago = catalog.product("DZ5485-612")
    assert chicago.retail_price_cents == 18_000 and "Chicago" in chicago.name
    assert catalog.has_sku("DZ5485-612-10") and catalog.has_sku("DZ5485-612-9.5")
    assert catalog.product("DD1391-100").brand == "Nike"
    assert catalog.product("126610LN").retail_price_cents == 1_010_000
    assert catalog.has_sku("126610LN-OS")
    categories = {p.category for p in products}
    assert {"sneakers", "watches", "streetwear", "trading_cards"} <= categories
    assert all(catalog.sku(s).rules.tick_size_cents == 100 for s in catalog.skus())
    sneakers = [p for p in products if p.category == "sneakers"]
    assert all(len(p.sizes) >= 5 for p in sneakers)
    apparel = [p for p in products if p.category == "streetwear"]
    assert all(p.sizes == ("S", "M", "L", "XL") for p in apparel)
    # Every call gives a fresh, equal list.
    assert demo_products() == products and demo_products() is not products


def test_doctests() -> None:
    import doctest

    from exchange import catalog

    result = doctest.testmod(catalog)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize(
    ("field", "unit"),
    [
        ("retail_price_cents", "cents"),
        ("tick_size_cents", "cents"),
        ("max_price_cents", "cents"),
        ("max_quantity", "items"),
    ],
)
def test_a_non_integer_number_names_its_unit(field: str, unit: str) -> None:
    """Refusals name the unit a number is in (a non-integer price once said
    "integer number of cents or items", leaving the reader to guess which)."""
    with pytest.raises(ExchangeError) as err:
        Product.from_request(request(sizes=["9"], **{field: 1.5}))
    assert err.value.code == "validation_error"
    assert err.value.message == f"{field} must be an integer number of {unit}."


def test_find_sku_answers_none_for_anything_unknown() -> None:
    catalog = Catalog()
    catalog.add(make_product())
    info = catalog.find_sku("DZ5485-612-10")
    assert info is not None and info.size == "10" and info.style == "DZ5485-612"
    assert catalog.find_sku("DZ5485-612-11") is None
    assert catalog.find_sku(42) is None
    assert catalog.find_sku(None) is None
