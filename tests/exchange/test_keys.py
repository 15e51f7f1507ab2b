"""API keys in the engine and the venue: journaled, replayed, in the snapshot, revoked for good."""

from __future__ import annotations

import contextlib
import random
from pathlib import Path

import pytest

from exchange.accounts import hash_api_key
from exchange.commands import CreateApiKey, RevokeApiKey, decode_record
from exchange.engine import Engine
from exchange.errors import ExchangeError
from exchange.keys import MAX_KEYS_PER_ACCOUNT, ApiKey, ApiKeys, KeyRevoked
from exchange.venue import Venue, VenueConfig

from .conftest import Driver


def _key(d: Driver, account_id: str, secret: str, label: str | None = None) -> str:
    """Make a key for ``account_id``; returns its id."""
    out = d.run(CreateApiKey(account_id, hash_api_key(secret), label, secret[-4:]))
    assert out.status == 201 and out.response is not None
    key_id: str = out.response["id"]
    return key_id


def _refused(d: Driver, cmd: RevokeApiKey | CreateApiKey) -> str:
    seq = d.seq
    with pytest.raises(ExchangeError) as exc:
        d.run(cmd)
    assert d.seq == seq  # nothing journaled
    return exc.value.code


def test_registry_ids_lookups_and_snapshot() -> None:
    keys = ApiKeys()
    assert keys.next_id() == "key_1"
    keys.add(ApiKey("key_1", "acc_1", "a" * 64, "original", "Ab12", 1))
    keys.add(ApiKey("key_2", "acc_1", "b" * 64, None, "Cd34", 2))
    keys.add(ApiKey("key_3", "acc_2", "c" * 64, "ci", "Ef56", 3))
    with pytest.raises(ValueError):
        keys.add(ApiKey("key_9", "acc_1", "d" * 64, None, None, 4))  # out of turn
    with pytest.raises(ValueError):
        keys.add(ApiKey("key_4", "acc_1", "a" * 64, None, None, 4))  # same hash
    assert keys.remove("key_1").key_hash == "a" * 64
    assert keys.by_hash("a" * 64) is None and keys.get("key_1") is None
    assert [k.id for k in keys.of_account("acc_1")] == ["key_2"]
    assert keys.count("acc_2") == 1 and keys.next_id() == "key_4"  # ids are never reused
    restored = ApiKeys.from_dict(keys.to_dict())
    assert restored.to_dict() == keys.to_dict() and restored.next_id() == "key_4"
    assert restored.by_hash("c" * 64) == keys.by_hash("c" * 64)


def test_make_and_revoke_keys_by_the_rules() -> None:
    d = Driver()
    ada = d.account("Ada")
    bob = d.account("Bob")
    root = d.account("Root", role="admin")
    accounts = d.engine.accounts
    assert [k.id for k in accounts.keys.of_account(ada)] == ["key_1"]
    laptop = _key(d, ada, "rx_laptop", "laptop")
    assert accounts.by_key("rx_laptop") is accounts.get(ada)
    assert accounts.by_key(f"key-{ada}") is accounts.get(ada)  # the original still works

    # Another's key, an unknown one, a forged admin flag, one's own last key.
    assert _refused(d, RevokeApiKey(bob, laptop)) == "not_found"
    assert _refused(d, RevokeApiKey(bob, "key_99")) == "not_found"
    assert _refused(d, RevokeApiKey(bob, laptop, as_admin=True)) == "forbidden"
    assert _refused(d, RevokeApiKey(bob, "key_2")) == "last_api_key"
    assert _refused(d, RevokeApiKey("acc_99", laptop)) == "unauthorized"
    assert _refused(d, CreateApiKey(ada, hash_api_key("rx_laptop"), None, "ptop")) == (
        "validation_error"  # a hash in use
    )
    assert _refused(d, CreateApiKey(ada, "nothex", None, "x")) == "validation_error"
    assert _refused(d, CreateApiKey(ada, hash_api_key("rx_x"), "a\x00", "x")) == (
        "validation_error"
    )

    out = d.run(RevokeApiKey(ada, "key_1"))
    assert out.response is not None and out.response["id"] == "key_1"
    assert accounts.by_key(f"key-{ada}") is None
    assert accounts.by_key("rx_laptop") is accounts.get(ada)
    # An admin revokes another account's last key: the account is shut out.
    d.run(RevokeApiKey(root, "key_2", as_admin=True))
    assert accounts.by_key(f"key-{bob}") is None and accounts.keys.count(bob) == 0


