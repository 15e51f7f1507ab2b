"""The catalog: products, their SKUs (one per size) and each SKU's trading rules.

A product is one style (``DZ5485-612``); a SKU is that style in one size,
``f"{style}-{size}"`` (``DZ5485-612-10``). Styles and sizes use only
``[A-Za-z0-9.-]`` so that a SKU is safe in a URL path as it is; a SKU string
names exactly one (style, size) pair in the catalog (a product whose SKU
would collide with an existing one is refused).

Trading rules are per product, shared by its sizes. Defaults: a tick of 100
cents, a price band from 100 cents up to 100 times the retail price (at least
$1,000, rounded down to the tick), at most 100 items per order.

Validation happens when a :class:`Product` is built, so a ``Product`` value
is always valid; :meth:`Product.from_request` adds the type checks of a
``POST /v1/products`` body. Bad input raises
:class:`~exchange.errors.ExchangeError` and changes nothing.

:func:`demo_products` returns the demo catalog (``demo_catalog.json``, next to
this module): sneakers, watches, streetwear, trading cards and figures with
realistic retail prices. Graded trading cards list the original pack price as
retail and carry their own, wider price band.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from orderbook.rules import SkuRules

from .errors import ExchangeError

__all__ = [
    "DEFAULT_MAX_QUANTITY",
    "DEFAULT_MIN_PRICE_CENTS",
    "DEFAULT_TICK_SIZE_CENTS",
    "Catalog",
    "Product",
    "SkuInfo",
    "default_max_price_cents",
    "demo_products",
    "sku_id",
]

DEFAULT_TICK_SIZE_CENTS = 100
DEFAULT_MIN_PRICE_CENTS = 100
DEFAULT_MAX_QUANTITY = 100
# The default band's top: 100x retail, but never below $1,000.
MAX_PRICE_RETAIL_MULTIPLE = 100
MAX_PRICE_FLOOR_CENTS = 100_000
# A hard ceiling on any price: $100M keeps every product of the trade in range
# while catching typos of a few extra digits.
PRICE_CEILING_CENTS = 10_000_000_000

_CODE = re.compile(r"[A-Za-z0-9.\-]+")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
STYLE_MAX_LENGTH = 40
SIZE_MAX_LENGTH = 16
NAME_MAX_LENGTH = 200
BRAND_MAX_LENGTH = 100
CATEGORY_MAX_LENGTH = 50
MAX_SIZES = 50

REQUIRED_FIELDS = ("style", "name", "brand", "retail_price_cents", "release_date", "sizes")
OPTIONAL_FIELDS = (
    "category",
    "tick_size_cents",
    "min_price_cents",
    "max_price_cents",
    "max_quantity",
)
DEFAULT_CATEGORY = "other"


def sku_id(style: str, size: str) -> str:
    """The SKU of ``style`` in ``size``.

    >>> sku_id("DZ5485-612", "10")
    'DZ5485-612-10'
    """
    return f"{style}-{size}"


def default_max_price_cents(retail_price_cents: int, tick_size_cents: int) -> int:
    """The default top of the band: 100x retail, at least $1,000, down to a tick.

    >>> default_max_price_cents(18_000, 100), default_max_price_cents(500, 100)
    (1800000, 100000)
    """
    top = max(retail_price_cents * MAX_PRICE_RETAIL_MULTIPLE, MAX_PRICE_FLOOR_CENTS)
    return top - top % tick_size_cents


def _invalid(message: str) -> ExchangeError:
    return ExchangeError("validation_error", message)


def _check_code(field: str, value: str, max_length: int) -> None:
    if not value:
        raise _invalid(f"{field} must not be empty.")
    if len(value) > max_length:
        raise _invalid(f"{field} must be at most {max_length} characters long.")
    if not _CODE.fullmatch(value):
        raise _invalid(f"{field} may contain only letters, digits, '.' and '-' (got {value!r}).")


def _check_text(field: str, value: str, max_length: int) -> None:
    if not value.strip():
        raise _invalid(f"{field} must not be empty.")
    if len(value) > max_length:
        raise _invalid(f"{field} must be at most {max_length} characters long.")
    if not value.isprintable():
        raise _invalid(f"{field} must not contain control characters.")


def _check_date(value: str) -> None:
    # fromisoformat alone also takes "20221119" on 3.11; insist on the wire form.
    if not _DATE.fullmatch(value):
        raise _invalid(f"release_date must be a date as YYYY-MM-DD (got {value!r}).")
    try:
        _dt.date.fromisoformat(value)
    except ValueError:
        raise _invalid(f"release_date {value!r} is not a real date.") from None


@dataclass(frozen=True, slots=True)
class Product:
    """One style with its sizes and trading rules; always valid once built.

    ``max_price_cents`` of 0 means "the default" (:func:`default_max_price_cents`)
    and is replaced by it on construction.

    Raises:
        ExchangeError: ``validation_error`` naming the first bad field: an
            empty or non-URL-safe style or size, a non-positive retail price,
            a release date that is not a real YYYY-MM-DD date, no sizes or a
            size twice, or rules that admit no price or quantity.
    """

    style: str
    name: str
    brand: str
    category: str
    retail_price_cents: int
    release_date: str
    sizes: tuple[str, ...]
    tick_size_cents: int = DEFAULT_TICK_SIZE_CENTS
    min_price_cents: int = DEFAULT_MIN_PRICE_CENTS
    max_price_cents: int = 0
    max_quantity: int = DEFAULT_MAX_QUANTITY

    def __post_init__(self) -> None:
        _check_code("style", self.style, STYLE_MAX_LENGTH)
        _check_text("name", self.name, NAME_MAX_LENGTH)
        _check_text("brand", self.brand, BRAND_MAX_LENGTH)
        _check_text("category", self.category, CATEGORY_MAX_LENGTH)
        for field in ("retail_price_cents", "tick_size_cents", "min_price_cents", "max_quantity"):
            value = getattr(self, field)
            if type(value) is not int or value <= 0:
                raise _invalid(f"{field} must be a positive integer.")
        if self.retail_price_cents > PRICE_CEILING_CENTS:
            raise _invalid(f"retail_price_cents must be at most {PRICE_CEILING_CENTS}.")
        _check_date(self.release_date)
        if isinstance(self.sizes, str):
            raise _invalid("sizes must be a list of sizes, not one string.")
        if not isinstance(self.sizes, tuple):
            # Accept any sequence from Python callers, keep a tuple (hashable, frozen).
            object.__setattr__(self, "sizes", tuple(self.sizes))
        if not self.sizes:
            raise _invalid("sizes must list at least one size.")
        if len(self.sizes) > MAX_SIZES:
            raise _invalid(f"sizes may list at most {MAX_SIZES} sizes.")
        for size in self.sizes:
            if not isinstance(size, str):
                raise _invalid("each size must be a string.")
            _check_code("size", size, SIZE_MAX_LENGTH)
        if len(set(self.sizes)) != len(self.sizes):
            raise _invalid("sizes must not list a size twice.")
        if self.max_price_cents == 0:
            object.__setattr__(
                self,
                "max_price_cents",
                default_max_price_cents(self.retail_price_cents, self.tick_size_cents),
            )
        if type(self.max_price_cents) is not int or self.max_price_cents <= 0:
            raise _invalid("max_price_cents must be a positive integer.")
        if self.max_price_cents > PRICE_CEILING_CENTS:
            raise _invalid(f"max_price_cents must be at most {PRICE_CEILING_CENTS}.")
        # The band must hold at least one price on the tick grid.
        lowest = -(-self.min_price_cents // self.tick_size_cents) * self.tick_size_cents
        if lowest > self.max_price_cents:
            raise _invalid("min_price_cents, max_price_cents and tick_size_cents admit no price.")

    @property
    def rules(self) -> SkuRules:
        """The trading rules every size of this product shares."""
        return SkuRules(
            tick_size_cents=self.tick_size_cents,
            min_price_cents=self.min_price_cents,
            max_price_cents=self.max_price_cents,
            max_quantity=self.max_quantity,
        )

    def skus(self) -> list[str]:
        """The product's SKUs, in the order of its sizes."""
        return [sku_id(self.style, size) for size in self.sizes]

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-able (for snapshots and journaled commands)."""
        return {
            "style": self.style,
            "name": self.name,
            "brand": self.brand,
            "category": self.category,
            "retail_price_cents": self.retail_price_cents,
            "release_date": self.release_date,
            "sizes": list(self.sizes),
            "tick_size_cents": self.tick_size_cents,
            "min_price_cents": self.min_price_cents,
            "max_price_cents": self.max_price_cents,
            "max_quantity": self.max_quantity,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Product:
        """The inverse of :meth:`to_dict` (trusted data: no type checks beyond validation)."""
        return cls(
            style=data["style"],
            name=data["name"],
            brand=data["brand"],
            category=data.get("category", DEFAULT_CATEGORY),
            retail_price_cents=data["retail_price_cents"],
            release_date=data["release_date"],
            sizes=tuple(data["sizes"]),
            tick_size_cents=data.get("tick_size_cents", DEFAULT_TICK_SIZE_CENTS),
            min_price_cents=data.get("min_price_cents", DEFAULT_MIN_PRICE_CENTS),
            max_price_cents=data.get("max_price_cents", 0),
            max_quantity=data.get("max_quantity", DEFAULT_MAX_QUANTITY),
        )

    @classmethod
    def from_request(cls, body: object) -> Product:
        """Validate a ``POST /v1/products`` body and build the product.

        Required keys: ``style``, ``name``, ``brand``, ``retail_price_cents``,
        ``release_date``, ``sizes``; optional: ``category`` (default
        ``"other"``), ``tick_size_cents``, ``min_price_cents``,
        ``max_price_cents``, ``max_quantity`` (defaults as in the module
        docstring). Strings are taken as given except ``name``, ``brand`` and
        ``category``, which are stripped.

        Raises:
            ExchangeError: ``unknown_field`` for a key not listed above;
                ``validation_error`` with a sentence naming the field for a
                missing key, a wrong type or a bad value.
        """
        if not isinstance(body, dict):
            raise _invalid("The body must be a JSON object.")
        unknown = sorted(set(body) - set(REQUIRED_FIELDS) - set(OPTIONAL_FIELDS))
        if unknown:
            raise ExchangeError(
                "unknown_field",
                f"Unknown field {unknown[0]!r}; allowed: "
                + ", ".join(REQUIRED_FIELDS + OPTIONAL_FIELDS)
                + ".",
            )
        for key in REQUIRED_FIELDS:
            if key not in body:
                raise _invalid(f"{key} is required.")
        for key in ("style", "name", "brand", "release_date", "category"):
            if key in body and not isinstance(body[key], str):
                raise _invalid(f"{key} must be a string.")
        for key in ("retail_price_cents", *OPTIONAL_FIELDS[1:]):
            # bool is an int subclass; true is not a price.
            if key in body and type(body[key]) is not int:
                unit = "items" if key == "max_quantity" else "cents"
                raise _invalid(f"{key} must be an integer number of {unit}.")
        sizes = body["sizes"]
        if not isinstance(sizes, list) or not all(isinstance(s, str) for s in sizes):
            raise _invalid("sizes must be a list of strings.")
        return cls(
            style=body["style"],
            name=body["name"].strip(),
            brand=body["brand"].strip(),
            category=body.get("category", DEFAULT_CATEGORY).strip(),
            retail_price_cents=body["retail_price_cents"],
            release_date=body["release_date"],
            sizes=tuple(sizes),
            tick_size_cents=body.get("tick_size_cents", DEFAULT_TICK_SIZE_CENTS),
            min_price_cents=body.get("min_price_cents", DEFAULT_MIN_PRICE_CENTS),
            max_price_cents=body.get("max_price_cents", 0),
            max_quantity=body.get("max_quantity", DEFAULT_MAX_QUANTITY),
        )


@dataclass(frozen=True, slots=True)
class SkuInfo:
    """One SKU: its id, its product's style, its size and its trading rules."""

    sku: str
    style: str
    size: str
    rules: SkuRules


