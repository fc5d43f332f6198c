"""The admin API's OpenAPI 3.1 document: checked in as generated, served live, and the live
answers of a running gateway valid against it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from ferrogate.control.openapi import build_document, render
from tests.support.admin_gateway import admin_config
from tests.support.gateway import DEFAULT_READY_SECS, Gateway, start_gateway

CHECKED_IN = Path(__file__).resolve().parents[2] / "docs" / "openapi" / "admin-api.openapi.json"
TOKEN = "admin-token-for-openapi-tests"
CONFIG = admin_config("cfg", "sk-openapi-config-key")


def test_the_checked_in_document_is_what_the_code_generates() -> None:
    assert CHECKED_IN.read_text() == render(), "run `.venv/bin/python scripts/gen_openapi.py` and commit the result"


def test_every_reference_in_the_document_resolves() -> None:
    document = build_document()
    text = json.dumps(document)
    names = set(document["components"]["schemas"])
    refs = {part.split('"')[0] for part in text.split('"$ref": "#/components/schemas/')[1:]}
    assert refs and refs <= names


def test_every_operation_has_an_id_and_documents_its_errors() -> None:
    ids = []
    for path, item in build_document()["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            ids.append(op["operationId"])
            if path.startswith("/admin/v1/"):
                assert "401" in op["responses"], f"{method} {path}"
    assert len(ids) == len(set(ids))


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = start_gateway(CONFIG, "toml", workers=1, env={"FG_ADMIN_TOKEN": TOKEN}, directory=tmp_path_factory.mktemp("openapi"))
    try:
        gateway.wait_ready(DEFAULT_READY_SECS)
        yield gateway
    finally:
        gateway.stop()


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({**schema, "components": document["components"]})


def _response_schema(document: dict[str, Any], path: str, method: str, status: str) -> dict[str, Any]:
    schema: dict[str, Any] = document["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
    return schema


def test_the_gateway_serves_the_document(gw: Gateway) -> None:
    answer = httpx.get(gw.admin_url + "/admin/v1/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200 and answer.json() == build_document()


@pytest.mark.parametrize(
    ("method", "path", "template", "status", "body"),
    [
        ("get", "/admin/v1/status", "/admin/v1/status", "200", None),
        ("get", "/admin/v1/providers", "/admin/v1/providers", "200", None),
        ("get", "/admin/v1/models", "/admin/v1/models", "200", None),
        ("get", "/admin/v1/provider-health", "/admin/v1/provider-health", "200", None),
        ("get", "/admin/v1/drain", "/admin/v1/drain", "200", None),
        ("post", "/admin/v1/api-keys", "/admin/v1/api-keys", "201", {"id": "doc-key", "monthly_cost_budget_usd": "5"}),
        ("get", "/admin/v1/api-keys", "/admin/v1/api-keys", "200", None),
        ("get", "/admin/v1/api-keys/cfg", "/admin/v1/api-keys/{id}", "200", None),
        ("post", "/admin/v1/policies", "/admin/v1/policies", "201", {"name": "doc-policy", "models": ["m"]}),
        ("get", "/admin/v1/policies", "/admin/v1/policies", "200", None),
        ("post", "/admin/v1/tenants", "/admin/v1/tenants", "201", {"id": "doc-tenant", "daily_token_budget": 9}),
        ("post", "/admin/v1/gateway-configs", "/admin/v1/gateway-configs", "201", {"id": "doc-profile"}),
        ("get", "/admin/v1/gateway-configs/doc-profile", "/admin/v1/gateway-configs/{id}", "200", None),
        ("get", "/admin/v1/audit-events", "/admin/v1/audit-events", "200", None),
        ("get", "/admin/v1/api-keys/nobody", "/admin/v1/api-keys/{id}", "404", None),
        ("post", "/admin/v1/api-keys", "/admin/v1/api-keys", "400", {"scopes": ["fly"]}),
    ],
)
def test_live_answers_are_valid_against_the_document(
    gw: Gateway, method: str, path: str, template: str, status: str, body: object
) -> None:
    document = build_document()
    answer = httpx.request(
        method.upper(), gw.admin_url + path, json=body,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}, timeout=10,
    )
    assert str(answer.status_code) == status, answer.text
    _validator(document, _response_schema(document, template, method, status)).validate(answer.json())
