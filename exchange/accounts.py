"""Accounts, roles and API keys.

An API key is shown once, at creation; only its SHA-256 hash is kept, and a
key is looked up by hashing it and reading a dict (O(1)). Key generation is
the one random step: :func:`generate_api_key` runs OUTSIDE the engine (in the
venue, before journaling), and the journaled command carries the account id
and the key's hash, so replaying the journal gives the same accounts. Account
ids are assigned by the engine from a counter (``acc_1``, ``acc_2``, ...;
:meth:`Accounts.next_id`).
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

from .errors import ExchangeError

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
    """One account. ``key_hash`` is :func:`hash_api_key` of its API key.

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
    if not isinstance(name, str):
        raise ExchangeError("validation_error", "name must be a string.")
    stripped = name.strip()
    if not stripped:
        raise ExchangeError("validation_error", "name must not be empty.")
    if len(stripped) > NAME_MAX_LENGTH:
        raise ExchangeError(
            "validation_error", f"name must be at most {NAME_MAX_LENGTH} characters long."
        )
    if re.fullmatch(NAME_PATTERN, name) is None:
        raise ExchangeError("validation_error", "name must not contain control characters.")
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
    """Every account, by id and by key hash, in creation order."""

    def __init__(self) -> None:
        self._by_id: dict[str, Account] = {}
        self._by_hash: dict[str, Account] = {}

    def next_id(self) -> str:
        """The id the next account gets: ``acc_<n>``, n counting from 1."""
        return f"acc_{len(self._by_id) + 1}"

    def add(self, account: Account) -> Account:
        """Add an account built by the engine from its journaled command.

        The name is validated and stored stripped.

        Raises:
            ExchangeError: ``validation_error`` for a bad name or role.
            ValueError: for a duplicate id or key hash (the engine assigns
                both, so a duplicate is a bug, not bad input).
        """
        account.name = validate_name(account.name)
        account.role = parse_role(account.role)
        if account.id in self._by_id:
            raise ValueError(f"duplicate account id {account.id!r}")
        if account.key_hash in self._by_hash:
            raise ValueError("duplicate API key hash")
        self._by_id[account.id] = account
        self._by_hash[account.key_hash] = account
        return account

    def by_key(self, api_key: str) -> Account | None:
        """The account whose API key is ``api_key``, or None (O(1))."""
        return self._by_hash.get(hash_api_key(api_key))

    def by_key_hash(self, key_hash: str) -> Account | None:
        """The account whose key hashes to ``key_hash``, or None."""
        return self._by_hash.get(key_hash)

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

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state: the accounts in creation order."""
        return {"accounts": [a.to_dict() for a in self._by_id.values()]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Accounts:
        """The inverse of :meth:`to_dict`."""
        accounts = cls()
        for item in data["accounts"]:
            accounts.add(Account.from_dict(item))
        return accounts
