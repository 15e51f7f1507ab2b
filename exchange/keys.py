"""API keys: several per account, each with an id and a label, revocable.

CONTRACT

- A key is a 256-bit random value (:func:`exchange.accounts.generate_api_key`)
  shown once, when it is made; the venue keeps and journals only its
  SHA-256 (``key_hash``) and its last four characters (``last4``, so that a
  person can tell their keys apart). The key itself is never stored, logged
  or shown again.
- Ids come from one venue-wide counter: ``key_1``, ``key_2``, ... in the
  order keys are made. An account's first key is the one made with the
  account (:class:`~exchange.commands.CreateAccount`, label
  :data:`ORIGINAL_LABEL`); more come from
  :class:`~exchange.commands.CreateApiKey`. Replaying the journal gives the
  same ids.
- Revoking (:class:`~exchange.commands.RevokeApiKey`) removes the key from
  the registry at once: the next lookup by its hash finds nothing, so the
  next request with it is refused. A revoked key never comes back, also not
  after a restart (the revocation is journaled and the snapshot holds only
  live keys); its id is never reused.
- At most :data:`MAX_KEYS_PER_ACCOUNT` live keys per account.

Who may do what is checked in :class:`exchange.accounts.Accounts` (it owns
this registry and knows the roles); this module is the registry, its
snapshot and the wire shape of a key.

Costs: lookup by hash or id O(1); an account's keys O(keys of the account).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from .clock import rfc3339

__all__ = [
    "LABEL_MAX_LENGTH",
    "MAX_KEYS_PER_ACCOUNT",
    "ORIGINAL_LABEL",
    "ApiKey",
    "ApiKeys",
    "KeyRevoked",
    "key_wire",
    "last4",
]

MAX_KEYS_PER_ACCOUNT = 20
"""Live keys one account may hold; making one more is refused ``key_limit``."""
LABEL_MAX_LENGTH = 64
ORIGINAL_LABEL = "original"
"""The label of the key made with the account."""


def last4(api_key: str) -> str:
    """The last four characters of a key: what may be shown of it later."""
    return api_key[-4:]


@dataclass(slots=True)
class ApiKey:
    """One live key. ``created_at`` in ns; ``last4`` is None for keys made
    before it was journaled (accounts created by an older version)."""

    id: str
    account_id: str
    key_hash: str
    label: str | None
    last4: str | None
    created_at: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able copy (for snapshots; it holds the hash, not for the wire)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ApiKey:
        """The inverse of :meth:`to_dict`."""
        return cls(**{name: data[name] for name in _KEY_FIELDS})


_KEY_FIELDS = tuple(f.name for f in fields(ApiKey))


@dataclass(frozen=True, slots=True)
class KeyRevoked:
    """What listeners of revocations learn once a revocation is durable.

    ``key_hash`` lets a holder of a key (a websocket session) tell whether
    its own key was the one revoked without keeping the key's id.
    """

    key_id: str
    account_id: str
    key_hash: str


def key_wire(key: ApiKey) -> dict[str, Any]:
    """The wire shape of a key: never the key nor its hash."""
    return {
        "id": key.id,
        "account_id": key.account_id,
        "label": key.label,
        "last4": key.last4,
        "created_at": rfc3339(key.created_at),
    }


class ApiKeys:
    """Every live key, by id, by hash and per account (in the order made)."""

    def __init__(self) -> None:
        self._by_id: dict[str, ApiKey] = {}
        self._by_hash: dict[str, ApiKey] = {}
        self._of_account: dict[str, dict[str, ApiKey]] = {}
        self._made = 0

    def next_id(self) -> str:
        """The id the next key gets: ``key_<n>``, n counting from 1 over all keys ever made."""
        return f"key_{self._made + 1}"

    def add(self, key: ApiKey) -> ApiKey:
        """Register a key the engine made (its id from :meth:`next_id`).

        Raises:
            ValueError: for a duplicate id or hash, or an id out of turn (the
                engine assigns both, so this is a bug, not bad input).
        """
        if key.id != self.next_id():
            raise ValueError(f"key id {key.id!r} out of turn (next is {self.next_id()!r})")
        if key.key_hash in self._by_hash:
            raise ValueError("duplicate API key hash")
        self._made += 1
        self._by_id[key.id] = key
        self._by_hash[key.key_hash] = key
        self._of_account.setdefault(key.account_id, {})[key.id] = key
        return key

    def remove(self, key_id: str) -> ApiKey:
        """Revoke a key: it is gone from every lookup (KeyError if unknown)."""
        key = self._by_id.pop(key_id)
        del self._by_hash[key.key_hash]
        own = self._of_account[key.account_id]
        del own[key_id]
        if not own:
            del self._of_account[key.account_id]
        return key

    def by_hash(self, key_hash: str) -> ApiKey | None:
        """The live key with this hash, or None (O(1))."""
        return self._by_hash.get(key_hash)

    def get(self, key_id: object) -> ApiKey | None:
        """The live key with this id, or None."""
        return self._by_id.get(key_id) if isinstance(key_id, str) else None

    def of_account(self, account_id: str) -> list[ApiKey]:
        """The account's live keys, oldest first."""
        return list(self._of_account.get(account_id, {}).values())

    def count(self, account_id: str) -> int:
        """How many live keys the account holds."""
        own = self._of_account.get(account_id)
        return 0 if own is None else len(own)

    def __len__(self) -> int:
        return len(self._by_id)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state: the counter and the live keys in the order made."""
        return {"made": self._made, "keys": [k.to_dict() for k in self._by_id.values()]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ApiKeys:
        """The inverse of :meth:`to_dict`."""
        keys = cls()
        for item in data["keys"]:
            key = ApiKey.from_dict(item)
            keys._made = int(key.id.removeprefix("key_")) - 1
            keys.add(key)
        keys._made = data["made"]
        return keys
