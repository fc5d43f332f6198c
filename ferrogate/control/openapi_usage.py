"""The OpenAPI paths of what the request records feed (request logs, metering, usage, metrics)."""

from __future__ import annotations

from typing import Any

from ferrogate.store.record_views import MeteringEvent, RequestLogEntry, UsageAggregate

TYPES: tuple[type, ...] = (RequestLogEntry, MeteringEvent, UsageAggregate)

_REF = "#/components/schemas/{name}"


def _q(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema or {"type": "string"}, "description": description}


_FILTERS = [
    _q("limit", "page size (at most storage.admin_list_max_limit)", type="integer", minimum=1),
    _q("cursor", "next_cursor of the previous page"),
    _q("key_id", "only this API key's requests"),
    _q("tenant", "only this tenant's requests"),
    _q("model", "only this logical model"),
    _q("provider", "only this provider"),
    _q("since", "from this time on (RFC 3339, UTC when no offset, or epoch seconds)"),
    _q("until", "before this time (RFC 3339 or epoch seconds)"),
]
_STATUS = _q("status", "a status code (429) or class (4xx)", type="string", pattern="^([1-5][0-9]{2}|[1-5]xx)$")
_GRANULARITY = _q("granularity", "bucket size", enum=["hour", "day"])


def _page_of(name: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "object": {"const": "list"},
            "data": {"type": "array", "items": {"$ref": _REF.format(name=name)}},
            "next_cursor": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
        "required": ["object", "data", "next_cursor"],
    }


def _list(summary: str, op: str, item: str, params: list[dict[str, Any]], errors: dict[str, Any]) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "operationId": op,
            "parameters": params,
            "responses": {
                "200": {"description": "A page, newest first", "content": {"application/json": {"schema": _page_of(item)}}},
                "400": errors["400"],
                **{k: v for k, v in errors.items() if k != "400"},
            },
        }
    }


def usage_paths(errors: dict[str, Any]) -> dict[str, Any]:
    """``errors``: the shared error responses (401, 403) plus a "400" entry."""
    events = _list("Metering events: usage and cost per request", "list_metering_events", "MeteringEvent", _FILTERS, errors)
    billing = _list("Metering events (older name)", "list_billing_events", "MeteringEvent", _FILTERS, errors)
    return {
        "/admin/v1/request-logs": _list(
            "Finished AI requests", "list_request_logs", "RequestLogEntry", [*_FILTERS, _STATUS], errors
        ),
        "/admin/v1/metering-events": events,
        "/admin/v1/billing-events": billing,
        "/admin/v1/usage-aggregates": _list(
            "Usage per key, tenant, model and provider per hour or day",
            "list_usage_aggregates",
            "UsageAggregate",
            [*_FILTERS, _GRANULARITY],
            errors,
        ),
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (no credentials unless telemetry.metrics_token_env is set)",
                "operationId": "metrics",
                "security": [],
                "responses": {
                    "200": {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}},
                    "401": errors["401"],
                },
            }
        },
    }
