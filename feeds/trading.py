"""An asyncio client of the feed's authenticated session: order entry and the private stream.

:class:`TradingSession` connects to the feed, authenticates with an API key
(in a message, never in the URL), subscribes to ``orders`` and ``account``,
and keeps the account's open orders (:attr:`TradingSession.orders`) from the
``snapshot`` and the ``order`` messages after it. Order entry is awaitable:
:meth:`~TradingSession.place`, :meth:`~TradingSession.place_batch`,
:meth:`~TradingSession.cancel` and :meth:`~TradingSession.amend` send a
request with a fresh ``req_id`` and return its :class:`Result` (the status
and body REST would have answered) once the server answers, that is once
the command is durable. Many requests may be in flight at once.

Gap detection: the private stream has one ``sequence`` per account and a
``prev_sequence`` per channel. After a ``snapshot`` the first ``order`` must
have ``prev_sequence <=`` the snapshot's sequence, each later one
``prev_sequence ==`` the last ``order``'s sequence; otherwise the session
counts a gap (``stats.order_gaps``) and resubscribes ``orders`` for a fresh
snapshot, ignoring ``order`` messages until it comes. On the ``account``
channel (no snapshot) a break of the chain is counted in
``stats.account_gaps`` and passed to ``on_gap``: fills and ledger entries
missed are in ``GET /v1/trades`` and ``GET /v1/ledger``.

On a lost connection the session reconnects with backoff, authenticates and
subscribes again (a fresh snapshot); requests in flight fail with
:class:`ConnectionError`: whether they were placed is unknown, so place with
a ``client_order_id`` and repeat it (a repeat answers 200 with the order).
A refused key (``unauthorized``) ends the session with :class:`AuthError`.

Example::

    async with TradingSession("ws://127.0.0.1:8765", api_key) as bot:
        result = await bot.place({"sku": "DZ5485-612-10", "side": "ask",
                                  "type": "limit", "price_cents": 25_000,
                                  "quantity": 1})
        print(result.status, result.body["order"]["status"], bot.orders)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

__all__ = ["AuthError", "Result", "SessionStats", "TradingSession"]

log = logging.getLogger(__name__)

Message = dict[str, Any]
Callback = Callable[[Message], None]


class AuthError(Exception):
    """The server refused the API key (or ended the session for it)."""


@dataclass(frozen=True, slots=True)
class Result:
    """The answer to one order-entry request: REST's status and body.

    Attributes:
        status: the HTTP status REST would answer (201, 200, 4xx, 5xx).
        body: the JSON body (``{"order","fills"}``, ``{"results"}`` or a problem).
        retry_after: seconds to wait, on a 429 or 503.
    """

    status: int
    body: dict[str, Any]
    retry_after: int | None = None

    @property
    def ok(self) -> bool:
        """Whether the request succeeded (2xx)."""
        return 200 <= self.status < 300


@dataclass(slots=True)
class SessionStats:
    """Counters of one session (across reconnects)."""

    connects: int = 0
    snapshots: int = 0
    order_updates: int = 0
    order_gaps: int = 0
    account_gaps: int = 0
    results: int = 0


class TradingSession:
    """An authenticated feed session (see the module docstring).

    Args:
        url: the feed's ``ws://`` address.
        api_key: the account's API key.
        channels: private channels to subscribe (``orders``, ``account``).
        on_order: called with each ``order`` message applied (and with each
            order of a ``snapshot``, as an ``order`` message without sequence).
        on_fill, on_settlement, on_ledger: called with those messages.
        on_gap: called with the channel name on a break of its chain.
        reconnect: reconnect after a lost connection (False: stop).
        backoff_max: the longest wait between reconnects (seconds).
    """

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        channels: Sequence[str] = ("orders", "account"),
        on_order: Callback | None = None,
        on_fill: Callback | None = None,
        on_settlement: Callback | None = None,
        on_ledger: Callback | None = None,
        on_gap: Callable[[str], None] | None = None,
        reconnect: bool = True,
        backoff_max: float = 5.0,
    ) -> None:
        self.url = url
        self._key = api_key
        self.channels = list(channels)
        self._callbacks: dict[str, Callback | None] = {
            "fill": on_fill, "settlement": on_settlement, "ledger": on_ledger,
        }
        self._on_order = on_order
        self._on_gap = on_gap
        self.reconnect = reconnect
        self.backoff_max = backoff_max
        self.account_id: str | None = None
        self.orders: dict[int, Message] = {}
        """The account's open orders by id (as of the last applied message)."""
        self.stats = SessionStats()
        self._ws: ClientConnection | None = None
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Message]] = {}
        self._ready = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self._synced = False  # a snapshot came since the last (re)subscribe
        self._last_order: int | None = None
        self._snapshot_seq = 0
        self._last_account: int | None = None
        self._changed = asyncio.Event()

    # --- lifecycle ---------------------------------------------------------

    async def start(self, timeout: float = 10.0) -> None:
        """Connect, authenticate and subscribe; return once authenticated.

        Raises:
            AuthError: the key was refused.
            TimeoutError: no session within ``timeout`` seconds.
        """
        self._runner = asyncio.create_task(self._run())
        ready = asyncio.create_task(self._ready.wait())
        try:
            done, _ = await asyncio.wait({ready, self._runner}, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
        if self._runner in done:
            await self.close()
            raise self._failure or ConnectionError("the session ended")
        if not done:
            await self.close()
            raise TimeoutError(f"no session with {self.url} within {timeout} s")

    async def close(self) -> None:
        """Close the connection and stop reconnecting."""
        self.reconnect = False
        if self._ws is not None:
            await self._ws.close()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._runner
        self._fail_waiting(ConnectionError("the session is closed"))

    async def __aenter__(self) -> TradingSession:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        """Whether the session is authenticated on an open connection now."""
        return self._ready.is_set()

    @property
    def synced(self) -> bool:
        """Whether :attr:`orders` is current (a snapshot since the last gap)."""
        return self._synced

    async def wait_for(self, predicate: Callable[[], bool], timeout: float | None = None) -> None:
        """Wait until ``predicate()`` holds, checked after every applied message."""

        async def loop() -> None:
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(loop(), timeout)

    # --- order entry -------------------------------------------------------

    async def place(self, order: Message) -> Result:
        """Place one order (the body of ``POST /v1/orders``)."""
        return await self.request({"type": "place", "order": order})

    async def place_batch(self, orders: Sequence[Message]) -> Result:
        """Place up to 100 orders as one group (``POST /v1/orders/batch``)."""
        return await self.request({"type": "place_batch", "orders": list(orders)})

    async def cancel(self, order_id: int) -> Result:
        """Cancel an open order (``DELETE /v1/orders/{id}``)."""
        return await self.request({"type": "cancel", "order_id": order_id})

    async def amend(
        self, order_id: int, *, quantity: int | None = None, price_cents: int | None = None
    ) -> Result:
        """Amend an open order: new total ``quantity`` and/or ``price_cents``."""
        message: Message = {"type": "amend", "order_id": order_id}
        if quantity is not None:
            message["quantity"] = quantity
        if price_cents is not None:
            message["price_cents"] = price_cents
        return await self.request(message)

    async def request(self, message: Message) -> Result:
        """Send an order-entry message with a fresh ``req_id``; its :class:`Result`.

        Raises:
            ConnectionError: the connection was lost before the answer.
            ValueError: the server refused the message itself (an ``error``).
        """
        await self._ready.wait()
        ws = self._ws
        assert ws is not None
        req_id = next(self._ids)
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiting[req_id] = future
        try:
            await ws.send(orjson.dumps({**message, "req_id": req_id}).decode())
        except ConnectionClosed as exc:
            self._waiting.pop(req_id, None)
            raise ConnectionError("the connection was lost") from exc
        answer = await future
        if answer["type"] == "error":
            raise ValueError(f"{answer['code']}: {answer['message']}")
        return Result(int(answer["status"]), answer["body"], answer.get("retry_after"))

    # --- the connection ------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                async with connect(self.url, open_timeout=5) as ws:
                    self._ws = ws
                    await self._open(ws)
                    attempt = 0
                    async for data in ws:
                        self._handle(data)
            except AuthError as exc:
                self._failure = exc
                self._fail_waiting(exc)
                return
            except (OSError, ConnectionClosed, InvalidHandshake, InvalidURI, TimeoutError) as exc:
                log.debug("trading session: connection lost: %s", exc)
            finally:
                self._ready.clear()
                self._ws = None
                self._fail_waiting(ConnectionError("the connection was lost"))
            if not self.reconnect:
                return
            attempt += 1
            await asyncio.sleep(random.uniform(0, min(self.backoff_max, 0.1 * 2**attempt)))

    async def _open(self, ws: ClientConnection) -> None:
        await ws.send(orjson.dumps({"type": "auth", "api_key": self._key, "req_id": 0}).decode())
        while True:
            reply = orjson.loads(await ws.recv())
            if reply.get("req_id") != 0:
                continue  # a heartbeat
            if reply["type"] != "authenticated":
                raise AuthError(f"{reply.get('code')}: {reply.get('message')}")
            self.account_id = reply["account_id"]
            break
        self.stats.connects += 1
        self._synced = False
        if self.channels:
            await ws.send(orjson.dumps({"type": "subscribe", "channels": self.channels}).decode())
        self._ready.set()

    def _fail_waiting(self, exc: BaseException) -> None:
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(exc)

    def _handle(self, data: str | bytes) -> None:
        message: Message = orjson.loads(data)
        kind = message.get("type")
        if kind in ("result", "error") and message.get("req_id") in self._waiting:
            self.stats.results += kind == "result"
            future = self._waiting.pop(message["req_id"])
            if not future.done():
                future.set_result(message)
            return
        if kind == "order":
            self._on_order_message(message)
        elif kind == "snapshot" and message.get("channel") == "orders":
            self._on_snapshot(message)
        elif kind in self._callbacks:
            self._on_account_message(message)
        elif kind == "error" and message.get("code") == "unauthorized":
            raise AuthError(f"unauthorized: {message.get('message')}")
        else:
            return
        self._changed.set()

    def _on_snapshot(self, message: Message) -> None:
        self.stats.snapshots += 1
        self.orders = {o["id"]: o for o in message["orders"]}
        self._snapshot_seq = message["sequence"]
        self._last_order = None
        self._synced = True
        if self._on_order is not None:
            for order in message["orders"]:
                self._on_order({"type": "order", "channel": "orders", "order": order})

    def _on_order_message(self, message: Message) -> None:
        if not self._synced:
            return  # a snapshot is on its way
        prev = message["prev_sequence"]
        ok = prev == self._last_order if self._last_order is not None else (
            prev <= self._snapshot_seq)
        if not ok or message["sequence"] <= (self._last_order or self._snapshot_seq):
            self.stats.order_gaps += 1
            self._synced = False
            if self._on_gap is not None:
                self._on_gap("orders")
            self._resubscribe()
            return
        self._last_order = message["sequence"]
        self.stats.order_updates += 1
        order = message["order"]
        if order["status"] == "open":
            self.orders[order["id"]] = order
        else:
            self.orders.pop(order["id"], None)
        if self._on_order is not None:
            self._on_order(message)

    def _on_account_message(self, message: Message) -> None:
        prev = message["prev_sequence"]
        if self._last_account is not None and prev != self._last_account:
            self.stats.account_gaps += 1
            if self._on_gap is not None:
                self._on_gap("account")
        self._last_account = message["sequence"]
        callback = self._callbacks[message["type"]]
        if callback is not None:
            callback(message)

    def _resubscribe(self) -> None:
        ws = self._ws
        if ws is None:
            return
        task = asyncio.ensure_future(
            ws.send(orjson.dumps({"type": "subscribe", "channels": ["orders"]}).decode()))
        task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)
