"""API key endpoints: make, list and revoke the caller's keys; an admin's for any account.

- ``POST /v1/keys`` ``{"label"?}`` (``{}`` for none) -> 201 the key's record plus ``api_key``
  (shown this once);
- ``GET /v1/keys`` -> ``{"keys": [...]}``, oldest first, the key of this
  request marked ``current``; never a key or its hash, only ``last4``;
- ``DELETE /v1/keys/{key_id}`` -> 204; another account's key is 404, the
  caller's own last key 409 ``last_api_key``. Revoking the key the request
  itself carries is allowed: it is answered 204 and refused from the next
  request on;
- ``GET /v1/admin/accounts/{account_id}/keys``, ``DELETE /v1/admin/keys/{key_id}``:
  the same for any account, admin only (403 ``forbidden`` otherwise).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .context import account_of, json_response, venue_of
from .middleware import bearer_key
from .requests import KeyRequest, parse_body, read_json

__all__ = ["admin_list_keys", "admin_revoke_key", "create_key", "list_keys", "revoke_key"]


async def create_key(request: web.Request) -> web.Response:
    """One more key for the caller's account (``{}``: without a label)."""
    body = parse_body(KeyRequest, await read_json(request))
    created = await venue_of(request).create_key(account_of(request), body.label)
    return json_response(created, status=201)


def _listing(request: web.Request, owner_id: str | None) -> web.Response:
    venue = venue_of(request)
    keys = venue.list_keys(account_of(request), owner_id)
    key = bearer_key(request)
    current = None if key is None else venue.key_id(key)
    listed: list[dict[str, Any]] = [{**k, "current": k["id"] == current} for k in keys]
    return json_response({"keys": listed})


async def list_keys(request: web.Request) -> web.Response:
    """The caller's live keys, oldest first."""
    return _listing(request, None)


async def revoke_key(request: web.Request) -> web.Response:
    """Revoke one of the caller's keys (possibly the one this request carries)."""
    await venue_of(request).revoke_key(account_of(request), request.match_info["key_id"])
    return web.Response(status=204)


async def admin_list_keys(request: web.Request) -> web.Response:
    """An account's live keys (admin)."""
    return _listing(request, request.match_info["account_id"])


async def admin_revoke_key(request: web.Request) -> web.Response:
    """Revoke any account's key (admin)."""
    await venue_of(request).revoke_key(
        account_of(request), request.match_info["key_id"], as_admin=True
    )
    return web.Response(status=204)
