"""A worker's batch summed in C (``_batch_sums``): the usage rows, the Prometheus counts and the
GenAI increments are the ones the Python sums make of the same records, and a value C cannot
sum exactly sends the whole batch to Python."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec.structs import astuple, replace

from ferrogate.ipc import usage_sums
from ferrogate.ipc.record_summary import MetricCounts
from ferrogate.ipc.request_records import AttemptRecord, RequestRecord
from ferrogate.ipc.usage_sums import HOUR, sum_usage, sum_usage_py
from ferrogate.observability import otlp_metrics, record_counter
from ferrogate.observability.otlp_metrics import GenAiBatch
from ferrogate.observability.record_counter import RecordCounter
from tests.support.record_strategies import attempts, records

native = pytest.importorskip("ferrogate.ipc._batch_sums", reason="not built (make compiled)")

START = 1_764_892_800.0  # 2025-12-05T00:00:00Z
KEYS = ["a", None, ""]
MODELS = ["gpt", "unknown", None]
PROVIDERS = ["openai", "elsewhere", None]
TOKENS = st.sampled_from([0, 0, 7, 2**40])
KNOWN_MODELS = ("gpt", "claude")
KNOWN_PROVIDERS = ("openai", "anthropic")


@st.composite
def pooled(draw: st.DrawFn) -> RequestRecord:
    """A record whose names and times come from small pools, so a batch has runs, repeats and
    hours that cross; the rest is any value a record may hold."""
    record = draw(records)
    served = draw(st.sampled_from(PROVIDERS))
    log = draw(st.one_of(
        st.just(()),
        st.builds(AttemptRecord, provider=st.just(served or ""), provider_model=st.just("pm"), start_ms=st.just(0.0),
                  duration_ms=st.just(1.0), status=st.just(200)).map(lambda a: (a,)),
        st.lists(attempts, min_size=1, max_size=3).map(tuple),
    ))
    return replace(
        record,
        at=START + draw(st.floats(0, 3 * HOUR)) + draw(st.sampled_from([0.0, 86_400.0])),
        key_id=draw(st.sampled_from(KEYS)), tenant=draw(st.sampled_from(["t", None])),
        model=draw(st.sampled_from(MODELS)), provider=served, provider_model=draw(st.sampled_from(["pm", None])),
        endpoint=draw(st.sampled_from(["chat", "messages"])), error_code=draw(st.sampled_from(
            [None, "rate_limited", "budget_exceeded", "upstream_timeout", "odd"])),
        attempt_log=log, input_tokens=draw(TOKENS), output_tokens=draw(TOKENS), cached_tokens=draw(TOKENS),
        reasoning_tokens=draw(TOKENS),
    )


batches = st.lists(pooled(), max_size=40)


def one(**values: Any) -> RequestRecord:
    """A successful chat request with usage, changed by ``values``."""
    base = RequestRecord(
        event_id="e", at=START, request_id="r", endpoint="chat", status=200, duration_ms=12.5, overhead_ms=0.4,
        key_id="a", model="gpt", provider="openai", provider_model="pm", input_tokens=10, output_tokens=5,
        usage_source="provider", cost_pico=1_000,
    )
    return replace(base, **values)


def fields(batch: list[RequestRecord]) -> list[tuple[Any, ...]]:
    return [astuple(r) for r in batch]


def counted(batch: list[RequestRecord], *, c_sums: bool) -> MetricCounts:
    counter = RecordCounter(KNOWN_MODELS, KNOWN_PROVIDERS)
    if c_sums:
        counter.observe_fields(fields(batch))
    else:
        counter.observe_fields_py(fields(batch))
    return counter.to_wire()


def same_histograms(got: list[Any], want: list[Any]) -> bool:
    """Bucket counts equal, sums equal up to the order C and Python added them in."""
    return len(got) == len(want) and all(
        g[:3] == w[:3] and math.isclose(g[3], w[3], rel_tol=1e-12, abs_tol=1e-12) for g, w in zip(got, want, strict=True)
    )


# -- usage rows


@settings(max_examples=60)
@given(batches)
def test_c_usage_rows_are_the_python_rows(batch: list[RequestRecord]) -> None:
    assert native.usage_rows(fields(batch), usage_sums._LAYOUT) == sum_usage_py(fields(batch))


@pytest.mark.parametrize("name", ["key_id", "tenant", "model", "provider"])
def test_a_record_that_differs_from_the_one_before_in_one_name_starts_a_row(name: str) -> None:
    batch = fields([one(), one(**{name: "other"}), one()])
    rows = native.usage_rows(batch, usage_sums._LAYOUT)
    assert rows == sum_usage_py(batch)
    assert [row[6] for row in rows] == [2, 1, 2, 1]  # requests: two hour rows, two day rows


def test_a_cost_beyond_int64_is_summed_in_python() -> None:
    big = one(usage_source="provider", cost_pico=2**63, at=START)
    assert native.usage_rows(fields([big]), usage_sums._LAYOUT) is None
    assert sum_usage(fields([big]))[0][12] == 2**63


def test_costs_whose_sum_overflows_int64_are_summed_in_python() -> None:
    half = one(usage_source="provider", cost_pico=2**62, at=START, key_id="a", model="m",
                   provider="p", tenant=None)
    assert native.usage_rows(fields([half, half]), usage_sums._LAYOUT) is None
    assert sum_usage(fields([half, half]))[0][12] == 2**63


def test_a_time_out_of_range_is_summed_in_python() -> None:
    odd = one(usage_source="provider", at=1e300)
    assert native.usage_rows(fields([odd]), usage_sums._LAYOUT) is None


def test_a_record_shorter_than_the_layout_is_summed_in_python() -> None:
    assert native.usage_rows([("x", 1.0)], usage_sums._LAYOUT) is None


def test_without_the_c_module_the_rows_are_pythons(monkeypatch: pytest.MonkeyPatch) -> None:
    batch = fields([one(at=START), one(at=START + 1, status=500)])
    monkeypatch.setattr(usage_sums, "_c_usage_rows", None)
    rows = sum_usage(batch)
    assert [(row[0], row[6], row[7], row[12]) for row in rows] == [("hour", 2, 1, 2_000), ("day", 2, 1, 2_000)]


@pytest.mark.parametrize("layout", [(), (1, 2), (*range(13), -1), "abc"])
def test_a_layout_that_does_not_fit_is_refused(layout: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        native.usage_rows([], layout)


# -- Prometheus counts


@settings(max_examples=60)
@given(batches)
def test_c_metric_counts_are_the_python_counts(batch: list[RequestRecord]) -> None:
    bounds = (record_counter._BOUNDS[record_counter.DURATION], record_counter._BOUNDS[record_counter.OVERHEAD])
    assert native.series_sums(fields(batch), record_counter._LAYOUT, *bounds) is not None  # C summed it
    got, want = counted(batch, c_sums=True), counted(batch, c_sums=False)
    assert got.counters == want.counters
    assert same_histograms(got.histograms, want.histograms)


def test_one_series_histogram_sums_are_exactly_pythons() -> None:
    batch = [one(endpoint="chat", model="gpt", provider="openai", duration_ms=0.1 * n,
                     overhead_ms=0.03 * n, ttft_ms=None) for n in range(1, 30)]
    assert counted(batch, c_sums=True).histograms == counted(batch, c_sums=False).histograms


def test_cached_tokens_without_input_or_output_count_no_tokens() -> None:
    batch = [one(input_tokens=0, output_tokens=0, cached_tokens=5, reasoning_tokens=2)]
    got = counted(batch, c_sums=True).counters
    assert got == counted(batch, c_sums=False).counters
    assert [c for c in got if c[0] == record_counter.TOKENS] == []


def test_a_retried_and_failed_over_request_counts_its_attempts() -> None:
    log = (AttemptRecord("openai", "pm", 0.0, 1.0, 502, "upstream_5xx"), AttemptRecord("openai", "pm", 1.0, 1.0, 502,
           "upstream_5xx"), AttemptRecord("anthropic", "pm", 2.0, 1.0, 200))
    batch = [one(status=200, model="gpt", provider="anthropic", attempt_log=log)]
    got = counted(batch, c_sums=True).counters
    assert got == counted(batch, c_sums=False).counters
    assert (record_counter.UPSTREAM_ERRORS, ("openai", "upstream_5xx"), 2) in got
    assert (record_counter.RETRIES, ("openai",), 1) in got
    assert (record_counter.FALLBACKS, ("gpt",), 1) in got


def test_a_status_that_is_not_an_int_is_counted_in_python() -> None:
    odd = one(status="200")
    assert native.series_sums(fields([odd]), record_counter._LAYOUT, (1.0,), (1.0,)) is None


def test_counting_by_key_id_is_pythons(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    monkeypatch.setattr(record_counter, "_c_series_sums", lambda *args: calls.append(args))
    counter = RecordCounter(KNOWN_MODELS, KNOWN_PROVIDERS, key_label=True)
    counter.observe_fields(fields([one()]))
    assert calls == []
    assert [n for table, _, n in counter.to_wire().counters if table == record_counter.REQUESTS] == [1]


# -- GenAI increments


@settings(max_examples=60)
@given(batches)
def test_c_genai_increments_are_the_python_increments(batch: list[RequestRecord]) -> None:
    got = native.genai_sums(fields(batch), otlp_metrics._LAYOUT, otlp_metrics._POINT_BOUNDS)
    assert got == GenAiBatch().observe_fields_py(fields(batch))


def test_a_token_count_beyond_a_doubles_precision_is_summed_in_python() -> None:
    odd = one(usage_source="provider", input_tokens=2**53 + 1)
    assert native.genai_sums(fields([odd]), otlp_metrics._LAYOUT, otlp_metrics._POINT_BOUNDS) is None
    assert GenAiBatch().observe_fields(fields([odd])) == GenAiBatch().observe_fields_py(fields([odd]))


def test_attempts_of_another_type_are_read_by_attribute() -> None:
    class Attempt:  # not a msgspec Struct: no member slots to read
        def __init__(self, provider: str, error_kind: str | None) -> None:
            self.provider = provider
            self.provider_model = "pm"
            self.error_kind = error_kind

    batch = [one(attempt_log=(Attempt("openai", None),)), one(attempt_log=(Attempt("openai", "timeout"),)),
             one(attempt_log=(AttemptRecord("elsewhere", "pm", 0.0, 1.0, 200),))]
    got = counted(batch, c_sums=True).counters
    assert got == counted(batch, c_sums=False).counters
    assert (record_counter.UPSTREAM_ERRORS, ("openai", "timeout"), 1) in got
    assert (record_counter.FALLBACKS, ("gpt",), 1) in got
