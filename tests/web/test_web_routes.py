"""The web page's routes on the real server: public, typed, never outside their folders."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from .support import Server


def fetch(server: Server, path: str) -> tuple[int, str, str, bytes]:
    """(status, content type, cache control, body) of a GET without a key."""
    try:
        with urllib.request.urlopen(server.http_url + path, timeout=10) as resp:
            return (
                resp.status,
                resp.headers["Content-Type"],
                resp.headers["Cache-Control"] or "",
                resp.read(),
            )
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], "", err.read()


@pytest.mark.parametrize(
    ("path", "content_type", "needle"),
    [
        ("/", "text/html", b'<main id="main"'),
        ("/favicon.ico", "image/svg+xml", b"<svg"),
        ("/static/js/main.js", "text/javascript", b"import"),
        ("/static/css/app.css", "text/css", b":root"),
        (
            "/vendor/lightweight-charts/lightweight-charts.standalone.production.mjs",
            "text/javascript",
            b"createChart",
        ),
        ("/vendor/lightweight-charts/LICENSE", "text/plain", b"Apache License"),
    ],
)
def test_page_files_are_public_and_typed(
    server: Server, path: str, content_type: str, needle: bytes
) -> None:
    status, ctype, cache, body = fetch(server, path)
    assert status == 200
    assert ctype.startswith(content_type)
    assert needle in body
    if path != "/favicon.ico":
        assert "no-cache" in cache


@pytest.mark.parametrize(
    "path",
    [
        "/static/%2e%2e/web.py",
        "/static/..%2fweb.py",
        "/static/js/nothing.js",
        "/static/js",
        "/vendor/lightweight-charts/package-lock.json",
        "/vendor/lightweight-charts/..%2f..%2fpyproject.toml",
    ],
)
def test_nothing_outside_the_page_is_served(server: Server, path: str) -> None:
    status, _, _, body = fetch(server, path)
    assert status == 404
    assert b"def " not in body and b"[project]" not in body