class Catalog:
    """Products by style and SKUs by id, in insertion order.

    Lookups (:meth:`product`, :meth:`sku`, :meth:`has_sku`) are O(1) dict
    reads; the engine calls :meth:`sku` on every order.
    """

    def __init__(self) -> None:
        self._products: dict[str, Product] = {}
        self._skus: dict[str, SkuInfo] = {}

    def add(self, product: Product) -> Product:
        """Add a product and its SKUs; nothing changes if it is refused.

        Raises:
            ExchangeError: ``product_exists`` when the style is taken, or when
                one of its SKUs would equal an existing SKU (styles and sizes
                may both contain '-').
        """
        if product.style in self._products:
            raise ExchangeError("product_exists", f"Product {product.style} already exists.")
        rules = product.rules
        infos = [SkuInfo(sku_id(product.style, s), product.style, s, rules) for s in product.sizes]
        for info in infos:
            if info.sku in self._skus:
                other = self._skus[info.sku]
                raise ExchangeError(
                    "product_exists",
                    f"SKU {info.sku} already exists (product {other.style}, size {other.size}).",
                )
        self._products[product.style] = product
        for info in infos:
            self._skus[info.sku] = info
        return product

    def check_new(self, product: Product) -> None:
        """Raise what :meth:`add` would raise, changing nothing (the engine's static check)."""
        if product.style in self._products:
            raise ExchangeError("product_exists", f"Product {product.style} already exists.")
        for sku in product.skus():
            if sku in self._skus:
                raise ExchangeError("product_exists", f"SKU {sku} already exists.")

    def product(self, style: str) -> Product:
        """The product of ``style``.

        Raises:
            ExchangeError: ``unknown_product``.
        """
        product = self._products.get(style)
        if product is None:
            raise ExchangeError("unknown_product", f"No product has style {style!r}.")
        return product

    def has_product(self, style: str) -> bool:
        """Whether ``style`` is in the catalog."""
        return style in self._products

    def products(self) -> list[Product]:
        """Every product, in the order they were added."""
        return list(self._products.values())

    def sku(self, sku: str) -> SkuInfo:
        """The SKU's info and rules.

        Raises:
            ExchangeError: ``unknown_sku``.
        """
        info = self._skus.get(sku)
        if info is None:
            raise ExchangeError("unknown_sku", f"No SKU {sku!r} in the catalog.")
        return info

    def find_sku(self, sku: object) -> SkuInfo | None:
        """The SKU's info and rules, or None when ``sku`` is not one (any value)."""
        return self._skus.get(sku) if isinstance(sku, str) else None

    def has_sku(self, sku: str) -> bool:
        """Whether ``sku`` is in the catalog."""
        return sku in self._skus

    def skus(self) -> list[str]:
        """Every SKU, product by product, size by size, in insertion order."""
        return list(self._skus)

    def __len__(self) -> int:
        return len(self._products)

    def product_dict(self, style: str) -> dict[str, Any]:
        """The wire shape of one product (``GET /v1/products/{style}``).

        Raises:
            ExchangeError: ``unknown_product``.
        """
        return _wire(self.product(style))

    def products_dicts(self) -> list[dict[str, Any]]:
        """The wire shape of every product, in insertion order."""
        return [_wire(p) for p in self._products.values()]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state: every product with all its fields, in insertion order."""
        return {"products": [p.to_dict() for p in self._products.values()]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Catalog:
        """The inverse of :meth:`to_dict`."""
        catalog = cls()
        for item in data["products"]:
            catalog.add(Product.from_dict(item))
        return catalog


def _wire(product: Product) -> dict[str, Any]:
    return {
        "style": product.style,
        "name": product.name,
        "brand": product.brand,
        "category": product.category,
        "retail_price_cents": product.retail_price_cents,
        "release_date": product.release_date,
        "skus": [{"sku": sku_id(product.style, s), "size": s} for s in product.sizes],
    }


@functools.cache
def _demo_data() -> tuple[dict[str, Any], ...]:
    text = resources.files("exchange").joinpath("demo_catalog.json").read_text("utf-8")
    return tuple(json.loads(text)["products"])


def demo_products() -> list[Product]:
    """The demo catalog: a few dozen realistic products, several sizes each.

    Sneakers come in US men's sizes, apparel in S to XL, watches, cards and
    figures in one size, ``OS``. The list is the same on every call.
    """
    return [Product.from_dict(item) for item in _demo_data()]
