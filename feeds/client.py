"""An asyncio client of the feed that keeps verified local books.

:class:`FeedClient` connects to a feed server, subscribes, and keeps one
:class:`LocalBook` per SKU of the ``book`` channel from a ``snapshot`` and the
``book`` deltas after it, checking each delta's sequence and checksum with the
venue's own rule (:func:`exchange.marketdata.book_checksum`):

- a delta with ``sequence <=`` the book's is stale and dropped;
- the first delta after a snapshot must have ``prev_sequence <=`` the
  snapshot's sequence, every later one ``prev_sequence ==`` the last applied;
- otherwise (a gap), or when the checksum after applying differs, the SKU is
  marked unsynced and resubscribed, and the server answers with a fresh
  snapshot; deltas are ignored until it arrives.

On a lost connection (or no message for ``idle_timeout`` seconds, while the
server sends heartbeats every second) the client reconnects with exponential
backoff and full jitter, and replays its subscriptions; books resync from the
new snapshots. ``ticker`` and ``candle`` messages reach callbacks and async
iterators.

Trades cannot be healed by a snapshot, so the client keeps, per SKU and
across reconnects, the last sequence of the ``trades`` channel and the last
trade id it delivered. Given the REST API's address (``rest_url``), it fills
what it missed from ``GET /v1/skus/{sku}/trades`` (by id, paging with
``before``): after every reconnect, once the server confirms the
subscription, and on any break in a SKU's ``prev_sequence`` chain. Live
trades of that SKU wait meanwhile, and a trade already delivered is never
delivered again, so the ``trade`` callback and iterators see every trade
exactly once, in id order, across reconnects and server restarts. A
filled-in trade has ``"filled": true`` and no ``sequence``. Each break is
reported: counted in ``stats.trade_gaps`` and passed to ``on_trade_gap``
with the number of trades filled (None when the fill failed, or without
``rest_url``). Named SKUs get a starting point when first subscribed; with
``"*"`` only SKUs that have had a trade since the subscription are filled.

Example::

    async with FeedClient("ws://127.0.0.1:8765") as feed:
        await feed.subscribe(["book", "trades"], ["DZ5485-612-10"])
        async for trade in feed.trades():
            print(trade["price_cents"], feed.book("DZ5485-612-10"))
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import islice
from typing import Any
from urllib.parse import quote

import orjson
from sortedcontainers import SortedDict
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from exchange.marketdata import book_checksum

__all__ = ["ClientStats", "FeedClient", "LocalBook", "MessageStream"]

log = logging.getLogger(__name__)

Message = dict[str, Any]
Callback = Callable[[Message], None]

# Trades per REST page when filling a gap (the API's largest page).
FILL_PAGE = 1000
# Tries of a fill (with the reconnect backoff between) before it is given up.
FILL_ATTEMPTS = 8


class LocalBook:
    """A client's L2 copy of one SKU: price -> quantity per side, best first."""

    __slots__ = ("_asks", "_bids", "fresh", "sequence", "sku")

    def __init__(self, sku: str, sequence: int, bids: Iterable[Any], asks: Iterable[Any]) -> None:
        self.sku = sku
        self.sequence = sequence
        # True until the first delta after the snapshot is applied.
        self.fresh = True
        self._bids: SortedDict = SortedDict({-int(p): int(q) for p, q, *_ in bids})
        self._asks: SortedDict = SortedDict({int(p): int(q) for p, q, *_ in asks})

    def apply(self, changes: Iterable[Any]) -> None:
        """Apply ``[side, price_cents, new_quantity]`` changes (0 removes)."""
        for side, price, qty in changes:
            levels, key = (self._bids, -price) if side == "bid" else (self._asks, price)
            if qty:
                levels[key] = qty
            else:
                levels.pop(key, None)

    def bids(self, depth: int | None = None) -> list[tuple[int, int]]:
        """``(price_cents, quantity)`` bid levels, highest first."""
        items = self._bids.items() if depth is None else islice(self._bids.items(), depth)
        return [(-p, q) for p, q in items]

    def asks(self, depth: int | None = None) -> list[tuple[int, int]]:
        """``(price_cents, quantity)`` ask levels, lowest first."""
        items = self._asks.items() if depth is None else islice(self._asks.items(), depth)
        return list(items)

    def best_bid(self) -> int | None:
        """The highest bid price, or None."""
        return -self._bids.peekitem(0)[0] if self._bids else None

    def best_ask(self) -> int | None:
        """The lowest ask price, or None."""
        return self._asks.peekitem(0)[0] if self._asks else None

    def checksum(self) -> int:
        """The DESIGN.md CRC32 of the top 10 levels of each side."""
        return book_checksum(self.asks(10), self.bids(10))

    def __repr__(self) -> str:
        return (
            f"LocalBook({self.sku!r}, seq={self.sequence}, "
            f"bids={self.bids(3)}, asks={self.asks(3)})"
        )


