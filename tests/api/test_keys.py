"""API keys through the REST API: several per account, labels, rotation, revocation."""

from __future__ import annotations

from typing import Any

from exchange.keys import MAX_KEYS_PER_ACCOUNT
from exchange.venue import Venue

from .conftest import Api


async def _account(api: Api, name: str = "Ada") -> tuple[str, str]:
    """A trader: its account id and API key."""
    reply = await api.post("/v1/accounts", json={"name": name})
    assert reply.status == 201, reply.body
    return reply.body["account_id"], reply.body["api_key"]


async def _keys(api: Api, key: str) -> list[dict[str, Any]]:
    reply = await api.get("/v1/keys", key=key)
    assert reply.status == 200, reply.body
    keys: list[dict[str, Any]] = reply.body["keys"]
    return keys


async def _works(api: Api, key: str) -> bool:
    reply = await api.get("/v1/orders", key=key)
    assert reply.status in (200, 401), reply.body
    return reply.status == 200


async def test_rotate_a_key_then_revoke_the_old_one(api: Api) -> None:
    account_id, first = await _account(api)
    [original] = await _keys(api, first)
    assert original == {
        "id": original["id"],
        "account_id": account_id,
        "label": "original",
        "last4": first[-4:],
        "created_at": original["created_at"],
        "current": True,
    }

    made = await api.post("/v1/keys", key=first, json={"label": "  laptop "})
    assert made.status == 201
    second = made.body["api_key"]
    assert second.startswith("rx_") and second != first
    assert made.body["label"] == "laptop" and made.body["last4"] == second[-4:]
    assert made.body["account_id"] == account_id and made.body["id"] != original["id"]
    assert await _works(api, second)

    listed = await _keys(api, second)
    assert [(k["id"], k["label"], k["current"]) for k in listed] == [
        (original["id"], "original", False),
        (made.body["id"], "laptop", True),
    ]
    # Never the key, never its hash.
    for item in listed:
        assert set(item) == {"id", "account_id", "label", "last4", "created_at", "current"}

    gone = await api.delete(f"/v1/keys/{original['id']}", key=second)
    assert gone.status == 204
    refused = await api.get("/v1/orders", key=first)
    assert refused.status == 401 and refused.body["code"] == "unauthorized"
    assert await _works(api, second)
    assert [k["id"] for k in await _keys(api, second)] == [made.body["id"]]
    # Revoked once is gone: a second revocation finds nothing.
    again = await api.delete(f"/v1/keys/{original['id']}", key=second)
    assert again.status == 404 and again.body["code"] == "not_found"


async def test_the_last_key_stays_and_the_current_one_may_go(api: Api) -> None:
    _, first = await _account(api)
    [only] = await _keys(api, first)
    last = await api.delete(f"/v1/keys/{only['id']}", key=first)
    assert last.status == 409 and last.body["code"] == "last_api_key"
    assert await _works(api, first)

    # A body is required; {} is a key without a label.
    empty = await api.call("POST", "/v1/keys", key=first)
    assert empty.status == 400 and empty.body["code"] == "invalid_json"
    made = await api.post("/v1/keys", key=first, json={})
    assert made.status == 201 and made.body["label"] is None
    # The key this very request carries: answered, then refused from the next request on.
    own = await api.delete(f"/v1/keys/{only['id']}", key=first)
    assert own.status == 204
    assert not await _works(api, first)
    assert await _works(api, made.body["api_key"])


async def test_another_accounts_key_is_not_found(api: Api) -> None:
    _, ada = await _account(api, "Ada")
    _, bob = await _account(api, "Bob")
    await api.post("/v1/keys", key=bob, json={})
    bobs = await _keys(api, bob)
    for key_id in (bobs[0]["id"], "key_999", "nonsense"):
        reply = await api.delete(f"/v1/keys/{key_id}", key=ada)
        assert reply.status == 404 and reply.body["code"] == "not_found", key_id
    assert await _works(api, bob)
    # A trader cannot use the admin routes, not even on itself.
    admin_only = [
        await api.delete(f"/v1/admin/keys/{bobs[0]['id']}", key=ada),
        await api.get(f"/v1/admin/accounts/{bobs[0]['account_id']}/keys", key=ada),
    ]
    assert [(r.status, r.body["code"]) for r in admin_only] == [(403, "forbidden")] * 2
    assert await _works(api, bob)
    unauthenticated = await api.get("/v1/keys")
    assert unauthenticated.status == 401


async def test_an_admin_lists_and_revokes_any_accounts_keys(api: Api, venue: Venue) -> None:
    admin = (await venue.create_account("Root", role="admin"))["api_key"]
    bob_id, bob = await _account(api, "Bob")
    listed = await api.get(f"/v1/admin/accounts/{bob_id}/keys", key=admin)
    assert listed.status == 200
    [bobs] = listed.body["keys"]
    assert bobs["account_id"] == bob_id and bobs["current"] is False
    unknown = await api.get("/v1/admin/accounts/acc_999/keys", key=admin)
    assert unknown.status == 404
    # Even an account's last key: that shuts the account out.
    revoked = await api.delete(f"/v1/admin/keys/{bobs['id']}", key=admin)
    assert revoked.status == 204
    assert not await _works(api, bob)
    assert (await api.get(f"/v1/admin/accounts/{bob_id}/keys", key=admin)).body["keys"] == []
    # The admin's own keys follow the owner's rule: not its last one.
    [own] = await _keys(api, admin)
    last = await api.delete(f"/v1/admin/keys/{own['id']}", key=admin)
    assert last.status == 409 and last.body["code"] == "last_api_key"


async def test_labels_and_the_limit_per_account(api: Api) -> None:
    _, key = await _account(api)
    for body, code in [
        ({"label": ""}, "validation_error"),
        ({"label": "x" * 65}, "validation_error"),
        ({"label": "a\nb"}, "validation_error"),
        ({"label": 7}, "validation_error"),
        ({"name": "x"}, "unknown_field"),
    ]:
        reply = await api.post("/v1/keys", key=key, json=body)
        assert (reply.status, reply.body["code"]) == (422, code), body
    for n in range(MAX_KEYS_PER_ACCOUNT - 1):
        assert (await api.post("/v1/keys", key=key, json={"label": f"k{n}"})).status == 201
    full = await api.post("/v1/keys", key=key, json={"label": "one too many"})
    assert full.status == 422 and full.body["code"] == "key_limit"
    assert str(MAX_KEYS_PER_ACCOUNT) in full.body["detail"]
    assert len(await _keys(api, key)) == MAX_KEYS_PER_ACCOUNT
    # Revoking one makes room again.
    spare = (await _keys(api, key))[1]
    assert (await api.delete(f"/v1/keys/{spare['id']}", key=key)).status == 204
    assert (await api.post("/v1/keys", key=key, json={"label": "room"})).status == 201
