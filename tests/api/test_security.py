"""Security headers on every answer; the page's strict Content-Security-Policy."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from api.privatefiles import private_files
from api.security import page_policy

from .conftest import Api

COMMON = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


@pytest.mark.parametrize("path", ["/", "/static/js/main.js", "/v1/products", "/nope", "/healthz"])
async def test_every_answer_has_the_security_headers(api: Api, path: str) -> None:
    reply = await api.get(path)
    for name, value in COMMON.items():
        assert reply.headers[name] == value
    policy = reply.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    page_file = path == "/" or path.startswith("/static/")
    assert ("script-src 'self'" in policy) == page_file  # API answers: default-src 'none'


async def test_the_page_allows_scripts_and_styles_from_itself_only(api: Api) -> None:
    reply = await api.get("/")
    directives = dict(
        d.strip().split(" ", 1) for d in reply.headers["Content-Security-Policy"].split(";")
    )
    assert directives["script-src"] == "'self'"
    assert directives["style-src"].split()[0] == "'self'"
    assert all(s.startswith("'sha256-") for s in directives["style-src"].split()[1:])
    assert "unsafe" not in reply.headers["Content-Security-Policy"]
    assert directives["default-src"] == "'none'"
    assert directives["object-src"] == "'none'"


def test_the_feed_is_the_pages_one_other_origin_named_as_the_browser_reached_it() -> None:
    assert "connect-src 'self' ws://example.test:8765;" in page_policy(
        "ws://0.0.0.0:8765", "example.test"
    )
    assert "connect-src 'self' ws://127.0.0.1:9000;" in page_policy(
        "ws://127.0.0.1:9000", "localhost"
    )


async def test_keyless_account_creation_takes_json_only(api: Api) -> None:
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        reply = await api.post("/v1/accounts", data='{"name": "csrf"}',
                               headers={"Content-Type": ctype})
        assert reply.status == 415, ctype
        assert reply.body["code"] == "unsupported_media_type"
    created = await api.post("/v1/accounts", data='{"name": "ok"}',
                             headers={"Content-Type": "application/json; charset=utf-8"})
    assert created.status == 201


@pytest.mark.parametrize("path", ["/static/%00", "/static/js/%00.js", "/static/a%00b/c"])
async def test_a_nul_in_a_static_path_is_404(api: Api, path: str) -> None:
    reply = await api.get(path)
    assert reply.status == 404
    assert reply.body["code"] == "not_found"


def test_private_files_keeps_the_data_directory_to_its_owner(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "journal").mkdir(parents=True)
    old = data / "journal" / "00000001.log"
    old.write_bytes(b"x")
    old.chmod(0o644)
    previous = os.umask(0o022)
    try:
        private_files(data)
        new = data / "journal" / "00000002.log"
        new.write_bytes(b"y")
        (data / "snapshots").mkdir()
    finally:
        os.umask(previous)
    assert old.stat().st_mode & 0o777 == 0o600
    assert new.stat().st_mode & 0o777 == 0o600
    assert (data / "snapshots").stat().st_mode & 0o777 == 0o700
    assert data.stat().st_mode & 0o077 == 0
