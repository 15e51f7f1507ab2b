"""The venue's API keys: make, revoke, and tell who holds a key that a revocation ended.

(The reads, ``list_keys`` and ``key_id``, are in :mod:`.queries`.)

Making and revoking are journaled commands (:class:`~exchange.commands.CreateApiKey`,
:class:`~exchange.commands.RevokeApiKey`) answered once durable, so a revoked
key stays revoked after a crash. A revocation takes effect when the engine
applies it, before it is durable: from then on :meth:`VenueQueries.authenticate`
no longer knows the key (refusing early is the safe direction; a crash before
the write only means the key was refused a moment too soon).

Sessions that authenticated once and live on (the websocket feed's
authenticated sessions) learn of revocations through :meth:`VenueKeys.on_key_revoked`:
each listener is called on the event loop with a
:class:`~exchange.keys.KeyRevoked` once the revocation is durable. A session
compares ``event.key_hash`` with ``hash_api_key`` of its own key (or simply
asks ``authenticate(its key)`` again) and closes when it is its own. A
session should also re-check ``authenticate`` before acting on a message
(an O(1) lookup), which covers a revocation applied but not yet durable.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from ..accounts import Account
from ..commands import Command, RevokeApiKey
from ..engine import Engine, Outcome
from ..keys import KeyRevoked
from .requests import new_api_key

__all__ = ["KeyListener", "VenueKeys"]

log = logging.getLogger("exchange.venue")

KeyListener = Callable[[KeyRevoked], None]


class VenueKeys:
    """API-key methods of :class:`exchange.service.venue.Venue`."""

    engine: Engine
    _key_listeners: list[KeyListener]

    async def submit(self, cmd: Command, now: int | None = None) -> Outcome:
        raise NotImplementedError

    async def create_key(self, account: Account, label: object = None) -> dict[str, Any]:
        """Give the account one more key; the answer holds it (shown this once).

        Returns:
            ``{"id", "account_id", "label", "last4", "created_at", "api_key"}``.

        Raises:
            ExchangeError: ``validation_error`` for a bad label, ``key_limit``.
        """
        cmd, api_key = new_api_key(account.id, label)
        out = await self.submit(cmd)
        assert out.response is not None
        return {**out.response, "api_key": api_key}

    async def revoke_key(
        self, account: Account, key_id: str, *, as_admin: bool = False
    ) -> dict[str, Any]:
        """Revoke one of the account's keys, or (``as_admin``, an admin) anyone's.

        The key is refused from the moment the engine applies the command;
        the answer (the key as it was) comes once that is durable, and then
        every :meth:`on_key_revoked` listener hears of it.

        Raises:
            ExchangeError: ``not_found``, ``forbidden``, ``last_api_key``
                (:meth:`exchange.accounts.Accounts.check_revoke`).
        """
        key = self.engine.accounts.keys.get(key_id)
        # submit() validates before its first await: the key read here is
        # the one the command revokes (or the command is refused).
        out = await self.submit(RevokeApiKey(account.id, key_id, as_admin))
        assert out.response is not None and key is not None
        event = KeyRevoked(key.id, key.account_id, key.key_hash)
        for listener in list(self._key_listeners):
            try:
                listener(event)
            except Exception:
                log.exception("venue: key revocation listener %r failed", listener)
        return out.response

    def on_key_revoked(self, listener: KeyListener) -> None:
        """Call ``listener(KeyRevoked)`` on the loop after each durable revocation."""
        self._key_listeners.append(listener)

    def off_key_revoked(self, listener: KeyListener) -> None:
        """Stop calling ``listener``; a no-op if it was not registered."""
        with contextlib.suppress(ValueError):
            self._key_listeners.remove(listener)