class MessageStream:
    """An async iterator over one message type, fed from the moment it is made.

    Holds at most ``maxsize`` unread messages; when full the oldest is
    dropped, so a forgotten iterator cannot grow memory. :meth:`aclose`
    (or leaving ``async with``) stops it.
    """

    def __init__(self, registry: list[asyncio.Queue[Message]], maxsize: int) -> None:
        self._registry = registry
        self._queue: asyncio.Queue[Message] = asyncio.Queue(maxsize)
        registry.append(self._queue)

    def __aiter__(self) -> MessageStream:
        return self

    async def __anext__(self) -> Message:
        if self._queue not in self._registry:
            raise StopAsyncIteration
        return await self._queue.get()

    async def aclose(self) -> None:
        """Stop receiving messages."""
        with contextlib.suppress(ValueError):
            self._registry.remove(self._queue)

    async def __aenter__(self) -> MessageStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


@dataclass(slots=True)
class ClientStats:
    """Counters of what the client has seen and healed."""

    messages: int = 0
    snapshots: int = 0
    book_updates: int = 0
    gaps: int = 0
    checksum_mismatches: int = 0
    resyncs: int = 0
    trade_gaps: int = 0
    trades_filled: int = 0
    fill_failures: int = 0
    duplicate_trades: int = 0
    connects: int = 0
    errors: int = 0


