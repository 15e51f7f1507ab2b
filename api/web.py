"""The web page: a single-page app served by the REST server itself.

``setup_web(app)`` adds these routes to an aiohttp application, all public
(no API key; DESIGN.md "Public without a key"):

- ``GET /`` — ``api/static/index.html`` (the app; hash routes ``#/``,
  ``#/product/STYLE?size=...``, ``#/portfolio``);
- ``GET /static/...`` — the app's CSS and ES modules from ``api/static/``;
- ``GET /favicon.ico`` — the icon, so browsers never see a failed request;
- ``GET /vendor/lightweight-charts/...`` — TradingView Lightweight Charts
  (Apache-2.0) from the git-ignored ``node_modules/`` at the repository root,
  installed by ``npm ci`` (``make install``). Nothing third-party is committed.
  When ``node_modules`` is missing the route answers 404 and the page still
  works without charts (it says so).

There is no build step: the browser loads the ES modules as they are. The
page reads the feed's address from ``GET /v1/config`` and talks to the REST
API with the key the user typed, kept in ``sessionStorage``.

:data:`WEB_PATHS` and :data:`WEB_PREFIXES` name the public paths for the
API's auth middleware.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

__all__ = [
    "STATIC_DIR",
    "VENDOR_DIR",
    "WEB_PATHS",
    "WEB_PREFIXES",
    "is_web_path",
    "setup_web",
]

STATIC_DIR = Path(__file__).resolve().parent / "static"
"""The app's own files (HTML, CSS, ES modules)."""

VENDOR_DIR = Path(__file__).resolve().parent.parent / "node_modules" / "lightweight-charts"
"""Where ``npm ci`` puts Lightweight Charts (git-ignored)."""

WEB_PATHS: frozenset[str] = frozenset({"/", "/index.html", "/favicon.ico"})
"""Exact public paths of the web page."""

WEB_PREFIXES: tuple[str, ...] = ("/static/", "/vendor/")
"""Public path prefixes of the web page's files."""

# Files of the vendored package the page may load: the standalone ES module
# build and its license (shown from the page's attribution link).
_VENDOR_FILES: dict[str, tuple[str, str]] = {
    "lightweight-charts.standalone.production.mjs": (
        "dist/lightweight-charts.standalone.production.mjs",
        "text/javascript",
    ),
    "lightweight-charts.standalone.development.mjs": (
        "dist/lightweight-charts.standalone.development.mjs",
        "text/javascript",
    ),
    "LICENSE": ("LICENSE", "text/plain"),
}

# Content types of the app's own files; ES modules must be served as
# JavaScript or the browser refuses to run them.
_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}

# Revalidate every time (the answer is a cheap 304 through Last-Modified):
# the files change with the code, and a reload must never run stale modules.
_NO_CACHE = {"Cache-Control": "no-cache"}


def is_web_path(path: str) -> bool:
    """Whether ``path`` is one of the web page's public paths."""
    return path in WEB_PATHS or path.startswith(WEB_PREFIXES)


async def _index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC_DIR / "index.html", headers=_NO_CACHE)


async def _favicon(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(
        STATIC_DIR / "favicon.svg",
        headers={"Content-Type": "image/svg+xml", "Cache-Control": "max-age=86400"},
    )


async def _static(request: web.Request) -> web.StreamResponse:
    # Resolve and stay inside STATIC_DIR: "..", symlinks or absolute parts
    # that lead elsewhere are a 404, never a file outside the app.
    try:
        path = (STATIC_DIR / request.match_info["path"]).resolve()
    except (ValueError, OSError):  # a NUL byte (%00) or a name the OS refuses
        raise web.HTTPNotFound(text="no such file") from None
    if not path.is_relative_to(STATIC_DIR) or not path.is_file():
        raise web.HTTPNotFound(text="no such file")
    content_type = _TYPES.get(path.suffix, "application/octet-stream")
    return web.FileResponse(path, headers={"Content-Type": content_type, **_NO_CACHE})


async def _vendor(request: web.Request) -> web.StreamResponse:
    entry = _VENDOR_FILES.get(request.match_info["name"])
    if entry is None:
        raise web.HTTPNotFound(text="no such vendored file")
    path = VENDOR_DIR / entry[0]
    if not path.is_file():
        # node_modules missing: `make install` (npm ci) was not run.
        raise web.HTTPNotFound(text="lightweight-charts is not installed (run `npm ci`)")
    return web.FileResponse(path, headers={"Content-Type": entry[1], **_NO_CACHE})


def setup_web(app: web.Application) -> None:
    """Add the web page's routes (``/``, ``/static/``, ``/vendor/``, favicon) to ``app``.

    Args:
        app: the REST application; must not be frozen yet.
    """
    app.router.add_get("/", _index, name="web_index")
    app.router.add_get("/index.html", _index, name="web_index_html")
    app.router.add_get("/favicon.ico", _favicon, name="web_favicon")
    app.router.add_get("/vendor/lightweight-charts/{name}", _vendor, name="web_vendor")
    app.router.add_get("/static/{path:.+}", _static, name="web_static")
