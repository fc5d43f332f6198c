"""The worker's request tally: what one finished AI request's record adds to the counts it reports."""

from __future__ import annotations

from msgspec.structs import astuple

from ferrogate import ipc
from ferrogate.ipc.request_records import PICO_PER_USD, RecordFields, RequestRecord
from ferrogate.observability.request_tally import RequestTally


def finished(status: int = 200, **fields: object) -> RecordFields:
    """A finished request's record as the worker builds it: its fields' tuple."""
    return astuple(RequestRecord(
        event_id="e", at=0.0, request_id="r", endpoint="chat", status=status, duration_ms=1.0, overhead_ms=0.1,
        **fields,  # type: ignore[arg-type]
    ))


def test_a_fresh_tally_counts_nothing() -> None:
    assert RequestTally().snapshot() == ipc.RequestCounts()


def test_each_finished_request_adds_its_tokens_and_cost() -> None:
    tally = RequestTally()
    tally.count(finished(input_tokens=10, output_tokens=4, cost_pico=PICO_PER_USD // 2))
    tally.count(finished(input_tokens=3, output_tokens=2, cost_pico=PICO_PER_USD // 4))
    assert tally.snapshot() == ipc.RequestCounts(requests=2, prompt_tokens=13, completion_tokens=6, cost=0.75)


def test_an_answer_of_400_or_more_counts_as_an_error() -> None:
    tally = RequestTally()
    for status in (200, 399, 400, 429, 502):
        tally.count(finished(status))
    counts = tally.snapshot()
    assert (counts.requests, counts.errors) == (5, 3)


def test_streamed_requests_are_counted_apart() -> None:
    tally = RequestTally()
    tally.count(finished(stream=True))
    tally.count(finished(stream=False))
    assert tally.snapshot().streamed == 1


def test_a_request_without_usage_or_cost_adds_no_tokens() -> None:
    tally = RequestTally()
    tally.count(finished(404))
    assert tally.snapshot() == ipc.RequestCounts(requests=1, errors=1)


def test_counts_add_up_field_by_field() -> None:
    a = ipc.RequestCounts(requests=2, errors=1, streamed=1, prompt_tokens=5, completion_tokens=7, cost=0.5)
    b = ipc.RequestCounts(requests=1, prompt_tokens=1, completion_tokens=1, cost=0.25)
    assert a + b == ipc.RequestCounts(requests=3, errors=1, streamed=1, prompt_tokens=6, completion_tokens=8, cost=0.75)


def test_errors_are_counted_by_where_they_came_from() -> None:
    tally = RequestTally()
    tally.count(finished(401, error_source="client"))
    tally.count(finished(502, error_source="upstream"))
    tally.count(finished(500, error_source="internal"))
    counts = tally.snapshot()
    assert (counts.errors, counts.upstream_errors, counts.internal_errors) == (3, 1, 1)
