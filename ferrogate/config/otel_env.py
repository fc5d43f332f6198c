"""The standard OpenTelemetry variables that decide what is exported: the trace sampler
(``OTEL_TRACES_SAMPLER``, ``OTEL_TRACES_SAMPLER_ARG``) and which signals go out
(``OTEL_TRACES_EXPORTER``, ``OTEL_METRICS_EXPORTER``, ``OTEL_LOGS_EXPORTER``).

Operators set these for every OpenTelemetry SDK they run, so FerroGate honours them
rather than inventing config keys. They are read once: the sampler by each worker
(sampling is decided where the trace id is made, so the ``traceparent`` sent upstream
carries the decision), the signals by the control process. A value FerroGate cannot
act on is never silently ignored: it gives a warning (``validate`` and ``run``) that
says what happens instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

import msgspec

TRACE_ID_LOW_BITS: Final = (1 << 64) - 1
"""The trace id bits a ratio decision reads (the W3C advice: the low 64 are random)."""
_RATIO_SCALE: Final = 1 << 64

Root = Literal["on", "off", "ratio"]
_ROOTS: Final[dict[str, Root]] = {"always_on": "on", "always_off": "off", "traceidratio": "ratio"}


class TraceSampler(msgspec.Struct, frozen=True):
    """Which requests' spans are recorded. ``parent_based``: a caller's ``traceparent``
    decides for its request (its sampled flag); otherwise, and for new traces, ``root``
    does: ``on``, ``off``, or ``ratio`` (a trace is sampled when its low 64 bits are
    below ``bound``, so every service with the same ratio agrees on the same traces)."""

    root: Root = "on"
    parent_based: bool = True
    bound: int = _RATIO_SCALE

    def sampled(self, trace_low: int, parent_sampled: bool | None) -> bool:
        """The decision for a trace whose id's low 64 bits are ``trace_low``; a caller's
        flag (``parent_sampled``, None for a new trace) wins when parent-based."""
        if parent_sampled is not None and self.parent_based:
            return parent_sampled
        root = self.root
        if root == "on":
            return True
        if root == "off":
            return False
        return trace_low < self.bound


class OtelSettings(msgspec.Struct, frozen=True):
    """What the OpenTelemetry variables ask for, once understood."""

    sampler: TraceSampler = TraceSampler()
    traces: bool = True
    metrics: bool = True
    logs: bool = True
    warnings: tuple[str, ...] = ()


def ratio_bound(ratio: float) -> int:
    """The low-64-bit bound under which a trace is sampled at ``ratio`` (0..1)."""
    return round(ratio * _RATIO_SCALE)


def otel_settings(env: Mapping[str, str]) -> OtelSettings:
    """Read the variables from ``env``; unusable values become warnings, never errors
    (the same variables steer the operator's other services, so refusing to start over
    one would be out of proportion)."""
    warnings: list[str] = []
    sampler = _sampler(env, warnings)
    return OtelSettings(
        sampler=sampler,
        traces=_exporter(env, "OTEL_TRACES_EXPORTER", warnings),
        metrics=_exporter(env, "OTEL_METRICS_EXPORTER", warnings),
        logs=_exporter(env, "OTEL_LOGS_EXPORTER", warnings),
        warnings=tuple(warnings),
    )


def _sampler(env: Mapping[str, str], warnings: list[str]) -> TraceSampler:
    name = env.get("OTEL_TRACES_SAMPLER", "").strip().lower()
    if not name:
        return TraceSampler()
    parent_based = name.startswith("parentbased_")
    root = _ROOTS.get(name.removeprefix("parentbased_"))
    if root is None:
        warnings.append(
            f"OTEL_TRACES_SAMPLER={name!r} is not supported (always_on, always_off, traceidratio and their"
            " parentbased_ forms are): traces are sampled as parentbased_always_on"
        )
        return TraceSampler()
    bound = _RATIO_SCALE
    if root == "ratio":
        bound = ratio_bound(_ratio(env.get("OTEL_TRACES_SAMPLER_ARG"), warnings))
    return TraceSampler(root=root, parent_based=parent_based, bound=bound)


def _ratio(arg: str | None, warnings: list[str]) -> float:
    if arg is None or not arg.strip():
        return 1.0
    try:
        ratio = float(arg)
    except ValueError:
        ratio = -1.0
    if not 0.0 <= ratio <= 1.0:  # also NaN
        warnings.append(f"OTEL_TRACES_SAMPLER_ARG={arg.strip()!r} is not a ratio between 0 and 1: every trace is sampled")
        return 1.0
    return ratio


def _exporter(env: Mapping[str, str], variable: str, warnings: list[str]) -> bool:
    """Whether the signal is sent: ``otlp`` (the default) yes, ``none`` no."""
    names = {n.strip().lower() for n in env.get(variable, "").split(",") if n.strip()}
    if not names:
        return True
    if "none" in names:
        return False
    other = sorted(names - {"otlp"})
    if other:
        warnings.append(
            f"{variable}: {', '.join(other)} not supported (FerroGate sends OTLP/HTTP to"
            " telemetry.otlp_endpoint, or nothing with `none`)"
            + ("" if "otlp" in names else ": the signal is sent over OTLP")
        )
    return True
