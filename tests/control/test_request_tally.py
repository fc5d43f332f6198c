"""The worker's request tally: what one finished AI request adds to the counts it reports."""

from __future__ import annotations

from dataclasses import dataclass

from ferrogate import ipc
from ferrogate.errors import ErrorSource, GatewayError
from ferrogate.observability.request_tally import RequestTally


@dataclass
class Usage:
    prompt_tokens: int
    completion_tokens: int


@dataclass
class Finished:
    status: int = 200
    stream: bool = False
    usage: Usage | None = None
    cost: float | None = None
    error: GatewayError | None = None


def test_a_fresh_tally_counts_nothing() -> None:
    assert RequestTally().snapshot() == ipc.RequestCounts()


def test_each_finished_request_adds_its_tokens_and_cost() -> None:
    tally = RequestTally()
    tally(Finished(usage=Usage(10, 4), cost=0.5))
    tally(Finished(usage=Usage(3, 2), cost=0.25))
    assert tally.snapshot() == ipc.RequestCounts(
        requests=2, prompt_tokens=13, completion_tokens=6, cost=0.75
    )


def test_an_answer_of_400_or_more_counts_as_an_error() -> None:
    tally = RequestTally()
    for status in (200, 399, 400, 429, 502):
        tally(Finished(status=status))
    counts = tally.snapshot()
    assert (counts.requests, counts.errors) == (5, 3)


def test_streamed_requests_are_counted_apart() -> None:
    tally = RequestTally()
    tally(Finished(stream=True))
    tally(Finished(stream=False))
    assert tally.snapshot().streamed == 1


def test_a_request_without_usage_or_cost_adds_no_tokens() -> None:
    tally = RequestTally()
    tally(Finished(status=404))
    assert tally.snapshot() == ipc.RequestCounts(requests=1, errors=1)


def test_counts_add_up_field_by_field() -> None:
    a = ipc.RequestCounts(requests=2, errors=1, streamed=1, prompt_tokens=5, completion_tokens=7, cost=0.5)
    b = ipc.RequestCounts(requests=1, prompt_tokens=1, completion_tokens=1, cost=0.25)
    assert a + b == ipc.RequestCounts(
        requests=3, errors=1, streamed=1, prompt_tokens=6, completion_tokens=8, cost=0.75
    )


def test_errors_are_counted_by_where_they_came_from() -> None:
    tally = RequestTally()
    tally(Finished(status=401, error=GatewayError(401, "no key")))
    tally(Finished(status=502, error=GatewayError(502, "provider down", source=ErrorSource.UPSTREAM)))
    tally(Finished(status=500, error=GatewayError(500, "bug", source=ErrorSource.INTERNAL)))
    counts = tally.snapshot()
    assert (counts.errors, counts.upstream_errors, counts.internal_errors) == (3, 1, 1)