class FeedClient:
    """A reconnecting feed client with verified local books.

    Args:
        url: the feed's ``ws://`` address.
        on_trade, on_ticker, on_candle, on_error: called with each message of
            that type.
        on_book: called with ``(sku, book)`` after a snapshot or delta applied.
        on_trade_gap: called with ``(sku, filled)`` for each break in a
            SKU's trades: how many missed trades were filled in, or None
            when they could not be.
        rest_url: the REST API (``http://HOST:PORT``) to fill missed trades
            from; None reports gaps without filling them.
        drop_hook: test hook: a message for which it returns True is dropped
            as if lost on the way (used to force gaps).
        backoff_initial: first reconnect delay ceiling, in seconds.
        backoff_max: the largest reconnect delay ceiling.
        idle_timeout: reconnect when nothing arrives for this long.
        rng: randomness for the jitter (seed it in tests).
    """

    def __init__(
        self,
        url: str,
        *,
        on_trade: Callback | None = None,
        on_ticker: Callback | None = None,
        on_candle: Callback | None = None,
        on_error: Callback | None = None,
        on_book: Callable[[str, LocalBook], None] | None = None,
        on_trade_gap: Callable[[str, int | None], None] | None = None,
        rest_url: str | None = None,
        drop_hook: Callable[[Message], bool] | None = None,
        backoff_initial: float = 0.1,
        backoff_max: float = 10.0,
        idle_timeout: float = 5.0,
        rng: random.Random | None = None,
    ) -> None:
        self.url = url
        self.on_trade = on_trade
        self.on_ticker = on_ticker
        self.on_candle = on_candle
        self.on_error = on_error
        self.on_book = on_book
        self.on_trade_gap = on_trade_gap
        self.rest_url = None if rest_url is None else rest_url.rstrip("/")
        self.drop_hook = drop_hook
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.idle_timeout = idle_timeout
        self._rng = rng or random.Random()
        self.stats = ClientStats()
        self._books: dict[str, LocalBook] = {}
        self._synced: set[str] = set()
        # Trades continuity, kept across reconnects (see the module docstring).
        self._trade_seq: dict[str, int] = {}
        self._trade_id: dict[str, int] = {}
        # SKUs subscribed on ``trades`` by name (and whether "*" is).
        self._trade_skus: set[str] = set()
        self._trade_all = False
        # SKUs whose trades wait for a fill (after a reconnect, a break, or a
        # first subscription), with the live messages held meanwhile.
        self._holding: dict[str, list[Message]] = {}
        self._fills: dict[str, asyncio.Task[None]] = {}
        self._http: Any = None
        # Subscribe messages to replay after a reconnect, in order.
        self._wanted: list[Message] = []
        self._ws: ClientConnection | None = None
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._queues: dict[str, list[asyncio.Queue[Message]]] = {
            "trade": [], "ticker": [], "candle": []
        }
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        self._req_id = 0
        self._last_received = 0.0

    # --- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        """Connect (in the background, retrying) and wait for the first connection.

        Raises:
            websockets.exceptions.InvalidURI: when ``url`` is not a websocket URL.
        """
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        connected = asyncio.create_task(self._connected.wait())
        try:
            await asyncio.wait({self._task, connected}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            connected.cancel()
        if self._task.done():
            self._task.result()  # a bad URL: raise it here rather than wait forever

    async def close(self) -> None:
        """Close the connection and stop reconnecting."""
        self._closing = True
        if self._ws is not None:
            await self._ws.close()
        self._cancel_fills()
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._task is not None:
            self._task.cancel()
            # A failure was raised by start() already; closing stays quiet.
            with contextlib.suppress(asyncio.CancelledError, InvalidURI):
                await self._task

    async def __aenter__(self) -> FeedClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        """Whether a connection is open right now."""
        return self._ws is not None

    # --- subscriptions -----------------------------------------------------

    async def subscribe(
        self, channels: Iterable[str], skus: Iterable[str], *, interval: str | None = None
    ) -> None:
        """Subscribe (now, and again after every reconnect)."""
        message = self._message("subscribe", channels, skus, interval)
        self._wanted.append(message)
        if "trades" in message["channels"]:
            for sku in message["skus"]:
                if sku == "*":
                    self._trade_all = True
                    continue
                self._trade_skus.add(sku)
                if self.rest_url is not None and sku not in self._trade_id:
                    # A starting point, taken once the server confirms the
                    # subscription, so a reconnect before its first trade
                    # still knows what it missed.
                    self._holding.setdefault(sku, [])
        await self._send(message)

    async def unsubscribe(
        self, channels: Iterable[str], skus: Iterable[str], *, interval: str | None = None
    ) -> None:
        """Unsubscribe; books of SKUs no longer on ``book`` are forgotten."""
        message = self._message("unsubscribe", channels, skus, interval)
        self._wanted.append(message)
        if "book" in message["channels"]:
            for sku in message["skus"]:
                self._books.pop(sku, None)
                self._synced.discard(sku)
        if "trades" in message["channels"]:
            for sku in message["skus"]:
                if sku == "*":
                    self._trade_all = False
                else:
                    self._trade_skus.discard(sku)
            for sku in list(self._trade_seq.keys() | self._trade_id.keys() | self._holding.keys()):
                if not self._trade_all and sku not in self._trade_skus:
                    self._forget_trades(sku)
        await self._send(message)

    def _message(
        self, kind: str, channels: Iterable[str], skus: Iterable[str], interval: str | None
    ) -> Message:
        message: Message = {"type": kind, "channels": list(channels), "skus": list(skus)}
        if interval is not None:
            message["interval"] = interval
        return message

    async def _send(self, message: Message) -> None:
        ws = self._ws
        if ws is None:
            return  # sent on (re)connect from self._wanted
        self._req_id += 1
        with contextlib.suppress(ConnectionClosed):
            await ws.send(orjson.dumps({**message, "req_id": self._req_id}).decode())

    # --- reading -----------------------------------------------------------

    def book(self, sku: str) -> LocalBook | None:
        """The local book of ``sku`` (None before its first snapshot)."""
        return self._books.get(sku)

    def synced(self, sku: str) -> bool:
        """Whether the local book of ``sku`` is verified and current."""
        return sku in self._synced

    def trades_live(self, sku: str) -> bool:
        """Whether ``sku``'s trades flow live: subscribed, connected, no fill pending."""
        subscribed = sku in self._trade_skus or self._trade_all
        return subscribed and self.connected and sku not in self._holding

    async def wait_for(self, predicate: Callable[[], bool], timeout: float | None = None) -> None:
        """Wait until ``predicate()`` holds; checked after every message."""
        if predicate():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (predicate, future)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(future, timeout)
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(entry)

    async def wait_synced(self, sku: str, sequence: int = 0, timeout: float | None = None) -> None:
        """Wait until the book of ``sku`` is synced at ``sequence`` or later."""
        def ready() -> bool:
            book = self._books.get(sku)
            return sku in self._synced and book is not None and book.sequence >= sequence

        await self.wait_for(ready, timeout)

    def trades(self, maxsize: int = 10_000) -> MessageStream:
        """Iterate over ``trade`` messages received from now on."""
        return self._iterate("trade", maxsize)

    def tickers(self, maxsize: int = 10_000) -> MessageStream:
        """Iterate over ``ticker`` messages received from now on."""
        return self._iterate("ticker", maxsize)

    def candles(self, maxsize: int = 10_000) -> MessageStream:
        """Iterate over ``candle`` messages received from now on."""
        return self._iterate("candle", maxsize)

    def _iterate(self, kind: str, maxsize: int) -> MessageStream:
        # The queue is registered now, not on the first __anext__, so that
        # nothing received between the call and the first read is missed.
        return MessageStream(self._queues[kind], maxsize)

    # --- the connection loop -----------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        while not self._closing:
            try:
                async with connect(self.url, compression=None) as ws:
                    self._ws = ws
                    attempt = 0
                    self.stats.connects += 1
                    if self.stats.connects > 1:
                        self._after_reconnect()
                    self._last_received = asyncio.get_running_loop().time()
                    for message in self._wanted:
                        await self._send(message)
                    self._connected.set()
                    watchdog = asyncio.create_task(self._watchdog(ws))
                    try:
                        async for data in ws:
                            self._handle(data)
                    finally:
                        watchdog.cancel()
            except (TimeoutError, OSError, ConnectionClosed, InvalidHandshake) as exc:
                log.info("feed connection to %s lost: %r", self.url, exc)
            except InvalidURI:
                raise
            finally:
                self._ws = None
                self._synced.clear()
            if self._closing:
                return
            # Exponential backoff with full jitter.
            ceiling = min(self.backoff_max, self.backoff_initial * 2**attempt)
            attempt += 1
            await asyncio.sleep(self._rng.uniform(0, ceiling))

    async def _watchdog(self, ws: ClientConnection) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.idle_timeout / 4)
            if loop.time() - self._last_received > self.idle_timeout:
                log.info("feed %s silent for %.1fs: reconnecting", self.url, self.idle_timeout)
                ws.transport.abort()
                return

    def _handle(self, data: str | bytes) -> None:
        self._last_received = asyncio.get_running_loop().time()
        message: Message = orjson.loads(data)
        if self.drop_hook is not None and self.drop_hook(message):
            return
        self.stats.messages += 1
        kind = message.get("type")
        if kind == "book":
            self._on_delta(message)
        elif kind == "snapshot":
            self._on_snapshot(message)
        elif kind in ("trade", "trade_canceled"):
            # A trade_canceled continues the trades channel's chain too.
            self._on_trades_channel(message)
        elif kind == "subscriptions":
            self._on_subscriptions(message)
        elif kind == "ticker":
            self._deliver("ticker", self.on_ticker, message)
        elif kind == "candle":
            self._deliver("candle", self.on_candle, message)
        elif kind == "error":
            self.stats.errors += 1
            log.warning("feed error %s: %s", message.get("code"), message.get("message"))
            if self.on_error is not None:
                self.on_error(message)
        # heartbeat and unknown types: nothing to do.
        if self._waiters:
            for predicate, future in list(self._waiters):
                if not future.done() and predicate():
                    future.set_result(None)

    def _on_snapshot(self, message: Message) -> None:
        sku = message["sku"]
        book = LocalBook(sku, message["sequence"], message["bids"], message["asks"])
        self.stats.snapshots += 1
        self._books[sku] = book
        if book.checksum() != message["checksum"]:
            self.stats.checksum_mismatches += 1
            self._resync(sku)
            return
        self._synced.add(sku)
        if self.on_book is not None:
            self.on_book(sku, book)

    def _on_delta(self, message: Message) -> None:
        sku = message["sku"]
        book = self._books.get(sku)
        if book is None or sku not in self._synced:
            return  # waiting for a snapshot
        sequence = message["sequence"]
        if sequence <= book.sequence:
            return  # already in the snapshot
        prev = message["prev_sequence"]
        if prev != book.sequence and not (book.fresh and prev < book.sequence):
            self.stats.gaps += 1
            self._resync(sku)
            return
        book.apply(message["changes"])
        book.sequence = sequence
        book.fresh = False
        self.stats.book_updates += 1
        if book.checksum() != message["checksum"]:
            self.stats.checksum_mismatches += 1
            self._resync(sku)
            return
        if self.on_book is not None:
            self.on_book(sku, book)

    def _resync(self, sku: str) -> None:
        """Ask for a fresh snapshot; deltas are ignored until it comes."""
        self.stats.resyncs += 1
        self._synced.discard(sku)
        message = self._message("subscribe", ["book"], [sku], None)
        task = asyncio.get_running_loop().create_task(self._send(message))
        task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    # --- trades: continuity and fills --------------------------------------

    def _on_trades_channel(self, message: Message) -> None:
        """A ``trade`` or ``trade_canceled``: hold, fill a break, or take it."""
        sku = message["sku"]
        held = self._holding.get(sku)
        if held is not None:
            held.append(message)
            return
        last = self._trade_seq.get(sku)
        if last is not None and message["prev_sequence"] != last:
            self._holding[sku] = [message]
            self._start_fill(sku)
            return
        self._take(message)

    def _take(self, message: Message) -> None:
        sku = message["sku"]
        if message.get("sequence") is not None:
            self._trade_seq[sku] = message["sequence"]
        if message["type"] != "trade":
            return
        if message["id"] <= self._trade_id.get(sku, 0):
            self.stats.duplicate_trades += 1  # filled in already
            return
        self._trade_id[sku] = message["id"]
        self._deliver("trade", self.on_trade, message)

    def _after_reconnect(self) -> None:
        """Hold every known SKU's trades until a fill after the new subscription."""
        self._cancel_fills()
        self._holding = {}
        if self.rest_url is None:
            return  # a break shows on the next message's prev_sequence
        for sku in self._trade_seq.keys() | self._trade_id.keys() | self._trade_skus:
            self._holding[sku] = []

    def _on_subscriptions(self, message: Message) -> None:
        # Fill only once the subscription is active: every trade is then
        # either in the REST answer or sent live (overlaps go by id).
        active = {s.get("sku") for s in message.get("subscriptions", ())
                  if s.get("channel") == "trades"}
        for sku in list(self._holding):
            if sku not in self._fills and (sku in active or "*" in active):
                self._start_fill(sku)

    def _start_fill(self, sku: str) -> None:
        task = asyncio.get_running_loop().create_task(self._fill(sku))
        self._fills[sku] = task
        task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    def _cancel_fills(self) -> None:
        for task in self._fills.values():
            task.cancel()
        self._fills.clear()

    def _forget_trades(self, sku: str) -> None:
        self._trade_seq.pop(sku, None)
        self._trade_id.pop(sku, None)
        self._holding.pop(sku, None)
        task = self._fills.pop(sku, None)
        if task is not None:
            task.cancel()

    async def _fill(self, sku: str) -> None:
        """Deliver what ``sku`` missed from the REST API, then what was held."""
        old_seq = self._trade_seq.get(sku)
        after = self._trade_id.get(sku)
        missed: list[Message] | None = []
        if self.rest_url is None:
            missed = None  # only called on a break: report it, unfilled
        else:
            for attempt in range(FILL_ATTEMPTS):
                try:
                    if after is None:
                        # A first subscription: its starting point, nothing missed.
                        newest = await self.fetch_trades(sku, limit=1)
                        after = newest[0]["id"] if newest else 0
                    else:
                        missed = await self._trades_after(sku, after)
                    break
                except Exception as exc:  # any failure: retry, then report the gap unfilled
                    log.info("filling trades of %s from %s failed: %r", sku, self.rest_url, exc)
                    ceiling = min(self.backoff_max, self.backoff_initial * 2**attempt)
                    await asyncio.sleep(self._rng.uniform(0, ceiling))
            else:
                self.stats.fill_failures += 1
                # A starting point not taken loses nothing known: no gap.
                missed = None if after is not None or old_seq is not None else []
        if self._fills.get(sku) is asyncio.current_task():
            del self._fills[sku]
        held = self._holding.pop(sku, [])
        if after is not None and sku not in self._trade_id:
            self._trade_id[sku] = after
        broken = bool(held) and old_seq is not None and held[0]["prev_sequence"] != old_seq
        if missed is None or missed or broken:
            self.stats.trade_gaps += 1
            if self.on_trade_gap is not None:
                self.on_trade_gap(sku, None if missed is None else len(missed))
        for trade in missed or ():
            self.stats.trades_filled += 1
            self._take(trade)
        # The chain starts again at the first held message.
        self._trade_seq.pop(sku, None)
        for message in held:
            self._on_trades_channel(message)

    async def _trades_after(self, sku: str, after: int) -> list[Message]:
        """``sku``'s trades with an id above ``after``, oldest first, as ``trade`` messages."""
        found: list[Message] = []
        before: int | None = None
        while True:
            page = await self.fetch_trades(sku, limit=FILL_PAGE, before=before)
            found.extend(t for t in page if t["id"] > after)
            if len(page) < FILL_PAGE or page[-1]["id"] <= after:
                break
            before = page[-1]["id"]
        found.sort(key=lambda t: t["id"])
        return [
            {"type": "trade", "sku": sku, "id": t["id"], "price_cents": t["price_cents"],
             "quantity": t["quantity"], "taker_side": t["taker_side"], "time": t["time"],
             "filled": True}
            for t in found
        ]

    async def fetch_trades(
        self, sku: str, *, limit: int = 50, before: int | None = None
    ) -> list[Message]:
        """``GET /v1/skus/{sku}/trades`` from ``rest_url``: newest first.

        Raises:
            ValueError: no ``rest_url``, or the server refused (its status).
            OSError, TimeoutError: the server could not be reached.
        """
        import aiohttp

        if self.rest_url is None:
            raise ValueError("no rest_url to fetch trades from")
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        params = {"limit": str(limit)} | ({} if before is None else {"before": str(before)})
        url = f"{self.rest_url}/v1/skus/{quote(sku, safe='')}/trades"
        try:
            async with self._http.get(url, params=params) as response:
                if response.status != 200:
                    raise ValueError(f"GET {url} answered {response.status}")
                body = await response.json(loads=orjson.loads)
        except aiohttp.ClientError as exc:
            raise OSError(str(exc)) from exc
        trades: list[Message] = body["trades"]
        return trades

    def _deliver(self, kind: str, callback: Callback | None, message: Message) -> None:
        if callback is not None:
            callback(message)
        for queue in self._queues[kind]:
            if queue.full():
                queue.get_nowait()  # the oldest goes: a slow iterator must not grow memory
            queue.put_nowait(message)
