"""Property-based API testing with schemathesis against ``/v1/openapi.json``.

A real ``exchange serve`` on free ports; every documented operation gets a
bounded number of generated requests (valid and invalid) with a trader's
key. Checks: no 5xx, and every response's status, content type and body
match the document.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.openapi import build_openapi

from .server import Server, serve

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(Path(tmp_path_factory.mktemp("schemathesis")) / "data") as server:
        yield server


@pytest.fixture(scope="module")
def api_key(live: Server) -> str:
    request = urllib.request.Request(
        live.http_url + "/v1/accounts", data=json.dumps({"name": "fuzz"}).encode(),
        method="POST", headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.loads(response.read())["api_key"])


# The document the server serves is build_openapi() (test_served_document_is_this_one
# checks that), loaded in-process so that the operations parametrize at collection.
schema = schemathesis.openapi.from_dict(build_openapi())
# Valid and invalid requests alike: bad input must be a 4xx problem, never a 5xx.
schema.config.generation.update(
    modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
)


def test_served_document_is_this_one(live: Server) -> None:
    with urllib.request.urlopen(live.http_url + "/v1/openapi.json", timeout=10) as response:
        assert json.loads(response.read()) == build_openapi()


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_conforms(case: schemathesis.Case, live: Server, api_key: str) -> None:
    case.call_and_validate(
        base_url=live.http_url,
        headers={"Authorization": f"Bearer {api_key}"},
        checks=CHECKS,
        timeout=10,
    )
