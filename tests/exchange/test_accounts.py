"""Accounts: keys, hashes, roles, names, lookups and snapshots."""

from __future__ import annotations

import hashlib

import pytest

from exchange.accounts import (
    Account,
    Accounts,
    Role,
    generate_api_key,
    hash_api_key,
    parse_role,
    validate_name,
)
from exchange.errors import ExchangeError


def make_account(n: int, name: str = "Ada", role: Role = Role.TRADER) -> tuple[Account, str]:
    key = f"rx_test_key_{n}"
    return Account(
        f"acc_{n}", name, role, hash_api_key(key), created_at=1_700_000_000_000_000_000 + n
    ), key


def test_generated_keys_are_prefixed_random_and_url_safe() -> None:
    keys = {generate_api_key() for _ in range(100)}
    assert len(keys) == 100
    for key in keys:
        assert key.startswith("rx_") and len(key) == 3 + 43
        assert all(c.isalnum() or c in "-_" for c in key[3:])


def test_hash_is_sha256_hex() -> None:
    assert (
        hash_api_key("rx_abc")
        == hashlib.sha256(b"rx_abc").hexdigest()
        == ("88dc4d23e0ce825b7c182f74b2a061134bb630b35f22e65d7c9ab31568cf4dbc")
    )
    assert len(hash_api_key("rx_abc")) == 64 and hash_api_key("rx_abc") != hash_api_key("rx_abd")


def test_add_and_look_up_by_key_and_id() -> None:
    accounts = Accounts()
    assert accounts.next_id() == "acc_1"
    ada, ada_key = make_account(1)
    bob, bob_key = make_account(2, "Bob", Role.AUTHENTICATOR)
    accounts.add(ada)
    assert accounts.next_id() == "acc_2"
    accounts.add(bob)
    assert len(accounts) == 2
    assert accounts.by_key(ada_key) is ada
    assert accounts.by_key(bob_key) is bob
    assert accounts.by_key("rx_unknown") is None
    assert accounts.by_key_hash(hash_api_key(bob_key)) is bob
    assert accounts.get("acc_2") is bob and accounts.get("acc_3") is None
    assert "acc_1" in accounts and "acc_3" not in accounts
    assert accounts.all() == [ada, bob]


def test_names_are_validated_and_stripped() -> None:
    assert validate_name("  Ada Lovelace ") == "Ada Lovelace"
    assert validate_name("x" * 100) == "x" * 100
    assert validate_name("Zoë Ünal-Smith 山田") == "Zoë Ünal-Smith 山田"
    for bad in ["", "   ", "x" * 101, None, 42, "Ada\naccount_id: acc_1", "A\x00"]:
        with pytest.raises(ExchangeError) as exc:
            validate_name(bad)
        assert exc.value.code == "validation_error" and "name" in exc.value.message
    accounts = Accounts()
    account, _ = make_account(1, name=" Ada ")
    assert accounts.add(account).name == "Ada"
    blank, _ = make_account(2, name=" ")
    with pytest.raises(ExchangeError):
        accounts.add(blank)
    assert len(accounts) == 1 and accounts.next_id() == "acc_2"


def test_roles() -> None:
    assert [str(r) for r in Role] == ["trader", "authenticator", "admin"]
    assert parse_role("admin") is Role.ADMIN
    for bad in ["root", "", None, 1]:
        with pytest.raises(ExchangeError) as exc:
            parse_role(bad)
        assert exc.value.code == "validation_error"
    accounts = Accounts()
    account, _ = make_account(1)
    account.role = "authenticator"  # type: ignore[assignment]  # as decoded from JSON
    assert accounts.add(account).role is Role.AUTHENTICATOR


def test_duplicate_id_or_key_is_a_bug() -> None:
    accounts = Accounts()
    ada, _ = make_account(1)
    accounts.add(ada)
    twin, _ = make_account(2)
    twin.id = "acc_1"
    with pytest.raises(ValueError):
        accounts.add(twin)
    same_key, _ = make_account(1)
    same_key.id = "acc_2"
    with pytest.raises(ValueError):
        accounts.add(same_key)
    assert len(accounts) == 1


def test_snapshot_round_trip() -> None:
    accounts = Accounts()
    for n, role in enumerate(Role, start=1):
        accounts.add(make_account(n, f"user {n}", role)[0])
    data = accounts.to_dict()
    assert data["accounts"][2] == {
        "id": "acc_3",
        "name": "user 3",
        "role": "admin",
        "key_hash": hash_api_key("rx_test_key_3"),
        "created_at": 1_700_000_000_000_000_003,
    }
    restored = Accounts.from_dict(data)
    assert restored.to_dict() == data
    assert restored.by_key("rx_test_key_2") == accounts.by_key("rx_test_key_2")
    assert restored.next_id() == "acc_4"
