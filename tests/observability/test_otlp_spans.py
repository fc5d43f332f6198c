"""Spans made from request records, for the OTLP exporter (no collector needed)."""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource

from ferrogate.ipc.request_records import AttemptRecord, RequestRecord
from ferrogate.observability.otlp_spans import spans_of

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def _record(**fields: object) -> RequestRecord:
    base: dict[str, object] = dict(event_id="e", at=1_700_000_000.0, request_id="req_1", endpoint="chat", status=200,
                                   duration_ms=12.0, overhead_ms=0.2, trace_id=TRACE, span_id="00f067aa0ba902b7")
    return RequestRecord(**{**base, **fields})  # type: ignore[arg-type]


def test_an_mcp_tool_call_is_an_execute_tool_span_naming_the_tool() -> None:
    (span,) = spans_of(_record(endpoint="tools", model="kit-add", provider="mcp:kit"), Resource.create({}))
    assert span.name == "execute_tool kit-add"
    assert span.attributes is not None
    assert span.attributes["gen_ai.operation.name"] == "execute_tool"
    assert span.attributes["gen_ai.tool.name"] == "kit-add"


def test_a_chat_has_a_span_per_attempt_under_its_request_span() -> None:
    attempts = (AttemptRecord("up", "gpt", 1.0, 5.0, 200, None, "00f067aa0ba902b8"),)
    request, attempt = spans_of(_record(model="m", provider="up", attempts=1, attempt_log=attempts), Resource.create({}))
    assert request.name == "chat m" and "gen_ai.tool.name" not in (request.attributes or {})
    assert attempt.parent is not None and attempt.parent.span_id == request.context.span_id
