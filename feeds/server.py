"""The websocket market-data server: fan-out of the venue's events to clients.

Layout: :class:`FeedServer` subscribes to the venue (``venue.subscribe``), keeps
its own :class:`~exchange.marketdata.L2Mirror` of the books it has relayed
(loaded from ``venue.mirror`` at start, then advanced by the same events it
sends, so a snapshot is always exactly as of the last delta queued before it),
and a :class:`~feeds.marketstate.MarketState` for tickers and candles. Each
connection has a :class:`~feeds.protocol.ConnectionState` (subscriptions,
limits), a bounded outgoing queue and one writer task.

Fan-out path (the hot one), all synchronous in the venue's callback:

1. each event is encoded once (orjson) and framed once as an unmasked text
   frame (server frames are the same bytes for every client);
2. the frame is appended to the queue of every subscriber (no await);
3. a flush runs at most every ``flush_interval`` seconds (immediately after a
   quiet spell) and writes each dirty connection's queue with one
   ``transport.write`` of the joined frames, so a burst costs one syscall per
   client, not one per message.

The frames are written to the connection's transport beside websockets' own
writes (pings, pongs, close), always whole frames and only while the
connection is OPEN; compression is off, so the bytes are exactly what
``connection.send`` would produce.

Slow consumers, in order (DESIGN.md): while a connection's transport is above
its high-water mark its queue grows; when it passes half of ``queue_size``
its queued book deltas (and snapshots) are dropped per SKU and replaced by a
fresh ``snapshot`` written when it drains, queued tickers and candles keep
only the newest per SKU; trades and control messages are never dropped; if
the queue still exceeds ``queue_size`` the client gets an ``error``
``slow_consumer`` and is closed with 1008. Nothing in the publish path waits
for a client, and memory per connection is bounded by ``queue_size``
messages plus the transport's high-water mark and one batch.

Liveness: a ``heartbeat`` goes to every connection that has been sent nothing
for ``heartbeat_interval * 0.75`` seconds (checked four times per interval),
so a quiet connection hears something at least every ``heartbeat_interval``;
websocket pings every 20 s, closed after 20 s without pong. On
:meth:`FeedServer.close` every connection is closed with 1001 and the reason
``server shutting down``.

Authenticated sessions (``auth``, the private ``orders`` and ``account``
channels, order entry) are :mod:`feeds.private`'s: the server hands it each
client message of those kinds, decoded, and the venue's account batches;
they pass neither the per-connection message rate (order entry is limited
per key, like REST) nor conflation (private messages are never dropped).

Limits: client messages above ``max_message_bytes`` get ``message_too_large``
(frames above ``4 * max_message_bytes``, at least 1 MiB, are refused by the
websocket layer with close code 1009); each connection has a token bucket of
``rate`` messages per second with ``burst``. A connection beyond
``max_connections`` in total or ``max_connections_per_address`` from one
client address is closed right after its handshake with code 1013 (try again
later) and a reason naming the limit; each is counted in
``feed_connections_refused_total{limit}`` and logged at most once per ten
seconds per limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections import Counter, deque
from collections.abc import Iterable
from typing import Any

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from exchange.clock import parse_rfc3339
from exchange.marketdata import BookUpdate, L2Mirror, MarketDataEvent, TradeCanceled
from exchange.venueapi import AccountSource, FeedSource

from .marketstate import HistoryTrade, MarketState
from .metrics import (
    FEED_CONNECTIONS,
    FEED_CONNECTIONS_REFUSED,
    FEED_MESSAGES_DROPPED,
    FEED_MESSAGES_SENT,
    FEED_SLOW_CONSUMERS,
    FEED_SNAPSHOTS_SENT,
)
from .private import Limiter, PrivateStreams, private_subscriptions
from .protocol import (
    WILDCARD,
    Channel,
    ConnectionState,
    ErrorCode,
    Subscription,
    book_message,
    encode,
    error_message,
    heartbeat_message,
    snapshot_message,
    text_frame,
    trade_canceled_message,
    trade_message,
)

__all__ = ["FeedServer", "FeedVenue"]

log = logging.getLogger(__name__)

# Kinds of queued items: (kind, key, frame). The key is the SKU, or
# "SKU interval" for candles; conflation works on it.
_BOOK, _TRADE, _TICKER, _CANDLE, _SNAPSHOT, _CONTROL = range(6)
_Item = tuple[int, str, bytes]


FeedVenue = FeedSource
"""What the feed needs of the venue: :class:`exchange.venueapi.FeedSource`."""


class _Client:
    """One connection's server-side state."""

    __slots__ = (
        "closing",
        "dirty",
        "last_write",
        "queue",
        "stale",
        "state",
        "tasks",
        "wake",
        "ws",
    )

    def __init__(self, ws: ServerConnection, state: ConnectionState, now: float) -> None:
        self.ws = ws
        self.state = state
        self.queue: deque[_Item] = deque()
        self.dirty = False
        self.closing = False
        # SKUs whose book deltas were conflated away: a fresh snapshot is due.
        self.stale: set[str] = set()
        self.last_write = now
        self.wake = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []


