"""The journaled commands of the venue: immutable values with a ``type`` tag.

Every command that passes :meth:`exchange.engine.Engine.validate` is written
to the journal as one record ``(seq, ts, command)`` and then applied with
``ts`` as the engine's ``now``; replaying the journal re-applies the same
records and so rebuilds the same state, byte for byte.

A record's payload is the orjson encoding of ``{"ts": <ns int>, "cmd":
{"type": "...", ...fields}}``, for instance::

    {"ts": 1767225600000000000,
     "cmd": {"type": "cancel_order", "account_id": "acc_1", "order_id": 7}}

``type`` is the class's ``TYPE`` (first in the object) and the fields are
the dataclass's, in order; tuples travel as lists; a field left out of an
old record takes its default. :func:`encode_record` and
:func:`decode_record` are the only two functions that know this. Field names
are the wire's (``price_cents``, ``quantity``...), money is integer cents,
times are int nanoseconds since the epoch.

Ids the engine assigns (orders, trades, ledger entries, holdings, API keys)
are *not* in the commands: the engine derives them from counters while
applying. The one exception is :class:`CreateAccount`, whose ``account_id``
the venue reads from :meth:`Engine.next_account_id` before journaling, so that
the caller learns it together with the API key. An API key itself is never
journaled: :class:`CreateAccount` and :class:`CreateApiKey` carry its hash and
its last four characters.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

import orjson

from .catalog import Product

__all__ = [
    "COMMAND_TYPES",
    "AddHolding",
    "AmendOrder",
    "AuthenticateTrade",
    "CancelOrder",
    "Command",
    "CreateAccount",
    "CreateApiKey",
    "CreateProduct",
    "Evict",
    "MarkShipped",
    "PlaceOrder",
    "RemoveHolding",
    "RevokeApiKey",
    "Tick",
    "command_from_dict",
    "decode_record",
    "encode_record",
]


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    """A command class's field names, cached: dataclasses.fields() is slow,
    and ``__dataclass_fields__`` also lists the ``TYPE`` ClassVar."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


class _CommandBase:
    """Shared ``to_dict``/``from_dict`` of the command dataclasses."""

    __slots__ = ()
    TYPE: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        """The command as a JSON-able dict, with its ``type`` tag first."""
        out: dict[str, Any] = {"type": self.TYPE}
        for name in _field_names(type(self)):
            value = getattr(self, name)
            out[name] = list(value) if type(value) is tuple else value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        """Build the command from :meth:`to_dict` output (``type`` is ignored)."""
        names = _field_names(cls)
        try:
            # The usual case, every field present (journal replay): positional.
            values = [data[name] for name in names]
        except KeyError:
            kwargs = {name: data[name] for name in names if name in data}
            for key, value in kwargs.items():
                if isinstance(value, list):
                    kwargs[key] = tuple(value)
            return cls(**kwargs)
        if list in map(type, values):  # a C-level scan; lists are rare (sizes)
            values = [tuple(v) if isinstance(v, list) else v for v in values]
        return cls(*values)


@dataclass(frozen=True, slots=True)
class CreateAccount(_CommandBase):
    """Create an account; ``key_hash`` is the sha256 hex of its API key,
    ``key_last4`` its last four characters (None in records from before)."""

    TYPE: ClassVar[str] = "create_account"
    account_id: str
    name: str
    role: str
    key_hash: str
    key_last4: str | None = None


@dataclass(frozen=True, slots=True)
class CreateApiKey(_CommandBase):
    """Give ``account_id`` one more API key (the engine assigns its id)."""

    TYPE: ClassVar[str] = "create_api_key"
    account_id: str
    key_hash: str
    label: str | None
    last4: str


@dataclass(frozen=True, slots=True)
class RevokeApiKey(_CommandBase):
    """``account_id`` revokes the key ``key_id``: one of its own, or with
    ``as_admin`` (an admin) any account's."""

    TYPE: ClassVar[str] = "revoke_api_key"
    account_id: str
    key_id: str
    as_admin: bool = False


@dataclass(frozen=True, slots=True)
class CreateProduct(_CommandBase):
    """Add a product and its SKUs (one per size) to the catalog."""

    TYPE: ClassVar[str] = "create_product"
    style: str
    name: str
    brand: str
    category: str
    retail_price_cents: int
    release_date: str
    sizes: tuple[str, ...]
    tick_size_cents: int
    min_price_cents: int
    max_price_cents: int
    max_quantity: int

    @classmethod
    def from_product(cls, product: Product) -> CreateProduct:
        """The command that adds ``product`` (the same fields, by name)."""
        return cls(**{name: getattr(product, name) for name in _field_names(cls)})

    def product(self) -> Product:
        """The product this command adds; building it checks its fields."""
        return Product(**{name: getattr(self, name) for name in _field_names(type(self))})


