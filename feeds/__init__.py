"""Market data out: the websocket feed server, its protocol and the client library.

- :class:`FeedServer` (``feeds/server.py``): fans the venue's market-data
  events out to websocket clients (``book``, ``trades``, ``ticker``,
  ``candles``), with snapshots, heartbeats and slow-consumer handling.
- :class:`FeedClient` (``feeds/client.py``): keeps verified local books
  (sequence + checksum), resyncs and reconnects by itself.
- :class:`TradingSession` (``feeds/trading.py``): an authenticated session:
  awaitable order entry and the account's open orders from the private
  stream (server side: ``feeds/private.py``).
- ``feeds/protocol.py``: message shapes and per-connection state, sans I/O.
- ``feeds/watch.py``: ``exchange watch`` (imported on demand: it pulls in rich).

The wire protocol is documented in ``docs/feed.md``.
"""

from .client import ClientStats, FeedClient, LocalBook, MessageStream
from .protocol import Channel, ConnectionState, ErrorCode, Subscription
from .server import FeedServer
from .trading import AuthError, Result, TradingSession

__all__ = [
    "AuthError",
    "Channel",
    "ClientStats",
    "ConnectionState",
    "ErrorCode",
    "FeedClient",
    "FeedServer",
    "LocalBook",
    "MessageStream",
    "Result",
    "Subscription",
    "TradingSession",
]
