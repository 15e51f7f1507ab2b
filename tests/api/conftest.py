"""Fixtures for the REST API tests: a real venue, a real server, a real client.

Every response the :class:`Api` helper receives is validated against the
schema the OpenAPI document gives for its path, method and status (or the
problem schema under ``default``), so the integration tests double as a check
that ``/v1/openapi.json`` is true.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from api.app import make_app
from api.openapi import build_openapi
from exchange.venue import Venue, VenueConfig

DOC = build_openapi()
_PATTERNS: list[tuple[re.Pattern[str], str]] = sorted(
    (
        (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path)
        for path in DOC["paths"]
    ),
    key=lambda item: item[1].count("{"),
)


def documented_path(path: str) -> str | None:
    """The OpenAPI path template a concrete path belongs to (static ones win)."""
    for regex, template in _PATTERNS:
        if regex.match(path):
            return template
    return None


PROBLEM_SCHEMA = {"$ref": "#/components/schemas/Problem", "components": DOC["components"]}


def response_schema(method: str, path: str, status: int, content_type: str) -> dict[str, Any]:
    """The documented schema of a response, as a standalone JSON Schema."""
    template = documented_path(path)
    operation = DOC["paths"][template].get(method.lower()) if template else None
    if operation is None:
        assert status in (404, 405), f"{method} {path} is not documented but answered {status}"
        return PROBLEM_SCHEMA
    responses = operation["responses"]
    if str(status) not in responses:
        assert status >= 400, f"{method} {path} answered undocumented {status}"
    response = responses.get(str(status)) or responses["default"]
    content = response.get("content", {})
    if not content:
        return {}
    assert content_type in content, (
        f"{method} {path} {status}: {content_type} not documented ({list(content)})"
    )
    return {**content[content_type]["schema"], "components": DOC["components"]}


@dataclass
class Reply:
    """One HTTP answer: status, parsed body (or raw bytes), headers."""

    status: int
    body: Any
    headers: Any


class Api:
    """A thin client over a real aiohttp session that checks every answer's schema."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    async def call(
        self,
        method: str,
        path: str,
        *,
        key: str | None = None,
        json: Any = None,
        data: bytes | str | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        hdrs = dict(headers or {})
        if key is not None:
            hdrs["Authorization"] = f"Bearer {key}"
        kwargs: dict[str, Any] = {"headers": hdrs, "params": params}
        if json is not None:
            kwargs["json"] = json
        if data is not None:
            kwargs["data"] = data
        async with self.client.request(method, path, **kwargs) as resp:
            raw = await resp.read()
            ctype = resp.content_type
            body: Any = raw
            if ctype in ("application/json", "application/problem+json"):
                body = await resp.json(content_type=None)
            if not path.startswith(("/static/", "/vendor/")):
                schema = response_schema(method, path, resp.status, ctype)
                if ctype.endswith("json"):
                    jsonschema.validate(body, schema, cls=jsonschema.Draft202012Validator)
            if resp.status >= 400:
                assert ctype == "application/problem+json", (resp.status, ctype, raw[:200])
                assert body["status"] == resp.status
                assert body["detail"] and body["code"]
            return Reply(resp.status, body, resp.headers)

    async def get(self, path: str, **kw: Any) -> Reply:
        return await self.call("GET", path, **kw)

    async def post(self, path: str, **kw: Any) -> Reply:
        return await self.call("POST", path, **kw)

    async def patch(self, path: str, **kw: Any) -> Reply:
        return await self.call("PATCH", path, **kw)

    async def delete(self, path: str, **kw: Any) -> Reply:
        return await self.call("DELETE", path, **kw)

    async def account(self, name: str = "trader") -> str:
        """Create a trader and return its API key."""
        reply = await self.post("/v1/accounts", json={"name": name})
        assert reply.status == 201, reply.body
        return str(reply.body["api_key"])


async def open_venue(data_dir: Path) -> Venue:
    """A venue on ``data_dir`` with fsync off and the demo catalog."""
    return await Venue.open(VenueConfig(data_dir=data_dir, fsync=False, demo_catalog=True))


@pytest.fixture
async def venue(tmp_path: Path) -> AsyncIterator[Venue]:
    v = await open_venue(tmp_path / "data")
    try:
        yield v
    finally:
        await v.close()


AppFactory = Callable[..., Any]


@pytest.fixture
async def make_api(
    venue: Venue, aiohttp_client: Callable[..., Any]
) -> Callable[..., Any]:
    """Start the real app on a free port with the given settings; returns an :class:`Api`."""

    async def factory(**settings: Any) -> Api:
        settings.setdefault("rate_limit", 0)
        app: web.Application = make_app(venue, **settings)
        return Api(await aiohttp_client(app))

    return factory


@pytest.fixture
async def api(make_api: Callable[..., Any]) -> Api:
    """The app with rate limits off."""
    result: Api = await make_api()
    return result


@pytest.fixture
def sku(venue: Venue) -> str:
    """A demo SKU with 100-cent ticks."""
    return str(venue.products()[0]["skus"][0]["sku"])