@dataclass(frozen=True, slots=True)
class PlaceOrder(_CommandBase):
    """Place an order. ``price_cents`` is a market order's price protection.

    ``expires_at`` (GTC limit orders only) is absolute: the venue computes it
    from the REST body's ``expires_in_days`` and the record's ``ts``.
    """

    TYPE: ClassVar[str] = "place_order"
    account_id: str
    client_order_id: str | None
    sku: str
    side: str
    order_type: str
    price_cents: int | None
    quantity: int
    time_in_force: str = "gtc"
    post_only: bool = False
    expires_at: int | None = None


@dataclass(frozen=True, slots=True)
class CancelOrder(_CommandBase):
    """Cancel one of the account's open orders."""

    TYPE: ClassVar[str] = "cancel_order"
    account_id: str
    order_id: int


@dataclass(frozen=True, slots=True)
class AmendOrder(_CommandBase):
    """Change an open order: new total ``quantity`` and/or new ``price_cents``."""

    TYPE: ClassVar[str] = "amend_order"
    account_id: str
    order_id: int
    quantity: int | None = None
    price_cents: int | None = None


@dataclass(frozen=True, slots=True)
class Tick(_CommandBase):
    """Expire due orders and cancel overdue shipments, at the record's ``ts``."""

    TYPE: ClassVar[str] = "tick"


@dataclass(frozen=True, slots=True)
class Evict(_CommandBase):
    """History leaves memory: orders, trades and ledger entries that became
    final at a seq at or below ``upto_seq``, which the trade store holds
    durably (the venue journals it once the store's position passed it)."""

    TYPE: ClassVar[str] = "evict"
    upto_seq: int


@dataclass(frozen=True, slots=True)
class MarkShipped(_CommandBase):
    """The seller of ``trade_id`` reports it shipped."""

    TYPE: ClassVar[str] = "mark_shipped"
    account_id: str
    trade_id: int


@dataclass(frozen=True, slots=True)
class AuthenticateTrade(_CommandBase):
    """An authenticator passes (delivered) or fails (canceled) a shipped trade."""

    TYPE: ClassVar[str] = "authenticate_trade"
    account_id: str
    trade_id: int
    passed: bool


@dataclass(frozen=True, slots=True)
class AddHolding(_CommandBase):
    """Add an item the collector owns (bought elsewhere) to their portfolio."""

    TYPE: ClassVar[str] = "add_holding"
    account_id: str
    sku: str
    purchase_price_cents: int
    acquired_at: int
    condition: str = "new"


@dataclass(frozen=True, slots=True)
class RemoveHolding(_CommandBase):
    """Remove a hand-added holding."""

    TYPE: ClassVar[str] = "remove_holding"
    account_id: str
    holding_id: int


Command = (
    CreateAccount
    | CreateProduct
    | PlaceOrder
    | CancelOrder
    | AmendOrder
    | Tick
    | MarkShipped
    | AuthenticateTrade
    | AddHolding
    | RemoveHolding
    | Evict
    | CreateApiKey
    | RevokeApiKey
)

COMMAND_TYPES: dict[str, type[_CommandBase]] = {
    cls.TYPE: cls
    for cls in (
        CreateAccount,
        CreateProduct,
        PlaceOrder,
        CancelOrder,
        AmendOrder,
        Tick,
        MarkShipped,
        AuthenticateTrade,
        AddHolding,
        RemoveHolding,
        Evict,
        CreateApiKey,
        RevokeApiKey,
    )
}

_TICK = Tick()


def command_from_dict(data: dict[str, Any]) -> Command:
    """Rebuild a command from its dict; raises KeyError on an unknown ``type``."""
    kind = data["type"]
    if kind == "tick":
        return _TICK
    result: Command = COMMAND_TYPES[kind].from_dict(data)
    return result


def encode_record(ts: int, cmd: Command) -> bytes:
    """The journal payload of one record: orjson of ``{"ts", "cmd"}``."""
    return orjson.dumps({"ts": ts, "cmd": cmd.to_dict()})


def decode_record(payload: bytes | memoryview) -> tuple[int, Command]:
    """Inverse of :func:`encode_record`: ``(ts, command)``."""
    data = orjson.loads(payload)
    return data["ts"], command_from_dict(data["cmd"])
