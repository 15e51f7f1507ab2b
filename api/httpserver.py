"""The HTTP server around the application: connection caps and read timeouts.

:func:`start_http` runs an aiohttp application on a TCP port with a
:class:`GuardedHandler` per connection instead of aiohttp's plain one. Per
:class:`~api.limits.HttpLimits` it

- refuses a connection beyond ``max_connections`` in total or
  ``max_connections_per_address`` from one client address: a ``503`` with
  ``Retry-After`` is written and the connection closed before anything is
  parsed;
- closes a connection whose request line and headers have not all arrived
  within ``header_timeout`` seconds of the request's first byte (or of the
  connection's start);
- closes an idle keep-alive connection after ``keepalive_timeout``;
- answers a request aiohttp's parser refuses (a NUL or other invalid
  character in a header, a line too long) with a 400 ``invalid_request``
  problem and one throttled log line instead of a traceback per request.

The body timeout needs the request, so it lives in the body middleware
(``api/guards.py``); an unread body is drained for at most aiohttp's
lingering time (10 s) before the connection closes.

Each refusal is counted in ``http_refused_total{reason}`` and logged by
:func:`api.limits.refused`.

:func:`start_metrics` serves ``GET /metrics`` alone on a listener of its
own, so that the public port does not show the venue's internals (fees
earned, order counts) to everyone.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import orjson
from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from .limits import HTTP_CONNECTIONS, LIMITS_KEY, HttpLimits, refused
from .problems import problem_body, problem_response

__all__ = ["ConnectionGuard", "GuardedHandler", "GuardedRunner", "start_http", "start_metrics"]


class ConnectionGuard:
    """Counts open connections, in total and per client address.

    Args:
        limits: the caps to apply.
    """

    def __init__(self, limits: HttpLimits) -> None:
        self.limits = limits
        self.total = 0
        self.by_address: Counter[str] = Counter()

    def admit(self, address: str) -> str | None:
        """Count a new connection from ``address``: None when admitted, else the cap hit."""
        if self.total >= self.limits.max_connections:
            return "max_connections"
        if self.by_address[address] >= self.limits.max_connections_per_address:
            return "max_connections_per_address"
        self.total += 1
        self.by_address[address] += 1
        HTTP_CONNECTIONS.inc()
        return None

    def release(self, address: str) -> None:
        """Forget one admitted connection from ``address``."""
        self.total -= 1
        HTTP_CONNECTIONS.dec()
        left = self.by_address[address] - 1
        if left > 0:
            self.by_address[address] = left
        else:
            del self.by_address[address]


def _refusal(cap: str, limit: int) -> bytes:
    detail = (
        f"The server holds its limit of {limit} open connections; try again shortly."
        if cap == "max_connections"
        else f"Your address holds its limit of {limit} open connections; "
        "reuse or close some (keep-alive) and try again."
    )
    body = orjson.dumps(problem_body("too_many_connections", detail, status=503))
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: application/problem+json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Retry-After: 1\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


def _peer(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return str(peer or "unknown")


class GuardedHandler(RequestHandler):
    """aiohttp's connection handler with connection caps and a header timeout."""

    __slots__ = ("_address", "_admitted", "_guard", "_head_timer")

    def __init__(self, manager: web.Server, *, guard: ConnectionGuard, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._guard = guard
        self._address = "unknown"
        self._admitted = False
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._address = _peer(transport)
        cap = self._guard.admit(self._address)
        if cap is not None:
            limit = getattr(self._guard.limits, cap)
            refused(cap, "refused an HTTP connection from %s: %s (%d) reached",
                    self._address, cap, limit)
            transport.write(_refusal(cap, limit))  # type: ignore[attr-defined]
            transport.close()
            return
        self._admitted = True
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self._admitted:
            return
        self._admitted = False
        self._guard.release(self._address)
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._admitted:
            return
        before = self._request_count
        super().data_received(data)
        if self._request_count != before:
            self._cancel_head_timer()  # a whole head arrived (or a parse error)
        elif self._head_timer is None and self._idle():
            self._arm_head_timer()  # the first bytes of the next request

    def _idle(self) -> bool:
        return not self._request_in_progress and not self._messages

    def _arm_head_timer(self) -> None:
        limits = self._guard.limits
        self._head_timer = self._loop.call_later(
            limits.header_timeout, self._head_expired, self._request_count
        )

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_expired(self, count: int) -> None:
        self._head_timer = None
        if not self._idle() or self._request_count != count or self.transport is None:
            return
        refused("header_timeout",
                "closed an HTTP connection from %s: no complete request head within %g s",
                self._address, self._guard.limits.header_timeout)
        self.force_close()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A request the parser refused: 400 problem+json and one throttled line."""
        if status >= 500:
            return super().handle_error(request, status, exc, message)
        text = str(getattr(exc, "message", None) or message or exc or "malformed request")
        reason = text.strip().splitlines()[0].strip().rstrip(":")[:200] or "malformed request"
        refused("malformed_request", "refused a malformed HTTP request from %s: %s",
                self._address, reason)
        if request.writer.output_size > 0:
            raise ConnectionError("a response was already sent")
        resp = problem_response(
            "invalid_request", f"The request is not valid HTTP: {reason}.", status=status
        )
        resp.force_close()
        return resp


class _GuardedServer(web.Server):
    """aiohttp's connection factory, making :class:`GuardedHandler` connections."""

    guard: ConnectionGuard

    def __call__(self) -> RequestHandler:
        return GuardedHandler(self, loop=self._loop, guard=self.guard, **self._kwargs)


class GuardedRunner(web.AppRunner):
    """An :class:`aiohttp.web.AppRunner` whose connections are guarded by ``limits``."""

    __slots__ = ("_guard",)

    def __init__(self, app: web.Application, limits: HttpLimits, **kwargs: Any) -> None:
        kwargs.setdefault("keepalive_timeout", limits.keepalive_timeout)
        super().__init__(app, **kwargs)
        self._guard = ConnectionGuard(limits)

    @property
    def guard(self) -> ConnectionGuard:
        """The connection counts (for tests and metrics)."""
        return self._guard

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # aiohttp builds a plain Server; only its factory method differs.
        server.__class__ = _GuardedServer
        server.guard = self._guard  # type: ignore[attr-defined]
        return server


async def start_http(
    app: web.Application, host: str, port: int, limits: HttpLimits | None = None,
    **runner_kwargs: Any,
) -> tuple[GuardedRunner, int]:
    """Serve ``app`` on ``host:port`` (0: a free port) under ``limits``.

    The limits are also stored in the application (``LIMITS_KEY``) for the
    body middleware; ``runner_kwargs`` go to the runner (``shutdown_timeout``).
    Returns the runner (``await runner.cleanup()`` stops it, ``runner.sites``
    holds the listener) and the bound port.

    Raises:
        OSError: the address cannot be bound.
    """
    limits = limits or HttpLimits()
    app[LIMITS_KEY] = limits
    runner = GuardedRunner(app, limits, access_log=None, handle_signals=False, **runner_kwargs)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, runner.addresses[0][1]


async def start_metrics(host: str, port: int) -> tuple[GuardedRunner, int]:
    """Serve ``GET /metrics`` (Prometheus text) alone on ``host:port`` (0: a free port).

    Returns the runner and the bound port, as :func:`start_http` does.
    """
    from .ops import metrics
    from .security import setup_security

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    setup_security(app, "")
    return await start_http(app, host, port)
