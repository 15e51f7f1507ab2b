"""Accounts, roles and API keys.

An API key is shown once, at creation; only its SHA-256 hash is kept, and a
key is looked up by hashing it and reading a dict (O(1)). Key generation is
the one random step: :func:`generate_api_key` runs OUTSIDE the engine (in the
venue, before journaling), and the journaled command carries the account id
and the key's hash, so replaying the journal gives the same accounts. Account
ids are assigned by the engine from a counter (``acc_1``, ``acc_2``, ...;
:meth:`Accounts.next_id`).

An account holds one or more keys (:mod:`exchange.keys`): the one made with
it, and more it makes itself; it revokes its own, an admin any. The rules of
who may make and revoke which key are here (:meth:`Accounts.check_new_key`,
:meth:`Accounts.check_revoke`), the registry in :class:`exchange.keys.ApiKeys`.
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

from .errors import ExchangeError
from .keys import LABEL_MAX_LENGTH, MAX_KEYS_PER_ACCOUNT, ORIGINAL_LABEL, ApiKey, ApiKeys

__all__ = [
    "API_KEY_PREFIX",
    "NAME_PATTERN",
    "Account",
    "Accounts",
    "Role",
    "generate_api_key",
    "hash_api_key",
    "parse_role",
    "validate_name",
    "validate_text",
]

API_KEY_PREFIX = "rx_"
NAME_MAX_LENGTH = 100
# A name's characters: no control or invisible formatting character (a newline
# would forge lines in logs and CLI output, a bidi override would disguise the
# name) and at least one that is not a space. A regular expression, so that
# the API's document states the very rule (api/requests.py).
_NAME_HIDDEN = r"\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff"
_NAME_SPACES = r"\x20\xa0\u1680\u2000-\u200a\u202f\u205f\u3000"
NAME_PATTERN = rf"^[^{_NAME_HIDDEN}]*[^{_NAME_HIDDEN}{_NAME_SPACES}][^{_NAME_HIDDEN}]*$"


class Role(enum.StrEnum):
    """What an account may do: trade; also authenticate trades; or administer."""

    TRADER = "trader"
    AUTHENTICATOR = "authenticator"
    ADMIN = "admin"


@dataclass(slots=True)
class Account:
    """One account. ``key_hash`` is :func:`hash_api_key` of the key it was
    created with (which may since have been revoked: :attr:`Accounts.keys`
    holds the live ones).

    ``created_at`` is in ns since the epoch (the journaled command's time).
    """

    id: str
    name: str
    role: Role
    key_hash: str
    created_at: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able copy (for snapshots; it holds the key hash, not for the wire)."""
        return {
            "id": self.id,
            "name": self.name,
            "role": str(self.role),
            "key_hash": self.key_hash,
            "created_at": self.created_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Account:
        """The inverse of :meth:`to_dict`."""
        return cls(
            id=data["id"],
            name=data["name"],
            role=Role(data["role"]),
            key_hash=data["key_hash"],
            created_at=data["created_at"],
        )


def generate_api_key() -> str:
    """A new random API key: ``rx_`` and 43 URL-safe characters (256 bits)."""
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(api_key: str) -> str:
    """The SHA-256 hex digest of ``api_key``: what is stored and journaled."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def validate_name(name: object) -> str:
    """Return ``name`` stripped, or raise if it is not a usable account name.

    Raises:
        ExchangeError: ``validation_error`` unless ``name`` is a string of 1
            to 100 characters after stripping surrounding whitespace, matching
            :data:`NAME_PATTERN`.
    """
    return validate_text(name, "name", NAME_MAX_LENGTH)


def validate_text(value: object, field: str, max_length: int) -> str:
    """Return ``value`` stripped, or raise if it is not a usable display text.

    The rule of account names (:data:`NAME_PATTERN`), for any field (an API
    key's label uses it too).

    Raises:
        ExchangeError: ``validation_error`` naming ``field`` unless ``value``
            is a string of 1 to ``max_length`` characters after stripping
            surrounding whitespace, with no control or invisible character.
    """
    if not isinstance(value, str):
        raise ExchangeError("validation_error", f"{field} must be a string.")
    stripped = value.strip()
    if not stripped:
        raise ExchangeError("validation_error", f"{field} must not be empty.")
    if len(stripped) > max_length:
        raise ExchangeError(
            "validation_error", f"{field} must be at most {max_length} characters long."
        )
    if re.fullmatch(NAME_PATTERN, value) is None:
        raise ExchangeError("validation_error", f"{field} must not contain control characters.")
    return stripped


def parse_role(role: object) -> Role:
    """Return the :class:`Role` named by ``role``.

    Raises:
        ExchangeError: ``validation_error`` for anything but ``trader``,
            ``authenticator`` or ``admin``.
    """
    if isinstance(role, str):
        try:
            return Role(role)
        except ValueError:
            pass
    raise ExchangeError(
        "validation_error", "role must be one of 'trader', 'authenticator' or 'admin'."
    )


class Accounts:
    """Every account, by id, in creation order, and their live API keys.

    Attributes:
        keys: the live keys of every account (:class:`exchange.keys.ApiKeys`).
        max_keys: live keys per account, checked when making one (a setting,
            not state: never applied in replay).
    """

    def __init__(self) -> None:
        self._by_id: dict[str, Account] = {}
        self.keys = ApiKeys()
        self.max_keys = MAX_KEYS_PER_ACCOUNT

    def next_id(self) -> str:
        """The id the next account gets: ``acc_<n>``, n counting from 1."""
        return f"acc_{len(self._by_id) + 1}"

    def add(
        self, account: Account, last4: str | None = None, *, with_key: bool = True
    ) -> Account:
        """Add an account built by the engine from its journaled command.

        The name is validated and stored stripped. Its key becomes its first
        live key (label :data:`~exchange.keys.ORIGINAL_LABEL`) unless
        ``with_key`` is False (a snapshot restores the keys on their own).

        Raises:
            ExchangeError: ``validation_error`` for a bad name or role.
            ValueError: for a duplicate id or key hash (the engine assigns
                both, so a duplicate is a bug, not bad input).
        """
        account.name = validate_name(account.name)
        account.role = parse_role(account.role)
        if account.id in self._by_id:
            raise ValueError(f"duplicate account id {account.id!r}")
        if with_key:
            if self.keys.by_hash(account.key_hash) is not None:
                raise ValueError("duplicate API key hash")
            self.keys.add(
                ApiKey(
                    self.keys.next_id(),
                    account.id,
                    account.key_hash,
                    ORIGINAL_LABEL,
                    last4,
                    account.created_at,
                )
            )
        self._by_id[account.id] = account
        return account

    def by_key(self, api_key: str) -> Account | None:
        """The account whose live API key is ``api_key``, or None (O(1))."""
        return self.by_key_hash(hash_api_key(api_key))

    def by_key_hash(self, key_hash: str) -> Account | None:
        """The account whose live key hashes to ``key_hash``, or None."""
        key = self.keys.by_hash(key_hash)
        return None if key is None else self._by_id.get(key.account_id)

    def get(self, account_id: str) -> Account | None:
        """The account with this id, or None."""
        return self._by_id.get(account_id)

    def __contains__(self, account_id: object) -> bool:
        return account_id in self._by_id

    def __len__(self) -> int:
        return len(self._by_id)

    def all(self) -> list[Account]:
        """Every account in creation order."""
        return list(self._by_id.values())

    # ---------------------------------------------------------------- keys

    def check_new_key(self, account_id: str, key_hash: object, label: object) -> None:
        """Whether ``account_id`` may make a key with this hash and label; changes nothing.

        Raises:
            ExchangeError: ``unauthorized`` for an unknown account,
                ``validation_error`` for a bad hash or label, ``key_limit``
                when the account holds :attr:`max_keys` live keys.
        """
        if account_id not in self._by_id:
            raise ExchangeError("unauthorized", "Unknown account.")
        if not isinstance(key_hash, str) or re.fullmatch("[0-9a-f]{64}", key_hash) is None:
            raise ExchangeError("validation_error", "key_hash must be a sha256 hex digest.")
        if self.keys.by_hash(key_hash) is not None:
            raise ExchangeError("validation_error", "That API key is already in use.")
        if label is not None:
            validate_text(label, "label", LABEL_MAX_LENGTH)
        if self.keys.count(account_id) >= self.max_keys:
            raise ExchangeError(
                "key_limit",
                f"An account may hold at most {self.max_keys} API keys; "
                "revoke one before making another.",
            )

    def check_revoke(self, actor_id: str, key_id: object, as_admin: bool) -> ApiKey:
        """The key ``actor_id`` may revoke as ``key_id``; changes nothing.

        An account revokes its own keys; with ``as_admin`` an admin revokes
        any account's. Nobody revokes their own last key (they would lock
        themselves out); an admin may revoke another account's last one,
        which shuts that account out.

        Raises:
            ExchangeError: ``unauthorized`` for an unknown actor,
                ``forbidden`` for ``as_admin`` without the admin role,
                ``not_found`` for a key that is not live or (without
                ``as_admin``) not the actor's, ``last_api_key`` for the
                actor's own last key.
        """
        actor = self._by_id.get(actor_id)
        if actor is None:
            raise ExchangeError("unauthorized", "Unknown account.")
        if as_admin and actor.role is not Role.ADMIN:
            raise ExchangeError("forbidden", "Only an admin may revoke another account's keys.")
        key = self.keys.get(key_id)
        if key is None or (not as_admin and key.account_id != actor_id):
            raise ExchangeError("not_found", f"You have no API key {key_id}.")
        if key.account_id == actor_id and self.keys.count(actor_id) == 1:
            raise ExchangeError(
                "last_api_key",
                "This is the account's last API key; make another before revoking it.",
            )
        return key

    # ------------------------------------------------------------ snapshot

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state: the accounts in creation order and the live keys."""
        return {
            "accounts": [a.to_dict() for a in self._by_id.values()],
            "keys": self.keys.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Accounts:
        """The inverse of :meth:`to_dict`.

        A snapshot from before keys could be revoked (no ``keys``) gives each
        account its creation key as its one live key, ids in account order,
        as replaying its journal would.
        """
        accounts = cls()
        keys = data.get("keys")
        for item in data["accounts"]:
            accounts.add(Account.from_dict(item), with_key=keys is None)
        if keys is not None:
            accounts.keys = ApiKeys.from_dict(keys)
        return accounts
