"""Journaled commands: values with a type tag, and the record encoding."""

from __future__ import annotations

import typing

import orjson
import pytest

from exchange.catalog import Product
from exchange.commands import (
    COMMAND_TYPES,
    AddHolding,
    AmendOrder,
    AuthenticateTrade,
    CancelOrder,
    Command,
    CreateAccount,
    CreateApiKey,
    CreateProduct,
    Evict,
    MarkShipped,
    PlaceOrder,
    RemoveHolding,
    RevokeApiKey,
    Tick,
    command_from_dict,
    decode_record,
    encode_record,
)

from .conftest import T0, product_cmd

EXAMPLES: list[Command] = [
    CreateAccount("acc_1", "alice", "trader", "ab" * 32),
    product_cmd(),
    PlaceOrder("acc_1", "c-1", "DZ5485-612-10", "bid", "limit", 20_000, 2, "gtc", True, T0 + 1),
    PlaceOrder("acc_1", None, "DZ5485-612-10", "ask", "market", None, 1, "ioc"),
    CancelOrder("acc_1", 7),
    AmendOrder("acc_1", 7, quantity=3),
    AmendOrder("acc_1", 7, price_cents=19_900),
    Tick(),
    MarkShipped("acc_2", 3),
    AuthenticateTrade("acc_3", 3, False),
    AddHolding("acc_1", "DZ5485-612-10", 15_000, T0 - 1, "used"),
    RemoveHolding("acc_1", 4),
    Evict(12),
    CreateAccount("acc_2", "bob", "trader", "cd" * 32, "Ab-9"),
    CreateApiKey("acc_1", "ef" * 32, "laptop", "x_Yz"),
    CreateApiKey("acc_1", "01" * 32, None, "x_Yw"),
    RevokeApiKey("acc_1", "key_2"),
    RevokeApiKey("acc_3", "key_2", as_admin=True),
]


def test_every_command_type_is_registered_once() -> None:
    classes = set(typing.get_args(Command))
    assert set(COMMAND_TYPES.values()) == classes
    assert {cls.TYPE for cls in classes} == set(COMMAND_TYPES)
    assert {type(cmd) for cmd in EXAMPLES} == classes


@pytest.mark.parametrize("cmd", EXAMPLES, ids=lambda c: type(c).__name__)
def test_records_round_trip(cmd: Command) -> None:
    payload = encode_record(T0, cmd)
    assert decode_record(payload) == (T0, cmd)
    assert decode_record(memoryview(payload)) == (T0, cmd)
    data = orjson.loads(payload)
    assert set(data) == {"ts", "cmd"} and data["ts"] == T0
    assert next(iter(data["cmd"])) == "type"  # the tag comes first
    assert data["cmd"]["type"] == type(cmd).TYPE


def test_the_payload_is_the_documented_json() -> None:
    cmd = PlaceOrder("acc_1", None, "DZ5485-612-10", "bid", "limit", 20_000, 2)
    assert orjson.loads(encode_record(T0, cmd)) == {
        "ts": T0,
        "cmd": {
            "type": "place_order",
            "account_id": "acc_1",
            "client_order_id": None,
            "sku": "DZ5485-612-10",
            "side": "bid",
            "order_type": "limit",
            "price_cents": 20_000,
            "quantity": 2,
            "time_in_force": "gtc",
            "post_only": False,
            "expires_at": None,
        },
    }


def test_tuples_travel_as_lists_and_come_back_as_tuples() -> None:
    cmd = product_cmd(sizes=("9", "10"))
    data = cmd.to_dict()
    assert data["sizes"] == ["9", "10"]
    back = command_from_dict(data)
    assert back == cmd and isinstance(back, CreateProduct) and back.sizes == ("9", "10")


def test_missing_optional_fields_take_their_defaults() -> None:
    data = {
        "type": "place_order",
        "account_id": "acc_1",
        "client_order_id": None,
        "sku": "S",
        "side": "bid",
        "order_type": "limit",
        "price_cents": 100,
        "quantity": 1,
    }
    cmd = command_from_dict(data)
    assert cmd == PlaceOrder("acc_1", None, "S", "bid", "limit", 100, 1, "gtc", False, None)
    amend = command_from_dict({"type": "amend_order", "account_id": "a", "order_id": 1})
    assert amend == AmendOrder("a", 1, None, None)


def test_unknown_types_and_missing_fields_are_refused() -> None:
    with pytest.raises(KeyError):
        command_from_dict({"type": "launch_rocket"})
    with pytest.raises(TypeError):
        command_from_dict({"type": "cancel_order", "account_id": "acc_1"})


def test_tick_decodes_to_one_shared_value() -> None:
    assert command_from_dict({"type": "tick"}) is command_from_dict({"type": "tick"})
    assert Tick().to_dict() == {"type": "tick"}


def test_commands_are_frozen_values() -> None:
    cmd = CancelOrder("acc_1", 7)
    with pytest.raises(AttributeError):
        cmd.order_id = 8  # type: ignore[misc]
    assert cmd == CancelOrder("acc_1", 7) and hash(cmd) == hash(CancelOrder("acc_1", 7))


def test_create_product_carries_a_product_field_for_field() -> None:
    product = Product(
        style="DD1391-100",
        name="Nike Dunk Low Panda",
        brand="Nike",
        category="sneakers",
        retail_price_cents=11_000,
        release_date="2021-03-10",
        sizes=("9", "10"),
    )
    cmd = CreateProduct.from_product(product)
    assert cmd.product() == product
    assert cmd.max_price_cents == product.max_price_cents
