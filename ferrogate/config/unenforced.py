"""Settings that load and validate but do nothing at run time yet, each said out loud.

A gateway that accepts a rate limit and ignores it is worse than one that refuses
it, but refusing would break configs written for the original FerroGate. So every
such setting gives one warning, with its file:line, from ``ferrogate validate`` and
in ``ferrogate run``'s start-up log. Each entry below is deleted by the change that
enforces its setting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ferrogate.config.diagnostics import Diagnostic, ModelPath, SourceMap, format_path
from ferrogate.config.model import Config


@dataclass(frozen=True, slots=True)
class _Unenforced:
    """Where a setting is set in a config, and what is missing for it to take effect."""

    find: Callable[[Config], Iterator[ModelPath]]
    why: str


def _when(
    path: ModelPath, test: Callable[[Config], bool]
) -> Callable[[Config], Iterator[ModelPath]]:
    def find(config: Config) -> Iterator[ModelPath]:
        if test(config):
            yield path

    return find


UNENFORCED: tuple[_Unenforced, ...] = (
    _Unenforced(
        _when(("telemetry", "log_bodies"), lambda c: c.telemetry.log_bodies),
        "body logging is not built yet",
    ),
    _Unenforced(
        _when(("cluster", "enabled"), lambda c: c.cluster.enabled and c.cluster.shared_state == "local"),
        "without a shared state (state_backend or state_file) there is nothing for a node to catch up with"
        " before it is ready; what nodes share is chosen by counter_backend and state_backend",
    ),
    _Unenforced(
        _when(("tls", "acme", "auto_graceful_reload"), lambda c: c.tls.acme.enabled and not c.tls.acme.auto_graceful_reload),
        "a renewed certificate always goes to new connections at once, with no reload: there is no reload to"
        " leave to the operator",
    ),
    _Unenforced(
        _when(("tls", "http2"), lambda c: c.tls.http2), "the listener speaks HTTP/1.1 only"
    ),
)


def unenforced_warnings(config: Config, smap: SourceMap) -> list[Diagnostic]:
    """One warning per setting of ``config`` that has no effect at run time yet."""
    out: list[Diagnostic] = []
    for entry in UNENFORCED:
        for path in entry.find(config):
            out.append(
                smap.diagnostic(
                    path, f"`{format_path(path)}` is accepted but has no effect: {entry.why}"
                )
            )
    return out
