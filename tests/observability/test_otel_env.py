"""The standard OpenTelemetry variables: the trace sampler decides as the OpenTelemetry SDK's
own sampler would from the same variables, and the exporter variables turn signals off.
Values FerroGate cannot act on are warnings that say what happens instead."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.trace import sampling
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

from ferrogate.config.otel_env import TRACE_ID_LOW_BITS, otel_settings

SAMPLERS = ["always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off",
            "parentbased_traceidratio"]
trace_ids = st.integers(1, (1 << 128) - 1)
parent_flags = st.none() | st.booleans()  # no caller, or a caller's sampled flag


def _sdk_decision(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], trace_id: int, parent: bool | None) -> bool:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    sdk = sampling._get_from_env_or_default()
    context = None
    if parent is not None:
        flags = TraceFlags(TraceFlags.SAMPLED if parent else TraceFlags.DEFAULT)
        context = set_span_in_context(NonRecordingSpan(SpanContext(trace_id, 0x1234, is_remote=True, trace_flags=flags)))
    return sdk.should_sample(context, trace_id, "chat").decision.is_sampled()


@given(sampler=st.sampled_from(SAMPLERS), ratio=st.sampled_from(["0", "0.25", "0.5", "1", "0.0001"]),
       trace_id=trace_ids, parent=parent_flags)
def test_the_sampler_decides_as_the_sdks_does(sampler: str, ratio: str, trace_id: int, parent: bool | None) -> None:
    env = {"OTEL_TRACES_SAMPLER": sampler, "OTEL_TRACES_SAMPLER_ARG": ratio}
    ours = otel_settings(env).sampler.sampled(trace_id & TRACE_ID_LOW_BITS, parent)
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert ours == _sdk_decision(monkeypatch, env, trace_id, parent)


def test_by_default_a_callers_sampled_flag_decides_and_new_traces_are_sampled() -> None:
    sampler = otel_settings({}).sampler
    assert sampler.sampled(5, None) and sampler.sampled(5, True)
    assert not sampler.sampled(5, False)


def test_a_ratio_samples_about_its_share_of_new_traces() -> None:
    sampler = otel_settings({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"}).sampler
    step = (1 << 64) // 1000
    assert sum(sampler.sampled(i * step + step // 2, None) for i in range(1000)) == 250


@pytest.mark.parametrize("name", ["jaeger_remote", "xray", "parentbased_jaeger_remote"])
def test_an_unsupported_sampler_warns_and_samples_as_the_default(name: str) -> None:
    settings = otel_settings({"OTEL_TRACES_SAMPLER": name})
    assert settings.sampler == otel_settings({}).sampler
    assert len(settings.warnings) == 1 and name in settings.warnings[0]
    assert "parentbased_always_on" in settings.warnings[0]


@pytest.mark.parametrize("arg", ["half", "1.5", "-0.1", "nan"])
def test_a_ratio_that_is_not_one_warns_and_samples_everything(arg: str) -> None:
    settings = otel_settings({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": arg})
    assert settings.sampler.sampled(TRACE_ID_LOW_BITS, None)
    assert len(settings.warnings) == 1 and "OTEL_TRACES_SAMPLER_ARG" in settings.warnings[0]


def test_every_signal_is_sent_unless_its_exporter_is_none() -> None:
    assert (otel_settings({}).traces, otel_settings({}).metrics, otel_settings({}).logs) == (True, True, True)
    off = otel_settings({"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": " None ", "OTEL_LOGS_EXPORTER": "none"})
    assert (off.traces, off.metrics, off.logs, off.warnings) == (False, False, False, ())
    assert otel_settings({"OTEL_LOGS_EXPORTER": "otlp"}).logs


def test_an_exporter_other_than_otlp_warns_and_the_signal_still_goes_over_otlp() -> None:
    settings = otel_settings({"OTEL_TRACES_EXPORTER": "console,zipkin"})
    assert settings.traces
    assert len(settings.warnings) == 1
    assert "console, zipkin" in settings.warnings[0] and "sent over OTLP" in settings.warnings[0]


def test_a_trace_exactly_at_the_ratios_bound_is_not_sampled() -> None:
    sampler = otel_settings({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.5"}).sampler
    assert sampler.sampled((1 << 63) - 1, None) and not sampler.sampled(1 << 63, None)
