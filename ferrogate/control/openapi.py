"""The admin API's OpenAPI 3.1 document, built from the types its handlers answer with.

Schemas come from ``msgspec.json.schema_components`` over the same structs the
handlers encode (status, providers, validate...) and the config types the objects
are made of (``ApiKey``, ``Tenant``, ``Policy``, ``GatewayProfile``), so the
document cannot describe fields the code does not have. An object's view is its
config type without the secret fields, plus ``source``, ``revision`` and, for the
API's own, ``created_at`` / ``updated_at``.

``docs/openapi/admin-api.openapi.json`` is this document, checked in
(``scripts/gen_openapi.py`` writes it; a test fails when they differ); the running
gateway serves it at ``GET /admin/v1/openapi.json``.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import msgspec

from ferrogate.control.object_manager import API_KEY, ID_PATTERN, KINDS, Kind
from ferrogate.control.openapi_tools import TYPES as TOOLS_TYPES
from ferrogate.control.openapi_tools import tools_paths
from ferrogate.control.openapi_usage import TYPES as USAGE_TYPES
from ferrogate.control.openapi_usage import usage_paths
from ferrogate.control.provider_health import ProviderHealthView, ProvidersView
from ferrogate.control.views import (
    ConfigSource,
    DrainView,
    ModelsView,
    ReloadAccepted,
    StatusView,
    ValidateView,
)
from ferrogate.store.admin_objects import AuditEvent

_REF = "#/components/schemas/{name}"
_JSON = "application/json"
_TITLES = {
    "api_key": ("API key", "ApiKey"),
    "tenant": ("tenant", "Tenant"),
    "policy": ("policy", "Policy"),
    "gateway_config": ("gateway config", "GatewayProfile"),
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(name=name)}


def _body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _body(_ref("Error"), description)


_ERRORS = {
    "401": _error("No credentials, or not valid ones"),
    "403": _error("The key lacks the scope, or a cross-site request"),
}


def _view_schema(kind: Kind, components: dict[str, Any]) -> dict[str, Any]:
    base = copy.deepcopy(components[_TITLES[kind.name][1]])
    props = base.setdefault("properties", {})
    for name in kind.secret_fields:
        props.pop(name, None)
    base["required"] = [r for r in base.get("required", []) if r not in kind.secret_fields]
    props["source"] = {"enum": ["config", "api"], "description": "config: from the config file (read-only here)"}
    props["revision"] = {"anyOf": [{"type": "integer"}, {"type": "null"}], "description": "the ETag of an API object"}
    props["created_at"] = {"type": "number"}
    props["updated_at"] = {"type": "number"}
    base["required"] = sorted({*base["required"], "source", "revision"})
    base.pop("title", None)
    return base


def _write_schema(kind: Kind, components: dict[str, Any], partial: bool) -> dict[str, Any]:
    schema = copy.deepcopy(components[_TITLES[kind.name][1]])
    props = schema.get("properties", {})
    if kind.id_field in props:
        props[kind.id_field] = {"type": "string", "pattern": ID_PATTERN}
    for name in kind.secret_fields:
        props.pop(name, None)
    if partial:
        for name in (kind.id_field, "revision"):
            props.pop(name, None)
        schema.pop("required", None)
    elif kind.id_field == "id":
        schema.pop("required", None)  # an id is made when none is sent
    else:
        schema["required"] = [kind.id_field]
    schema.pop("title", None)
    return schema


def _list_of(name: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "object": {"const": "list"},
            "data": {"type": "array", "items": _ref(name)},
            "next_cursor": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
        "required": ["object", "data", "next_cursor"],
    }


_LIMIT = {
    "name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1},
    "description": "page size (default storage.admin_list_default_limit; larger than admin_list_max_limit gets that)",
}
_PAGING = [_LIMIT, {"name": "cursor", "in": "query", "schema": {"type": "string"}, "description": "next_cursor of the previous page"}]
_AUDIT_PAGING = [
    _LIMIT,
    {"name": "cursor", "in": "query", "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"}, "description": "next_cursor of the previous page"},
]
_IF_MATCH = {"name": "If-Match", "in": "header", "schema": {"type": "string"}, "description": 'the revision read, as "3"'}


def _object_paths(kind: Kind, components: dict[str, Any]) -> dict[str, Any]:
    label, _ = _TITLES[kind.name]
    view = _TITLES[kind.name][1] + "View"
    components[view] = _view_schema(kind, components)
    created = _ref(view)
    if kind is API_KEY:
        components["ApiKeyCreated"] = {
            "type": "object",
            "properties": {"key": _ref(view), "secret": {"type": "string", "description": "shown only in this answer"}},
            "required": ["key", "secret"],
        }
        created = _ref("ApiKeyCreated")
    path_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    base = f"/admin/v1/{kind.segment}"
    paths: dict[str, Any] = {
        base: {
            "get": {
                "summary": f"List {label}s (the config file's and the API's)",
                "operationId": f"list_{kind.name}s",
                "parameters": _PAGING,
                "responses": {"200": _body(_list_of(view), "A page"), "400": _error("Bad limit or cursor"), **_ERRORS},
            },
            "post": {
                "summary": f"Make a {label}",
                "operationId": f"create_{kind.name}",
                "requestBody": {"required": True, "content": {_JSON: {"schema": _write_schema(kind, components, False)}}},
                "responses": {
                    "201": _body(created, "Made"),
                    "400": _error("Not valid (the reason names the field)"),
                    "409": _error("The id is taken"),
                    **_ERRORS,
                },
            },
        },
        base + "/{id}": {
            "parameters": [path_id],
            "get": {
                "summary": f"Show a {label}",
                "operationId": f"show_{kind.name}",
                "responses": {"200": _body(_ref(view), "The object"), "404": _error("No such object"), **_ERRORS},
            },
            "put": {
                "summary": f"Change a {label} (the fields sent)",
                "operationId": f"update_{kind.name}",
                "parameters": [_IF_MATCH],
                "requestBody": {"required": True, "content": {_JSON: {"schema": _write_schema(kind, components, True)}}},
                "responses": {
                    "200": _body(_ref(view), "Changed"),
                    "400": _error("Not valid"),
                    "404": _error("No such object"),
                    "409": _error("The config file owns it"),
                    "412": _error("Changed since the revision in If-Match"),
                    **_ERRORS,
                },
            },
            "delete": {
                "summary": f"Delete a {label}",
                "operationId": f"delete_{kind.name}",
                "parameters": [_IF_MATCH],
                "responses": {
                    "204": {"description": "Deleted"},
                    "400": _error("A bad If-Match, or a delete the config's rules refuse"),
                    "404": _error("No such object"),
                    "409": _error("The config file owns it"),
                    "412": _error("Changed since the revision in If-Match"),
                    **_ERRORS,
                },
            },
        },
    }
    if kind is API_KEY:
        paths[base + "/{id}/rotate"] = {
            "parameters": [path_id],
            "post": {
                "summary": "Make a new secret; the old one works grace_secs more",
                "operationId": "rotate_api_key",
                "parameters": [_IF_MATCH],
                "requestBody": {
                    "content": {_JSON: {"schema": {"type": "object", "properties": {"grace_secs": {"type": "number", "minimum": 0, "maximum": 2592000}}}}}
                },
                "responses": {"200": _body(created, "The new secret"), "400": _error("Bad grace_secs"), "404": _error("No such key"), "409": _error("The config file owns it"), **_ERRORS},
            },
        }
    return paths


def _open(item: dict[str, Any]) -> dict[str, Any]:
    """A probe: answered without credentials (on the admin listener), and 503 when not ready."""
    op = item["get"]
    op["security"] = []
    op["responses"] = {"200": op["responses"]["200"], "503": _error("Not ready")}
    return item


def _get(summary: str, op: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"get": {"summary": summary, "operationId": op, "responses": {"200": _body(schema, "OK"), **_ERRORS}}}


_DECIMAL = {"type": "string", "format": "decimal"}


def _decimals_as_text_or_number(node: Any) -> Any:
    """Money fields (Decimal) take "1.50" or 1.5 in a request, as in the config file."""
    if node == _DECIMAL:
        return {"anyOf": [node, {"type": "number"}]}
    if isinstance(node, dict):
        return {key: _decimals_as_text_or_number(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_decimals_as_text_or_number(value) for value in node]
    return node


def build_document(version: str = "1") -> dict[str, Any]:
    types: list[Any] = [
        StatusView, ModelsView, ProvidersView, ProviderHealthView, ValidateView, ConfigSource, ReloadAccepted, DrainView, AuditEvent,
        *(kind.struct for kind in KINDS),
        *USAGE_TYPES,
        *TOOLS_TYPES,
    ]
    _, components = msgspec.json.schema_components(types, ref_template=_REF)
    components = _decimals_as_text_or_number(components)
    components["Error"] = {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                    "code": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                    "param": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                },
                "required": ["message", "type"],
            }
        },
        "required": ["error"],
    }
    paths: dict[str, Any] = {
        "/healthz": _open(_get("Liveness", "healthz", {"type": "object"})),
        "/readyz": _open(_get("Readiness (503 while draining or starting)", "readyz", {"type": "object"})),
        "/admin/v1/status": _get("Supervisor, workers and config revision", "status", _ref("StatusView")),
        "/admin/v1/providers": _get("Configured providers and their models", "providers", _ref("ProvidersView")),
        "/admin/v1/models": _get("Logical models as configured", "models", _ref("ModelsView")),
        "/admin/v1/provider-health": _get("Circuit breakers, merged over workers", "provider_health", _ref("ProviderHealthView")),
        "/admin/v1/openapi.json": _get("This document", "openapi", {"type": "object"}),
        "/admin/v1/audit-events": {
            "get": {
                "summary": "Admin writes: who, what, when, from where (no secrets)",
                "operationId": "list_audit_events",
                "parameters": _AUDIT_PAGING,
                "responses": {"200": _body(_list_of("AuditEvent"), "A page"), "400": _error("Bad limit or cursor"), **_ERRORS},
            }
        },
        "/admin/v1/config/validate": {
            "post": {
                "summary": "Check config text (no file is read)",
                "operationId": "validate_config",
                "requestBody": {"required": True, "content": {_JSON: {"schema": _ref("ConfigSource")}}},
                "responses": {"200": _body(_ref("ValidateView"), "The verdict"), "400": _error("No config text"), "413": _error("Too large"), **_ERRORS},
            }
        },
        "/admin/v1/config/reload": {
            "post": {
                "summary": "Reload the running config file",
                "operationId": "reload_config",
                "responses": {"202": _body(_ref("ReloadAccepted"), "Taken"), "409": _error("Refused"), **_ERRORS},
            }
        },
        "/admin/v1/drain": {
            "get": {"summary": "Whether the node drains", "operationId": "drain_state", "responses": {"200": _body(_ref("DrainView"), "OK"), **_ERRORS}},
            "post": {"summary": "Start draining", "operationId": "drain_start", "responses": {"200": _body(_ref("DrainView"), "OK"), **_ERRORS}},
            "delete": {"summary": "Stop draining", "operationId": "drain_stop", "responses": {"200": _body(_ref("DrainView"), "OK"), **_ERRORS}},
        },
    }
    for kind in KINDS:
        paths.update(_object_paths(kind, components))
    paths.update(usage_paths({"400": _error("A bad filter, limit or cursor"), **_ERRORS}))
    paths.update(tools_paths(_ERRORS, _error("No such tool session"), _error("A malformed id in the path")))
    for path, item in paths.items():
        if "{id}" in path:  # the server refuses a target it cannot read (control characters...)
            for method, op in item.items():
                if method != "parameters":
                    op["responses"].setdefault("400", _error("A malformed id in the path"))
        if "put" in item:  # PATCH is served as PUT is: a partial update
            item["patch"] = {**item["put"], "operationId": item["put"]["operationId"] + "_patch"}
        for method in ("post", "put", "patch"):  # DELETE carries no body, so no content type
            if method in item:
                item[method]["responses"]["415"] = _error("A write without Content-Type: application/json")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "FerroGate admin API",
            "version": version,
            "description": "Credentials: the admin token or a virtual key with admin.read / admin.write, as a bearer token. "
            "Writes need Content-Type: application/json.",
        },
        "servers": [{"url": "http://127.0.0.1:2019"}],
        "security": [{"bearer": []}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(components.items())),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def render() -> str:
    return json.dumps(build_document(), indent=2, sort_keys=True) + "\n"