class FeedServer:
    """The market-data websocket server of one venue.

    Args:
        venue: the event source (see :class:`FeedVenue`).
        host: interface to bind.
        port: port to bind; 0 picks a free one (read :attr:`port` after start).
        queue_size: the most messages queued for one lagging connection
            before it is closed as a slow consumer (half of it triggers
            conflation).
        max_subs: the most subscriptions one connection may hold.
        max_message_bytes: the largest client message answered normally.
        rate: client messages per second per connection (token bucket).
        burst: token bucket size.
        heartbeat_interval: the longest a connection stays silent.
        flush_interval: the least time between two write batches (seconds);
            bounds syscalls under load, adds at most this much latency.
        write_limit: the transport's high-water mark in bytes.
        ping_interval: websocket ping period (seconds).
        ping_timeout: close when a ping is not answered in this time.
        close_timeout: how long a closing handshake may take before abort.
        history_limit: how many past trades seed a SKU's ticker and candles
            (from ``venue.public_trades``; trades canceled in settlement
            are left out).
        send_buffer: when set, the kernel send buffer (``SO_SNDBUF``) of each
            connection, bounding kernel memory per client; None keeps the
            kernel's autotuning.
        max_connections: the most open connections in total (None: no cap).
        max_connections_per_address: the most open connections from one
            client address (None: no cap).
        accounts: the venue's account side, for authenticated sessions
            (:mod:`feeds.private`); None serves market data only.
        limiter: the per-key rate limiter order entry shares with REST
            (None: unlimited); also settable later as :attr:`limiter`.
        max_in_flight: open order-entry requests per session before the
            server stops reading that connection.
    """

    def __init__(
        self,
        venue: FeedVenue,
        host: str = "127.0.0.1",
        port: int = 8765,
        *,
        queue_size: int = 2000,
        max_subs: int = 200,
        max_message_bytes: int = 64 * 1024,
        rate: float = 20.0,
        burst: float = 50.0,
        heartbeat_interval: float = 1.0,
        flush_interval: float = 0.005,
        write_limit: int = 64 * 1024,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        close_timeout: float = 5.0,
        history_limit: int = 1000,
        send_buffer: int | None = None,
        max_connections: int | None = None,
        max_connections_per_address: int | None = None,
        accounts: AccountSource | None = None,
        limiter: Limiter | None = None,
        max_in_flight: int = 1000,
    ) -> None:
        self._venue = venue
        self._host = host
        self._port = port
        self.queue_size = queue_size
        self._conflate_at = max(1, queue_size // 2)
        self.max_subs = max_subs
        self.max_message_bytes = max_message_bytes
        self.rate = rate
        self.burst = burst
        self.heartbeat_interval = heartbeat_interval
        self.flush_interval = flush_interval
        self.write_limit = write_limit
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        self.history_limit = history_limit
        self.send_buffer = send_buffer
        self.max_connections = max_connections
        self.max_connections_per_address = max_connections_per_address
        self._by_address: Counter[str] = Counter()
        self._open = 0
        self._refusal_logged: dict[str, float] = {}

        self._mirror = L2Mirror()
        self._market = MarketState(self._mirror.best, self._history, self._mirror.sequence)
        # (channel, sku, interval) -> subscribers; "*" subscribers apart.
        self._subs: dict[tuple[str, str, str], set[_Client]] = {}
        self._star_ticker: set[_Client] = set()
        self._star_trades: set[_Client] = set()
        self._clients: set[_Client] = set()
        self._dirty: list[_Client] = []
        self._flush_handle: asyncio.Handle | None = None
        self._last_flush = 0.0
        self._server: Server | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self.private = PrivateStreams(
            accounts, self._push_frame, self._close_client,
            limiter=limiter, max_in_flight=max_in_flight,
        )

    # --- lifecycle ---------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (the configured one before :meth:`start`)."""
        if self._server is not None:
            for sock in self._server.sockets:
                return int(sock.getsockname()[1])
        return self._port

    @property
    def limiter(self) -> Limiter | None:
        """The per-key rate limiter of order entry (the REST API's), or None."""
        return self.private.limiter

    @limiter.setter
    def limiter(self, limiter: Limiter | None) -> None:
        self.private.limiter = limiter

    def drop_key(self, api_key: str) -> int:
        """End the sessions of a revoked key at once; how many ended.

        A key that no longer authenticates also ends its sessions by itself
        (on its next order entry, and within a heartbeat interval).
        """
        n = self.private.drop_key(api_key)
        self._schedule_flush()
        return n

    @property
    def connections(self) -> int:
        """How many clients are connected."""
        return len(self._clients)

    async def start(self) -> None:
        """Load the released books, start relaying events and bind the port.

        Raises:
            OSError: when the port cannot be bound (nothing stays subscribed).
        """
        self._loop = asyncio.get_running_loop()
        source = self._venue.mirror
        # Load and subscribe in one synchronous step: no event can fall between.
        for sku in source.skus():
            snap = source.snapshot(sku)
            book_seq, trade_seq = source.channel_sequences(sku)
            self._mirror.load(
                sku, snap.sequence, snap.bids, snap.asks,
                book_sequence=book_seq, trade_sequence=trade_seq,
            )
        self._venue.subscribe(self._on_events)
        self.private.on_dropped = self._schedule_flush
        self.private.start()
        try:
            self._server = await serve(
                self._handler,
                self._host,
                self._port,
                compression=None,
                max_size=max(1 << 20, 4 * self.max_message_bytes),
                ping_interval=self.ping_interval,
                ping_timeout=self.ping_timeout,
                close_timeout=self.close_timeout,
                write_limit=self.write_limit,
            )
        except BaseException:
            self._venue.unsubscribe(self._on_events)  # e.g. the port is in use
            self.private.stop()
            raise
        self._heartbeat_task = asyncio.create_task(self._heartbeats())

    async def close(self) -> None:
        """Stop relaying and close every connection with 1001 "server shutting down"."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._venue.unsubscribe(self._on_events)
        with contextlib.suppress(Exception):
            self.private.stop()
        await self.private.drain()  # answers of requests already taken go out
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat_task
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        self._flush()  # what is queued goes out before the close frames
        clients = list(self._clients)
        for client in clients:
            self._detach(client)
        await asyncio.gather(
            *(c.ws.close(1001, "server shutting down") for c in clients), return_exceptions=True
        )
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def __aenter__(self) -> FeedServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- the publish path -------------------------------------------------

    def _on_events(self, events: Iterable[MarketDataEvent]) -> None:
        """The venue's callback: relay released events (synchronous, never waits)."""
        mirror = self._mirror
        market = self._market
        subs = self._subs
        for event in events:
            mirror.apply(event)
            sku = event.sku
            if type(event) is BookUpdate:
                targets = subs.get(("book", sku, ""))
                if targets:
                    item = (_BOOK, sku, text_frame(encode(book_message(event))))
                    for client in targets:
                        if client.stale and sku in client.stale:
                            continue  # conflated: a fresh snapshot is due instead
                        client.queue.append(item)
                        if not client.dirty:
                            client.dirty = True
                            self._dirty.append(client)
                ticker = market.on_book(sku, event.sequence, event.time)
                if ticker is not None:
                    self._fanout(("ticker", sku, ""), self._star_ticker, _TICKER, sku, ticker)
            else:
                canceled = type(event) is TradeCanceled
                targets = subs.get(("trades", sku, ""))
                if targets or self._star_trades:
                    message = (
                        trade_canceled_message(event)  # type: ignore[arg-type]
                        if canceled
                        else trade_message(event)  # type: ignore[arg-type]
                    )
                    item = (_TRADE, sku, text_frame(encode(message)))
                    self._fanout_item(targets, self._star_trades, item)
                if canceled:
                    ticker, candles = market.on_trade_canceled(event)  # type: ignore[arg-type]
                else:
                    ticker, candles = market.on_trade(event)  # type: ignore[arg-type]
                self._fanout(("ticker", sku, ""), self._star_ticker, _TICKER, sku, ticker)
                for candle in candles:
                    interval = candle["interval"]
                    self._fanout(
                        ("candles", sku, interval), None, _CANDLE, f"{sku} {interval}", candle
                    )
        self._schedule_flush()

    def _fanout(
        self,
        key: tuple[str, str, str],
        star: set[_Client] | None,
        kind: int,
        item_key: str,
        message: dict[str, Any],
    ) -> None:
        targets = self._subs.get(key)
        if not targets and not star:
            return  # nobody listens: do not even encode
        self._fanout_item(targets, star, (kind, item_key, text_frame(encode(message))))

    def _fanout_item(
        self, targets: set[_Client] | None, star: set[_Client] | None, item: _Item
    ) -> None:
        dirty = self._dirty
        if star:
            for client in star:
                client.queue.append(item)
                if not client.dirty:
                    client.dirty = True
                    dirty.append(client)
        if targets:
            for client in targets:
                if star and client in star:
                    continue  # already served through "*"
                client.queue.append(item)
                if not client.dirty:
                    client.dirty = True
                    dirty.append(client)

    def _push_frame(self, client: _Client, payload: bytes) -> None:
        """Queue a private message (never conflated); the flush follows."""
        if client.closing:
            return
        self._push(client, (_CONTROL, "", text_frame(payload)))
        self._schedule_flush()

    def _close_client(self, client: _Client, code: int, reason: str) -> None:
        """Write what is queued for a connection, then close it."""
        if client.closing:
            return
        if self._loop is not None and not client.ws.paused:
            self._write(client, self._loop.time())
        self._detach(client)
        client.tasks.append(asyncio.create_task(client.ws.close(code, reason)))

    def _push(self, client: _Client, item: _Item) -> None:
        client.queue.append(item)
        if not client.dirty:
            client.dirty = True
            self._dirty.append(client)

    def _schedule_flush(self) -> None:
        if self._flush_handle is not None or not self._dirty or self._loop is None:
            return
        delay = self._last_flush + self.flush_interval - self._loop.time()
        if delay <= 0:
            self._flush_handle = self._loop.call_soon(self._flush)
        else:
            self._flush_handle = self._loop.call_later(delay, self._flush)

    def _flush(self) -> None:
        """Write every dirty connection's queue, or handle its backlog."""
        self._flush_handle = None
        if self._loop is None:
            return
        now = self._last_flush = self._loop.time()
        dirty, self._dirty = self._dirty, []
        sent = 0
        for client in dirty:
            client.dirty = False
            if client.closing:
                client.queue.clear()
            elif client.ws.paused:
                self._backlog(client)
            else:
                sent += self._write(client, now)
        if sent:
            FEED_MESSAGES_SENT.inc(sent)

    def _write(self, client: _Client, now: float) -> int:
        """Write the whole queue (plus due snapshots) in one transport write."""
        ws = client.ws
        queue = client.queue
        if ws.protocol.state is not State.OPEN or ws.transport.is_closing():
            queue.clear()
            return 0
        if client.stale:
            for sku in sorted(client.stale):
                if Subscription(Channel.BOOK, sku) in client.state.subscriptions:
                    queue.append(self._snapshot_item(sku))
            client.stale.clear()
        n = len(queue)
        if n == 1:
            ws.transport.write(queue[0][2])
        elif n:
            ws.transport.write(b"".join([item[2] for item in queue]))
        queue.clear()
        client.last_write = now
        return n

    def _backlog(self, client: _Client) -> None:
        """A lagging connection: conflate, cut off on overflow, else wait for drain."""
        if len(client.queue) > self._conflate_at:
            self._conflate(client)
        if len(client.queue) > self.queue_size:
            self._cut_off(client)
        else:
            client.wake.set()

    def _conflate(self, client: _Client) -> None:
        """Drop queued book deltas per SKU (a snapshot follows) and stale tickers/candles."""
        kept: deque[_Item] = deque()
        seen: set[tuple[int, str]] = set()
        stale = client.stale
        for item in reversed(client.queue):
            kind = item[0]
            if kind in (_BOOK, _SNAPSHOT):
                stale.add(item[1])
                continue
            if kind in (_TICKER, _CANDLE):
                key = (kind, item[1])
                if key in seen:
                    continue
                seen.add(key)
            kept.appendleft(item)
        dropped = len(client.queue) - len(kept)
        client.queue = kept
        if dropped:
            FEED_MESSAGES_DROPPED.inc(dropped)

    def _cut_off(self, client: _Client) -> None:
        """Close a slow consumer: ``error`` slow_consumer, then close code 1008."""
        FEED_SLOW_CONSUMERS.inc()
        FEED_MESSAGES_DROPPED.inc(len(client.queue))
        self._detach(client)
        ws = client.ws
        if ws.protocol.state is State.OPEN and not ws.transport.is_closing():
            message = error_message(
                ErrorCode.SLOW_CONSUMER,
                f"the connection fell more than {self.queue_size} messages behind",
            )
            ws.transport.write(text_frame(encode(message)))
        client.tasks.append(asyncio.create_task(ws.close(1008, "slow consumer")))

    async def _writer(self, client: _Client) -> None:
        """Write a lagging connection's queue as soon as its transport drains."""
        try:
            while not client.closing:
                await client.wake.wait()
                client.wake.clear()
                await client.ws.drain()
                if client.closing or self._loop is None:
                    return
                if client.queue or client.stale:
                    if client.ws.paused:
                        client.wake.set()  # drained and paused again already
                        continue
                    FEED_MESSAGES_SENT.inc(self._write(client, self._loop.time()))
        except (ConnectionError, ConnectionClosed):
            pass

    async def _heartbeats(self) -> None:
        """Send ``heartbeat`` to every connection quiet for 3/4 of the interval."""
        assert self._loop is not None
        quiet = self.heartbeat_interval * 0.75
        while True:
            await asyncio.sleep(self.heartbeat_interval / 4)
            now = self._loop.time()
            if self.private.revalidate():
                self._schedule_flush()
            item: _Item | None = None
            for client in self._clients:
                if client.closing or client.queue or now - client.last_write < quiet:
                    continue
                if item is None:
                    item = (_CONTROL, "", text_frame(encode(heartbeat_message(time.time_ns()))))
                self._push(client, item)
            self._schedule_flush()

    # --- connections -------------------------------------------------------

    async def _handler(self, ws: ServerConnection) -> None:
        assert self._loop is not None
        state = ConnectionState(
            self._venue.sku_exists,
            max_subscriptions=self.max_subs,
            max_message_bytes=self.max_message_bytes,
            rate=self.rate,
            burst=self.burst,
        )
        client = _Client(ws, state, self._loop.time())
        if self.send_buffer is not None:
            sock = ws.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.send_buffer)
        if self._closed:
            await ws.close(1001, "server shutting down")
            return
        address = _address(ws)
        refusal = self._admit(address)
        if refusal is not None:
            await ws.close(1013, refusal)
            return
        self._clients.add(client)
        FEED_CONNECTIONS.inc()
        writer = asyncio.create_task(self._writer(client))
        try:
            async for message in ws:
                if client.closing:
                    continue  # keep reading so that the close handshake completes
                self._receive(client, message)
                await self.private.wait_room(client)
        except ConnectionClosed:
            pass
        finally:
            self._release(address)
            self._detach(client)
            writer.cancel()
            for task in client.tasks:
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await task

    def _admit(self, address: str) -> str | None:
        """Count a connection from ``address``: None when admitted, else the close reason."""
        if self.max_connections is not None and self._open >= self.max_connections:
            limit, reason = "max_connections", (
                f"server at its limit of {self.max_connections} connections; try again later")
        elif (self.max_connections_per_address is not None
              and self._by_address[address] >= self.max_connections_per_address):
            limit, reason = "max_connections_per_address", (
                f"too many connections from your address "
                f"(limit {self.max_connections_per_address})")
        else:
            self._open += 1
            self._by_address[address] += 1
            return None
        FEED_CONNECTIONS_REFUSED.labels(limit).inc()
        now = time.monotonic()
        if now - self._refusal_logged.get(limit, -60.0) >= 10.0:
            self._refusal_logged[limit] = now
            log.warning("refused a feed connection from %s: %s", address, reason)
        return reason

    def _release(self, address: str) -> None:
        self._open -= 1
        left = self._by_address[address] - 1
        if left > 0:
            self._by_address[address] = left
        else:
            del self._by_address[address]

    def _detach(self, client: _Client) -> None:
        """Take a connection out of every index; it receives nothing more."""
        if client not in self._clients:
            return
        self._clients.discard(client)
        self.private.detach(client)
        FEED_CONNECTIONS.dec()
        client.closing = True
        client.queue.clear()
        client.wake.set()
        for sub in client.state.subscriptions:
            self._unindex(client, sub)

    def _index(self, client: _Client, sub: Subscription) -> None:
        if sub.sku == WILDCARD:
            star = self._star_ticker if sub.channel is Channel.TICKER else self._star_trades
            star.add(client)
        else:
            self._subs.setdefault((str(sub.channel), sub.sku, sub.interval), set()).add(client)

    def _unindex(self, client: _Client, sub: Subscription) -> None:
        if sub.sku == WILDCARD:
            star = self._star_ticker if sub.channel is Channel.TICKER else self._star_trades
            star.discard(client)
            return
        key = (str(sub.channel), sub.sku, sub.interval)
        targets = self._subs.get(key)
        if targets is not None:
            targets.discard(client)
            if not targets:
                del self._subs[key]

    def _receive(self, client: _Client, message: str | bytes) -> None:
        assert self._loop is not None
        private = self.private
        if type(message) is str and len(message) <= self.max_message_bytes:
            try:
                decoded = orjson.loads(message)
            except orjson.JSONDecodeError:
                decoded = None  # the connection state says what is wrong
            if type(decoded) is dict and private.handles(decoded):
                public = [s.to_json() for s in sorted(client.state.subscriptions)]
                private.receive(client, decoded, public)
                self._schedule_flush()
                return
        outcome = client.state.receive(message, self._loop.time())
        session = private.session(client)
        if session is not None and session.channels:
            for reply in outcome.replies:
                if reply.get("type") == "subscriptions":
                    reply["subscriptions"] += private_subscriptions(session.channels)
        for sub in outcome.removed:
            self._unindex(client, sub)
            if sub.channel is Channel.BOOK:
                client.stale.discard(sub.sku)
        for sub in outcome.added:
            self._index(client, sub)
        for reply in outcome.replies:
            self._push(client, (_CONTROL, "", text_frame(encode(reply))))
        for sub in outcome.initial:
            for item in self._initial_items(sub):
                self._push(client, item)
            if sub.channel is Channel.BOOK:
                client.stale.discard(sub.sku)
        self._schedule_flush()

    def _initial_items(self, sub: Subscription) -> list[_Item]:
        """The current state a new subscription starts from."""
        if sub.channel is Channel.BOOK:
            return [self._snapshot_item(sub.sku)]
        if sub.channel is Channel.TICKER:
            if sub.sku == WILDCARD:
                skus = [s for s in self._mirror.skus() if self._mirror.sequence(s)]
            else:
                skus = [sub.sku]
            return [
                (_TICKER, sku, text_frame(encode(self._market.ticker(sku)))) for sku in skus
            ]
        if sub.channel is Channel.CANDLES:
            candle = self._market.candle(sub.sku, sub.interval)
            if candle is not None:
                key = f"{sub.sku} {sub.interval}"
                return [(_CANDLE, key, text_frame(encode(candle)))]
        return []

    def _snapshot_item(self, sku: str) -> _Item:
        FEED_SNAPSHOTS_SENT.inc()
        return (_SNAPSHOT, sku, text_frame(encode(snapshot_message(self._mirror.snapshot(sku)))))

    def _history(self, sku: str) -> list[HistoryTrade]:
        """Recent trades of a SKU from the venue, to seed its ticker and candles."""
        if self.history_limit <= 0:
            return []
        trades = self._venue.public_trades(sku, self.history_limit, None)
        # A trade canceled in settlement is not a sale (DESIGN.md).
        return [
            (int(t["id"]), parse_rfc3339(t["time"]), int(t["price_cents"]), int(t["quantity"]))
            for t in trades
            if t.get("settlement_status") != "canceled"
        ]


def _address(ws: ServerConnection) -> str:
    """The client's IP address (the host part of its peer address)."""
    peer = ws.remote_address
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return str(peer or "unknown")
