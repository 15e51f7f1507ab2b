"""The OpenAPI document covers every route of the application and is well formed."""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import pytest

from api.app import ROUTES, make_app
from api.openapi import SCHEMAS, build_openapi


def _template(canonical: str) -> str:
    return "/static/{path}" if canonical == "/static" else canonical


@pytest.fixture
def app_routes() -> set[tuple[str, str]]:
    class _NoVenue:
        ready = True

    app = make_app(_NoVenue())  # type: ignore[arg-type]
    return {
        (route.method, _template(route.resource.canonical))
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }


def test_every_route_is_documented(app_routes: set[tuple[str, str]]) -> None:
    doc = build_openapi()
    documented = {
        (method.upper(), path) for path, ops in doc["paths"].items() for method in ops
    }
    assert app_routes <= documented, sorted(app_routes - documented)
    # ...and nothing documented that the app does not serve.
    assert documented <= app_routes, sorted(documented - app_routes)
    assert len(ROUTES) >= 29


def test_schemas_are_valid_json_schema() -> None:
    for name, schema in SCHEMAS.items():
        jsonschema.Draft202012Validator.check_schema(schema), name


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        out = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            out |= _refs(value)
        return out
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node)) if node else set()
    return set()


def test_refs_resolve_and_operations_complete() -> None:
    doc = build_openapi()
    for ref in _refs(doc):
        name = ref.removeprefix("#/components/schemas/")
        assert name in SCHEMAS, ref
    for path, ops in doc["paths"].items():
        params = set(re.findall(r"\{(\w+)\}", path))
        for method, op in ops.items():
            assert op["summary"] and "default" in op["responses"], (method, path)
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == params, (method, path)
            if method in ("post", "patch") and path.startswith("/v1/") and not path.endswith(
                ("/ship",)
            ):
                assert "requestBody" in op, (method, path)
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
