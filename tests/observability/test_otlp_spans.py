"""Spans made from request records, for the OTLP exporter (no collector needed)."""

from __future__ import annotations

from opentelemetry.proto.trace.v1.trace_pb2 import Span

from ferrogate.ipc.request_records import AttemptRecord, RequestRecord
from ferrogate.observability.otlp_proto import Memo
from ferrogate.observability.otlp_spans import span_messages

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def _record(**fields: object) -> RequestRecord:
    base: dict[str, object] = dict(event_id="e", at=1_700_000_000.0, request_id="req_1", endpoint="chat", status=200,
                                   duration_ms=12.0, overhead_ms=0.2, trace_id=TRACE, span_id="00f067aa0ba902b7")
    return RequestRecord(**{**base, **fields})  # type: ignore[arg-type]


def _spans(record: RequestRecord) -> list[tuple[Span, dict[str, object]]]:
    out = []
    for body in span_messages(record, Memo()):
        span = Span.FromString(body)
        attributes = {a.key: getattr(a.value, str(a.value.WhichOneof("value"))) for a in span.attributes}
        out.append((span, attributes))
    return out


def test_an_mcp_tool_call_is_an_execute_tool_span_naming_the_tool() -> None:
    ((span, attributes),) = _spans(_record(endpoint="tools", model="kit-add", provider="mcp:kit"))
    assert span.name == "execute_tool kit-add"
    assert attributes["gen_ai.operation.name"] == "execute_tool"
    assert attributes["gen_ai.tool.name"] == "kit-add"


def test_a_chat_has_a_span_per_attempt_under_its_request_span() -> None:
    attempts = (AttemptRecord("up", "gpt", 1.0, 5.0, 200, None, "00f067aa0ba902b8"),)
    (request, attributes), (attempt, _) = _spans(_record(model="m", provider="up", attempts=1, attempt_log=attempts))
    assert request.name == "chat m" and "gen_ai.tool.name" not in attributes
    assert (request.kind, attempt.kind) == (Span.SPAN_KIND_SERVER, Span.SPAN_KIND_CLIENT)
    assert attempt.parent_span_id == request.span_id and attempt.trace_id == request.trace_id


def test_an_attempt_starts_and_ends_at_its_own_times() -> None:
    attempts = (AttemptRecord("up", "gpt", 1.5, 5.0, 200, None, "00f067aa0ba902b8"),)
    (request, _), (attempt, _) = _spans(_record(attempt_log=attempts))
    assert attempt.start_time_unix_nano - request.start_time_unix_nano == 1_500_000
    assert attempt.end_time_unix_nano - attempt.start_time_unix_nano == 5_000_000


def test_a_failed_request_has_an_error_status() -> None:
    ((span, _),) = _spans(_record(status=502, error_code="upstream_unavailable"))
    assert span.status.code == span.status.STATUS_CODE_ERROR


def test_a_record_without_trace_ids_has_no_spans() -> None:
    assert span_messages(_record(trace_id=None, span_id=None), Memo()) == []
