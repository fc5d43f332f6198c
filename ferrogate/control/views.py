"""The JSON shapes the admin API serves about the node (``/admin/v1/status``, ``/drain``).

Kept apart from :mod:`ferrogate.control.state`, which fills them: these are the
API's contract, that is the process's memory.
"""

from __future__ import annotations

import msgspec

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


class DrainView(msgspec.Struct, frozen=True, kw_only=True):
    draining: bool
    since: float | None


def age(now: float, since: float) -> float:
    """Seconds from ``since`` to ``now`` as shown (never negative, millisecond steps)."""
    return round(max(0.0, now - since), 3)