def test_at_most_so_many_keys_per_account() -> None:
    d = Driver()
    ada = d.account("Ada")
    for n in range(MAX_KEYS_PER_ACCOUNT - 1):
        _key(d, ada, f"rx_{n}")
    assert _refused(d, CreateApiKey(ada, hash_api_key("rx_more"), None, "more")) == "key_limit"
    d.engine.accounts.max_keys = MAX_KEYS_PER_ACCOUNT + 1  # a setting, not state
    _key(d, ada, "rx_more")


def test_replay_and_snapshot_give_the_same_keys_byte_for_byte() -> None:
    rng = random.Random(20)
    d = Driver()
    accounts = [d.account(f"t{i}") for i in range(4)]
    admin = d.account("root", role="admin")
    secrets: dict[str, str] = {}
    snapshots: list[bytes] = []
    for step in range(300):
        who = rng.choice(accounts)
        live = d.engine.accounts.keys.of_account(who)
        if rng.random() < 0.55:
            secret = f"rx_{step}"
            with contextlib.suppress(ExchangeError):  # at the limit
                secrets[_key(d, who, secret, rng.choice([None, f"k{step}"]))] = secret
        elif live:
            actor, as_admin = (admin, True) if rng.random() < 0.2 else (who, False)
            try:
                d.run(RevokeApiKey(actor, rng.choice(live).id, as_admin))
            except ExchangeError as exc:
                assert exc.code == "last_api_key"
        if step % 50 == 0:
            snapshots.append(d.engine.snapshot_bytes())
    live_bytes = d.engine.snapshot_bytes()

    fresh = Engine()
    for seq, payload in d.journal:
        ts, cmd = decode_record(payload)
        fresh.apply(seq, ts, cmd)
    assert fresh.snapshot_bytes() == live_bytes
    assert Engine.restore_bytes(live_bytes).snapshot_bytes() == live_bytes
    for data in snapshots:  # a snapshot taken earlier, plus the rest of the journal
        engine = Engine.restore_bytes(data)
        for seq, payload in d.journal:
            if seq > engine.last_seq:
                ts, cmd = decode_record(payload)
                engine.apply(seq, ts, cmd)
        assert engine.snapshot_bytes() == live_bytes
    restored = Engine.restore_bytes(live_bytes).accounts
    for key_id, secret in secrets.items():
        live_key = d.engine.accounts.keys.get(key_id)
        assert (restored.by_key(secret) is None) == (live_key is None)


def test_a_snapshot_from_before_keys_gives_each_account_its_key() -> None:
    d = Driver()
    ada = d.account("Ada")
    bob = d.account("Bob")
    data = d.engine.snapshot()
    del data["accounts"]["keys"]  # as an older version wrote it
    accounts = Engine.restore(data).accounts
    assert [(k.id, k.account_id, k.label) for k in accounts.keys.of_account(ada)] == [
        ("key_1", ada, "original")
    ]
    assert accounts.by_key(f"key-{bob}") is accounts.get(bob)
    assert accounts.keys.next_id() == "key_3"


async def test_the_venue_journals_revocations_and_tells_listeners(tmp_path: Path) -> None:
    cfg = VenueConfig(data_dir=tmp_path / "data", fsync=False, store=False)
    venue = await Venue.open(cfg)
    heard: list[KeyRevoked] = []
    venue.on_key_revoked(heard.append)
    try:
        created = await venue.create_account("Ada")
        ada = venue.authenticate(created["api_key"])
        assert ada is not None
        made = await venue.create_key(ada, "laptop")
        assert venue.key_id(made["api_key"]) == made["id"]
        [original, _] = venue.list_keys(ada)
        answer = await venue.revoke_key(ada, original["id"])
        assert answer["id"] == original["id"]
        assert heard == [KeyRevoked(original["id"], ada.id, hash_api_key(created["api_key"]))]
        assert venue.authenticate(created["api_key"]) is None
        venue.off_key_revoked(heard.append)
    finally:
        await venue.close()
    # Reopened (snapshot and journal): still revoked.
    venue = await Venue.open(cfg)
    try:
        assert venue.authenticate(created["api_key"]) is None
        assert venue.authenticate(made["api_key"]) is not None
        assert heard and len(heard) == 1
    finally:
        await venue.close()
