"""Authenticated sessions on the feed: the private stream and order entry.

A connection authenticates once with a message (the key never goes in the
URL, so it stays out of access logs)::

    {"type": "auth", "api_key": KEY, "req_id": 1}
    -> {"type": "authenticated", "account_id": "...", "req_id": 1}
    -> or {"type": "error", "code": "unauthorized", ...} (nothing changes)

Then, on the same connection:

- ``subscribe`` / ``unsubscribe`` with ``channels`` ``["orders"]``,
  ``["account"]`` or both (no ``skus``; market-data channels go in a message
  of their own), answered with ``subscriptions``. ``orders`` carries every
  change of the account's orders (``order`` messages, the order in the REST
  shape); each (re)subscribe to it starts with a ``snapshot`` of the open
  orders. ``account`` carries ``fill`` (a trade of the account at its match,
  with its fees), ``settlement`` (a later change of such a trade) and
  ``ledger`` (an entry of its ledger).
- order entry: ``place``, ``place_batch``, ``cancel``, ``amend``, each with a
  ``req_id``, answered ``{"type": "result", "req_id", "status", "body"}``
  where ``status`` and ``body`` are what the REST endpoint answers
  (:mod:`exchange.orderentry` serves both), once the command is durable;
  ``retry_after`` (seconds) is added to a 429 or 503. Requests of one
  session run concurrently (answers may come in any order; match them by
  ``req_id``); at most ``max_in_flight`` are open at once, beyond that the
  server stops reading the connection until one is answered.

Sequencing: one ``sequence`` per account, rising by one for every message of
either private channel (counted by this feed server from the account's
first session on); each message carries ``prev_sequence``, the sequence of the
account's previous message of the same channel. The ``snapshot`` carries the
sequence it is current as of: the first ``order`` after it has
``prev_sequence <=`` it, every later one ``prev_sequence ==`` the last seen.
A client that sees a gap resubscribes ``orders`` and gets a fresh snapshot.

The snapshot is exactly as of a released point of the stream: the venue's
open orders are read as of the last command applied (which may not be
durable yet); until that command is released, the session's ``order``
messages of commands up to it are left out (the snapshot reflects them) and
the snapshot waits, so no message is both in the snapshot and after it.

Isolation: a message of one account is queued only on the sessions of that
account. Keys: each order-entry message looks its session's key up again
(one hash lookup); a key that no longer authenticates (revoked) ends the
session with an ``error`` ``unauthorized`` and close code 1008; the
venue's revocation event (:meth:`~exchange.venueapi.AccountSource.on_key_revoked`)
ends every session of a revoked key at once, idle ones too, and
:meth:`PrivateStreams.revalidate` (the server calls it four times per
heartbeat interval) is the backstop. Order entry takes one token per order
from the same per-key rate limiter as REST when the server is given it.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from exchange import orderentry
from exchange.accountfeed import AccountBatch, AccountEvent, EventKind
from exchange.accounts import Account, hash_api_key
from exchange.bodies import check_path_id
from exchange.errors import ExchangeError
from exchange.keys import KeyRevoked
from exchange.problems import problem_body, problem_from_error, retry_sentence
from exchange.venueapi import AccountSource
from exchange.wire import stored_ledger_wire, stored_order_wire, stored_trade_view

from .protocol import encode, error_message

__all__ = [
    "ORDER_ENTRY_TYPES",
    "PRIVATE_CHANNELS",
    "Limiter",
    "PrivateChannel",
    "PrivateStreams",
    "Session",
    "SessionError",
    "private_subscriptions",
]

log = logging.getLogger(__name__)


class PrivateChannel(enum.StrEnum):
    """The channels of an authenticated session."""

    ORDERS = "orders"
    ACCOUNT = "account"


PRIVATE_CHANNELS = frozenset(str(c) for c in PrivateChannel)
ORDER_ENTRY_TYPES = frozenset({"place", "place_batch", "cancel", "amend"})


class SessionError(enum.StrEnum):
    """Stable ``code`` of an ``error`` about a session (beside the feed's own codes)."""

    UNAUTHORIZED = "unauthorized"
    AUTH_REQUIRED = "auth_required"
    ALREADY_AUTHENTICATED = "already_authenticated"
    PRIVATE_UNAVAILABLE = "private_unavailable"
    INVALID_MESSAGE = "invalid_message"


class Limiter(Protocol):
    """A per-key rate limiter (the REST API's): None when allowed, else Retry-After."""

    def check(self, key: str, cost: float = 1.0) -> int | None:
        """Take ``cost`` tokens for ``key``."""
        ...


Push = Callable[[Any, bytes], None]
"""Queue an encoded message on a connection (the server's ``_Client``)."""
Close = Callable[[Any, int, str], None]
"""Close a connection with a code and a reason."""

_CHANNEL_OF = {
    EventKind.ORDER: PrivateChannel.ORDERS,
    EventKind.FILL: PrivateChannel.ACCOUNT,
    EventKind.SETTLEMENT: PrivateChannel.ACCOUNT,
    EventKind.LEDGER: PrivateChannel.ACCOUNT,
}
_MAX_FAILED_AUTHS = 5


@dataclass(eq=False, slots=True)
class Session:
    """One connection's authenticated session.

    Attributes:
        client: the server's connection object (what :data:`Push` takes).
        account: the account the key authenticated.
        api_key: the key, kept to look it up again (revocation).
        channels: the private channels subscribed.
        pending: a snapshot waiting for its seq to be released:
            ``(applied seq, open orders)``.
        in_flight: order-entry requests not yet answered.
        room: set while ``in_flight`` is below the limit.
    """

    client: Any
    account: Account
    api_key: str
    channels: set[PrivateChannel] = field(default_factory=set)
    pending: tuple[int, list[dict[str, Any]]] | None = None
    in_flight: int = 0
    room: asyncio.Event = field(default_factory=asyncio.Event)
    ended: bool = False


class _Stream:
    """One account's sequence and its sessions."""

    __slots__ = ("last", "sequence", "sessions")

    def __init__(self) -> None:
        self.sequence = 0
        self.last: dict[PrivateChannel, int] = {c: 0 for c in PrivateChannel}
        self.sessions: set[Session] = set()


class _Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class PrivateStreams:
    """Every authenticated session of one feed server, and the accounts' streams.

    Args:
        source: the venue's account side (None: no sessions; ``auth`` is
            refused with ``private_unavailable``).
        push: queues an encoded message on a connection.
        close: closes a connection (code, reason).
        limiter: the per-key rate limiter shared with REST (None: unlimited).
        max_in_flight: open order-entry requests per session before the
            server stops reading it.
    """

    def __init__(
        self,
        source: AccountSource | None,
        push: Push,
        close: Close,
        *,
        limiter: Limiter | None = None,
        max_in_flight: int = 1000,
    ) -> None:
        self.source = source
        self._push = push
        self._close = close
        self.limiter = limiter
        self.max_in_flight = max_in_flight
        self._streams: dict[str, _Stream] = {}
        self._sessions: dict[Any, Session] = {}
        self._failed_auths: dict[Any, int] = {}
        self._pending: set[Session] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.on_dropped: Callable[[], None] | None = None
        """Called after a revocation ended sessions (the server flushes their goodbyes)."""

    # --- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        """Take the venue's account batches."""
        if self.source is not None:
            self.source.subscribe_accounts(self.on_batch)
            self.source.on_key_revoked(self._on_key_revoked)

    def stop(self) -> None:
        """Stop taking batches."""
        if self.source is not None:
            self.source.unsubscribe_accounts(self.on_batch)
            self.source.off_key_revoked(self._on_key_revoked)

    def _on_key_revoked(self, event: KeyRevoked) -> None:
        if self.drop_key_hash(event.key_hash) and self.on_dropped is not None:
            self.on_dropped()

    def session(self, client: Any) -> Session | None:
        """The session of a connection, if it authenticated."""
        return self._sessions.get(client)

    def detach(self, client: Any) -> None:
        """Forget a connection (closed): it receives nothing more."""
        self._failed_auths.pop(client, None)
        session = self._sessions.pop(client, None)
        if session is None:
            return
        session.ended = True
        session.room.set()
        self._pending.discard(session)
        stream = self._streams.get(session.account.id)
        if stream is not None:
            stream.sessions.discard(session)

    async def wait_room(self, client: Any) -> None:
        """Wait while the connection's session has ``max_in_flight`` open requests."""
        session = self._sessions.get(client)
        while session is not None and not session.ended and session.in_flight >= self.max_in_flight:
            session.room.clear()
            await session.room.wait()

    async def drain(self) -> None:
        """Wait for the order-entry requests still running (server shutdown)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # --- keys --------------------------------------------------------------

    def _valid(self, session: Session) -> bool:
        assert self.source is not None
        account = self.source.authenticate(session.api_key)
        return account is not None and account.id == session.account.id

    def _end(self, session: Session, req_id: Any = None) -> None:
        message = error_message(
            SessionError.UNAUTHORIZED, "the API key is no longer valid; the session ends", req_id
        )
        self._push(session.client, encode(message))
        self.detach(session.client)
        self._close(session.client, 1008, "API key revoked")

    def revalidate(self) -> int:
        """End every session whose key no longer authenticates; how many ended."""
        ended = [s for s in self._sessions.values() if not self._valid(s)]
        for session in ended:
            self._end(session)
        return len(ended)

    def drop_key(self, api_key: str) -> int:
        """End every session authenticated with ``api_key`` (a revocation hook)."""
        return self.drop_key_hash(hash_api_key(api_key))

    def drop_key_hash(self, key_hash: str) -> int:
        """End every session whose key hashes to ``key_hash`` (what a
        :class:`~exchange.keys.KeyRevoked` names); how many ended."""
        ended = [s for s in self._sessions.values() if hash_api_key(s.api_key) == key_hash]
        for session in ended:
            self._end(session)
        return len(ended)

    # --- client messages ---------------------------------------------------

    def handles(self, message: dict[str, Any]) -> bool:
        """Whether a decoded client message is this module's to answer."""
        kind = message.get("type")
        if kind == "auth" or kind in ORDER_ENTRY_TYPES:
            return True
        if kind in ("subscribe", "unsubscribe"):
            channels = message.get("channels")
            return isinstance(channels, list) and any(
                isinstance(c, str) and c in PRIVATE_CHANNELS for c in channels
            )
        return False

    def receive(self, client: Any, message: dict[str, Any], public: list[dict[str, Any]]) -> None:
        """Answer one decoded message that :meth:`handles` (replies are pushed).

        Args:
            client: the connection.
            message: the message.
            public: the connection's market-data subscriptions, as listed
                in a ``subscriptions`` message (a reply lists both kinds).
        """
        req_id = message.get("req_id")
        if req_id is not None and type(req_id) not in (str, int):
            self._push(client, encode(error_message(
                SessionError.INVALID_MESSAGE, "req_id must be a string or integer")))
            return
        try:
            kind = message["type"]
            if kind == "auth":
                self._auth(client, message, req_id)
                return
            session = self._sessions.get(client)
            if session is None:
                raise _Refused(SessionError.AUTH_REQUIRED,
                               "authenticate first: {\"type\": \"auth\", \"api_key\": KEY}")
            if kind in ORDER_ENTRY_TYPES:
                self._order_entry(session, kind, message, req_id)
            else:
                self._subscription(session, kind, message, req_id, public)
        except _Refused as refused:
            self._push(client, encode(error_message(refused.code, refused.message, req_id)))

    def _auth(self, client: Any, message: dict[str, Any], req_id: Any) -> None:
        unknown = sorted(set(message) - {"type", "api_key", "req_id"})
        if unknown:
            raise _Refused(SessionError.INVALID_MESSAGE, f"unknown field {unknown[0]!r}")
        if self.source is None:
            raise _Refused(SessionError.PRIVATE_UNAVAILABLE,
                           "this feed serves market data only")
        if client in self._sessions:
            raise _Refused(SessionError.ALREADY_AUTHENTICATED,
                           "this connection is authenticated already")
        key = message.get("api_key")
        account = self.source.authenticate(key) if isinstance(key, str) else None
        if account is None:
            failed = self._failed_auths.get(client, 0) + 1
            self._failed_auths[client] = failed
            if failed >= _MAX_FAILED_AUTHS:
                self._push(client, encode(error_message(
                    SessionError.UNAUTHORIZED, "too many failed authentications", req_id)))
                self._close(client, 1008, "too many failed authentications")
                raise _Refused(SessionError.UNAUTHORIZED, "the API key is not known")
            raise _Refused(SessionError.UNAUTHORIZED, "the API key is not known")
        session = Session(client, account, key)  # type: ignore[arg-type]
        session.room.set()
        self._sessions[client] = session
        self._streams.setdefault(account.id, _Stream()).sessions.add(session)
        reply: dict[str, Any] = {"type": "authenticated", "account_id": account.id}
        if req_id is not None:
            reply["req_id"] = req_id
        self._push(client, encode(reply))

    def _subscription(
        self,
        session: Session,
        kind: str,
        message: dict[str, Any],
        req_id: Any,
        public: list[dict[str, Any]],
    ) -> None:
        unknown = sorted(set(message) - {"type", "channels", "req_id"})
        if unknown:
            raise _Refused(SessionError.INVALID_MESSAGE,
                           f"unknown field {unknown[0]!r} (orders and account take no skus; "
                           "subscribe to market data in a message of its own)")
        names = message["channels"]
        if not all(isinstance(c, str) and c in PRIVATE_CHANNELS for c in names):
            raise _Refused(SessionError.INVALID_MESSAGE,
                           "subscribe to orders and account in a message of their own")
        channels = [PrivateChannel(c) for c in dict.fromkeys(names)]
        if kind == "subscribe":
            session.channels.update(channels)
        else:
            session.channels.difference_update(channels)
            if PrivateChannel.ORDERS in channels:
                session.pending = None
                self._pending.discard(session)
        subs = public + private_subscriptions(session.channels)
        reply: dict[str, Any] = {"type": "subscriptions", "subscriptions": subs}
        if req_id is not None:
            reply["req_id"] = req_id
        self._push(session.client, encode(reply))
        if kind == "subscribe" and PrivateChannel.ORDERS in channels:
            self._start_snapshot(session)

    def _start_snapshot(self, session: Session) -> None:
        assert self.source is not None
        applied, orders = self.source.open_orders(session.account)
        session.pending = (applied, orders)
        if self.source.released_seq >= applied:
            self._send_snapshot(session)
        else:
            self._pending.add(session)

    def _send_snapshot(self, session: Session) -> None:
        assert session.pending is not None
        _, orders = session.pending
        session.pending = None
        self._pending.discard(session)
        stream = self._streams[session.account.id]
        message = {
            "type": "snapshot",
            "channel": "orders",
            "sequence": stream.sequence,
            "orders": orders,
        }
        self._push(session.client, encode(message))

    # --- order entry -------------------------------------------------------

    def _order_entry(
        self, session: Session, kind: str, message: dict[str, Any], req_id: Any
    ) -> None:
        if req_id is None:
            raise _Refused(SessionError.INVALID_MESSAGE, f"{kind} needs a req_id")
        if not self._valid(session):
            self._end(session, req_id)
            return
        order_id: int | None = None
        if kind in ("cancel", "amend"):
            raw = message.get("order_id")
            if type(raw) is not int or raw < 0:
                raise _Refused(SessionError.INVALID_MESSAGE,
                               f"{kind} needs order_id, a non-negative integer")
            order_id = raw
        elif kind == "place" and set(message) - {"type", "req_id", "order"}:
            extra = sorted(set(message) - {"type", "req_id", "order"})[0]
            raise _Refused(SessionError.INVALID_MESSAGE,
                           f"unknown field {extra!r}; the order goes in 'order'")
        elif kind == "cancel" and set(message) - {"type", "req_id", "order_id"}:
            extra = sorted(set(message) - {"type", "req_id", "order_id"})[0]
            raise _Refused(SessionError.INVALID_MESSAGE, f"unknown field {extra!r}")
        session.in_flight += 1
        if session.in_flight >= self.max_in_flight:
            session.room.clear()
        task = asyncio.create_task(self._answer(session, kind, message, req_id, order_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(
        self, session: Session, kind: str, message: dict[str, Any], req_id: Any,
        order_id: int | None,
    ) -> None:
        path = orderentry.BATCH_PATH if kind == "place_batch" else (
            orderentry.ORDERS_PATH if order_id is None else orderentry.order_path(order_id))
        retry: int | None = None
        try:
            status, body = await self._call(session, kind, message, order_id)
        except ExchangeError as err:
            status, body = err.status, problem_from_error(err, instance=path)
            if status in (429, 503):
                retry = 1
        except _RateLimited as limited:
            status = 429
            body = problem_body("rate_limited", retry_sentence(limited.why, limited.retry),
                                instance=path)
            retry = limited.retry
        except Exception:
            log.exception("unexpected error in websocket %s", kind)
            status = 500
            body = problem_body("internal_error",
                                "The server hit an unexpected error; it has been logged.",
                                status=500, instance=path)
        finally:
            session.in_flight -= 1
            if session.in_flight < self.max_in_flight:
                session.room.set()
        if session.ended:
            return
        result: dict[str, Any] = {"type": "result", "req_id": req_id, "status": status,
                                  "body": body}
        if retry is not None:
            result["retry_after"] = retry
        self._push(session.client, encode(result))

    async def _call(
        self, session: Session, kind: str, message: dict[str, Any], order_id: int | None
    ) -> tuple[int, dict[str, Any]]:
        source = self.source
        assert source is not None
        account = session.account
        limiter = self.limiter
        if limiter is not None:
            retry = limiter.check(account.id)
            if retry is not None:
                raise _RateLimited("Too many requests", retry)
        if kind == "place":
            return await orderentry.place_order(source, account, message.get("order"))
        if kind == "place_batch":
            body = {k: v for k, v in message.items() if k not in ("type", "req_id")}
            n = orderentry.batch_size(body)
            if limiter is not None and n > 1:
                retry = limiter.check(account.id, cost=n - 1)
                if retry is not None:
                    raise _RateLimited(orderentry.batch_why(n), retry)
            return await orderentry.place_batch(source, account, body)
        assert order_id is not None
        check_path_id(order_id, "order_id")
        if kind == "cancel":
            return await orderentry.cancel_order(source, account, order_id)
        body = {k: v for k, v in message.items() if k not in ("type", "req_id", "order_id")}
        return await orderentry.amend_order(source, account, order_id, body)

    # --- the venue's account batches ----------------------------------------

    def on_batch(self, batch: AccountBatch) -> None:
        """The venue's callback after each durable group (synchronous)."""
        streams = self._streams
        if batch.commands and streams:
            for event in batch.events(streams):
                self._publish(streams[event.account_id], event)
        if self._pending:
            for session in [s for s in self._pending if s.pending is not None
                            and s.pending[0] <= batch.released_seq]:
                self._send_snapshot(session)

    def _publish(self, stream: _Stream, event: AccountEvent) -> None:
        channel = _CHANNEL_OF[event.kind]
        orders = channel is PrivateChannel.ORDERS
        if orders and self._pending:
            for session in stream.sessions:
                pending = session.pending
                if pending is not None and event.seq > pending[0]:
                    # Past the snapshot's point: it goes first, as of before this event.
                    self._send_snapshot(session)
        stream.sequence += 1
        sequence = stream.sequence
        prev = stream.last[channel]
        stream.last[channel] = sequence
        frame: bytes | None = None
        for session in stream.sessions:
            if channel not in session.channels or (orders and session.pending is not None):
                continue  # not subscribed, or the snapshot on its way reflects it
            if frame is None:
                frame = encode(_message(channel, event, sequence, prev))
            self._push(session.client, frame)


class _RateLimited(Exception):
    def __init__(self, why: str, retry: int) -> None:
        super().__init__(why)
        self.why = why
        self.retry = retry


def _message(
    channel: PrivateChannel, event: AccountEvent, sequence: int, prev: int
) -> dict[str, Any]:
    """The wire message of one account event."""
    message: dict[str, Any] = {
        "type": event.kind,
        "channel": str(channel),
        "sequence": sequence,
        "prev_sequence": prev,
    }
    kind = event.kind
    if kind == EventKind.ORDER:
        message["order"] = stored_order_wire(event.row)
    elif kind == EventKind.LEDGER:
        message["entry"] = stored_ledger_wire(event.row)
    else:
        message["trade"] = stored_trade_view(event.row, event.account_id)
    return message


def private_subscriptions(channels: Iterable[PrivateChannel]) -> list[dict[str, str]]:
    """The ``subscriptions`` entries of private channels."""
    return [{"channel": str(c)} for c in sorted(channels)]
