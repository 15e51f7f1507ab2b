"""Graceful shutdown of ``exchange serve``: stop accepting, answer what is in flight, close.

On SIGTERM or SIGINT the server, within ``--shutdown-grace`` seconds
(default 10):

1. stops accepting HTTP connections (the listener closes);
2. answers every request already in flight as usual; a request that comes
   meanwhile on a connection already open is answered 503 ``shutting_down``
   with ``Retry-After`` and ``Connection: close``, and the server lingers a
   moment for requests racing on idle keep-alive connections;
3. closes the feed's websockets with code 1001 ("going away"), after the
   market data of those last answers, and the feed's listener;
4. closes the remaining HTTP connections (a handler still running when the
   grace period is over is cancelled).

The venue is closed after that, outside the grace period: it commits what is
pending and writes a snapshot when anything happened since the last one
(acknowledged data outranks a deadline).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from .problems import problem_response

__all__ = ["LINGER_S", "Drain"]

# How long idle connections stay open once nothing is in flight, so that a
# client that sent its next request just then gets a 503, not a reset.
LINGER_S = 1.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Drain:
    """Counts requests in flight and refuses new ones once draining.

    Its :meth:`middleware` goes first in the app's chain, so that it sees
    every request.
    """

    def __init__(self) -> None:
        self.draining = False
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Answer 503 while draining; otherwise count the request while it runs."""
        if self.draining:
            response = problem_response(
                "shutting_down",
                "The exchange is shutting down; retry in a moment.",
                status=503,
                instance=request.path,
                headers={"Retry-After": "1"},
            )
            response.force_close()
            return response
        self.in_flight += 1
        self._idle.clear()
        try:
            return await handler(request)
        finally:
            self.in_flight -= 1
            if not self.in_flight:
                self._idle.set()

    async def drain(self, grace: float) -> bool:
        """Refuse new requests and wait for those in flight (at most ``grace`` s).

        Returns:
            True when every request in flight was answered in time.
        """
        self.draining = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        try:
            async with asyncio.timeout(grace):
                await self._idle.wait()
        except TimeoutError:
            return False
        await asyncio.sleep(min(LINGER_S, max(0.0, deadline - loop.time())))
        return True
