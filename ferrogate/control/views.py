"""The JSON shapes the admin API serves about the node (``/admin/v1/status``, ``/drain``, ``/config/*``).

Kept apart from :mod:`ferrogate.control.state`, which fills them: these are the
API's contract, that is the process's memory.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from ferrogate.config.model import Model
from ferrogate.ipc import ReloadOutcome, RequestCounts, SupervisorPhase, WorkerPhase


class WorkerView(msgspec.Struct, frozen=True, kw_only=True):
    slot: int
    pid: int
    generation: int
    state: WorkerPhase
    started_at: float
    uptime_secs: float
    connected: bool
    config_revision: str | None = None
    inflight: int | None = None
    connections: int | None = None
    ai_requests: RequestCounts | None = None  # since the worker started (None until it beats)
    heartbeat_age_secs: float | None = None
    restarts: int = 0
    last_exit_code: int | None = None
    rss_bytes: int | None = None  # resident memory now (read from /proc on this node)


class SupervisorView(msgspec.Struct, frozen=True, kw_only=True):
    pid: int
    generation: int
    phase: SupervisorPhase
    connected: bool
    expected_workers: int
    uptime_secs: float
    last_reload: ReloadOutcome | None = None


class ReloadView(msgspec.Struct, frozen=True, kw_only=True):
    """The last reload the control process asked for, and its outcome when known."""

    revision: str | None  # None when a signal asked (the supervisor's last_reload tells)
    config_path: str
    requested_at: float
    outcome: str  # "pending" | "applied" | "failed"
    errors: list[str] = []


class StatusView(msgspec.Struct, frozen=True, kw_only=True):
    version: str
    node_id: str
    pid: int
    generation: int
    started_at: float
    uptime_secs: float
    config_revision: str
    config_source: str
    config_loaded_at: float
    ready: bool
    ready_reason: str
    draining: bool
    supervisor: SupervisorView | None
    workers: list[WorkerView]
    ai_requests: RequestCounts  # summed over the workers listed
    last_reload: ReloadView | None = None
    certificates: list[CertificateView] = []  # the ACME-managed ones, with their renewals


class CertificateView(msgspec.Struct, frozen=True, kw_only=True):
    """One managed certificate in the status (never its key)."""

    source: str  # acme
    domains: list[str]
    names: list[str]
    issuer: str | None
    serial: str | None
    not_after: str | None
    last_renewal_at: str | None
    last_renewal_result: str | None  # issued, failed
    last_renewal_error: str | None
    next_check_at: str | None
    reload_required: bool  # never: workers swap certificates in place


class DrainView(msgspec.Struct, frozen=True, kw_only=True):
    draining: bool
    since: float | None


def age(now: float, since: float) -> float:
    """Seconds from ``since`` to ``now`` as shown (never negative, millisecond steps)."""
    return round(max(0.0, now - since), 3)


class ConfigSource(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Body of config/validate (text + format) and config/reload (nothing, or the text of
    the running config file: the supervisor re-reads its own file). ``path`` is refused."""

    config: str | None = None
    format: Literal["toml", "caddyfile"] | None = None
    filename: str | None = None  # shown in diagnostics; a bare name, never a path
    path: str | None = None  # refused by validate (it reads no file named in a request)


class DiagnosticView(msgspec.Struct, frozen=True, kw_only=True):
    file: str
    line: int
    column: int
    message: str


class ConfigSummary(msgspec.Struct, frozen=True, kw_only=True):
    listen: list[str]
    admin_listen: str
    routes: int
    upstreams: int
    providers: int
    models: int
    api_keys: int
    policies: int
    mcp_servers: int


class ValidateView(msgspec.Struct, frozen=True, kw_only=True):
    valid: bool
    source: str
    format: str | None = None
    revision: str | None = None
    summary: ConfigSummary | None = None
    warnings: list[DiagnosticView] = []
    diagnostics: list[DiagnosticView] = []


class ReloadAccepted(msgspec.Struct, frozen=True, kw_only=True):
    """The supervisor took the reload. ``revision`` is what it loaded (None when a signal
    asked it: the outcome then shows in the status' ``supervisor.last_reload``)."""

    status: Literal["accepted"] = "accepted"
    revision: str | None
    previous_revision: str
    config_path: str
    delivered_via: Literal["ipc", "signal"]


class ModelsView(msgspec.Struct, frozen=True, kw_only=True):
    """``/admin/v1/models``: the logical models as configured (nothing secret is in a model)."""

    models: list[Model]
