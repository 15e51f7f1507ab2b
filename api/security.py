"""Security headers on every answer: no framing, no sniffing, a strict page policy.

:func:`setup_security` hooks :func:`add_security_headers` into an
application's ``on_response_prepare``, so every response (handlers, static
files, problems) carries

- ``X-Content-Type-Options: nosniff`` (a browser never guesses a type),
- ``X-Frame-Options: DENY`` and CSP ``frame-ancestors 'none'`` (no framing:
  no clickjacking of the order form),
- ``Referrer-Policy: no-referrer`` (the page's hash routes and keys never
  leak to the sites it links to),
- ``Content-Security-Policy``: for the web page and its own files (HTML,
  modules, styles) scripts, styles, images and fonts from this server only,
  no inline script, no ``eval``, no plugins, connections to this server and
  the websocket feed only; every API answer ``default-src 'none'``.

The one inline style the page meets is the chart library's own stylesheet
for its attribution logo (Lightweight Charts creates a ``<style>`` element
with fixed text); it is allowed by its SHA-256 hash, read from the installed
library at start, so no other inline style is.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from urllib.parse import urlsplit

from aiohttp import web

from .web import VENDOR_DIR, is_web_path

__all__ = ["page_policy", "setup_security"]

_COMMON = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
_API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

# The library's `document.createElement("style"), x.innerText = "<css>"`.
_LIBRARY_STYLE = re.compile(rb'createElement\("style"\),this\.\w+\.innerText="([^"\\]*)"')


@functools.cache
def _library_style_hashes() -> tuple[str, ...]:

    path = VENDOR_DIR / "dist" / "lightweight-charts.standalone.production.mjs"
    try:
        source = path.read_bytes()
    except OSError:  # not installed: the page runs without charts
        return ()
    return tuple(
        "'sha256-" + base64.b64encode(hashlib.sha256(m.group(1)).digest()).decode() + "'"
        for m in _LIBRARY_STYLE.finditer(source)
    )


def _feed_source(feed_url: str, host: str | None) -> str:
    """The feed's origin as a CSP source; a wildcard bind shows as the page's host."""
    parts = urlsplit(feed_url)
    hostname = parts.hostname or ""
    if hostname in ("0.0.0.0", "::", "") and host:
        hostname = host
    if ":" in hostname:
        hostname = f"[{hostname}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme or 'ws'}://{hostname}{port}"


def page_policy(feed_url: str, host: str | None) -> str:
    """The Content-Security-Policy of the web page, reached at ``host``."""
    styles = " ".join(("'self'", *_library_style_hashes()))
    return (
        "default-src 'none'; script-src 'self'; "
        f"style-src {styles}; img-src 'self'; font-src 'self'; "
        f"connect-src 'self' {_feed_source(feed_url, host)}; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"
    )


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Add the security headers to ``response`` (an ``on_response_prepare`` hook)."""
    for name, value in _COMMON.items():
        response.headers.setdefault(name, value)
    if response.content_type == "text/html" or is_web_path(request.path):
        feed_url = request.app.get(_FEED_URL_KEY, "")
        policy = page_policy(feed_url, request.url.host)
    else:
        policy = _API_POLICY
    response.headers.setdefault("Content-Security-Policy", policy)


_FEED_URL_KEY = web.AppKey("security_feed_url", str)


def setup_security(app: web.Application, feed_url: str) -> None:
    """Send the security headers on every response of ``app``.

    Args:
        app: the application (not frozen yet).
        feed_url: the websocket feed's URL, the page's one other origin.
    """
    app[_FEED_URL_KEY] = feed_url
    app.on_response_prepare.append(add_security_headers)

