"""What the control process knows about the node, and the views the admin API serves.

Two sources feed the worker table. The supervisor's :class:`SupervisorStatus`
is authoritative for *which* workers exist (only it sees a worker die); the
workers' own messages (hello, state, heartbeat) add what only they know
(in-flight requests, connections, their config revision, their ready ack).
Lifecycle states only move forward, so merging keeps the later of the two.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from ferrogate import __version__
from ferrogate.config.model import Config
from ferrogate.config.node_identity import resolve_node_id
from ferrogate.control.provider_health import ProviderHealthView, provider_health_view
from ferrogate.control.views import (
    CertificateView,
    DrainView,
    ReloadView,
    StatusView,
    SupervisorView,
    WorkerView,
    age,
)
from ferrogate.ipc import (
    Heartbeat,
    ProviderHealth,
    ReloadOutcome,
    RequestCounts,
    SupervisorStatus,
    WorkerHello,
    WorkerPhase,
    WorkerState,
    config_revision,
    later,
)

if TYPE_CHECKING:
    from ferrogate.control.cluster_state import CatchUp

Clock = Callable[[], float]


@dataclass(slots=True)
class WorkerReport:
    """What one worker said about itself over IPC."""

    pid: int
    slot: int
    generation: int
    started_at: float
    config_revision: str
    state: WorkerPhase = WorkerPhase.STARTING
    inflight: int = 0
    connections: int = 0
    streams: int = 0
    ai_requests: RequestCounts | None = None  # from the last heartbeat
    last_heartbeat: float | None = None
    connected: bool = True


# --------------------------------------------------------------------------- the state


class ControlState:
    """The control process's view of the node; mutated only from its event loop."""

    __slots__ = (
        "_clock",
        "catch_up",
        "certificates",
        "config",
        "config_loaded_at",
        "config_path",
        "drain_since",
        "draining",
        "env",
        "expected_workers",
        "generation",
        "last_reload",
        "last_reload_id",
        "node_id",
        "pid",
        "provider_health",
        "revision",
        "started_at",
        "supervisor",
        "supervisor_connected",
        "workers",
    )

    def __init__(
        self,
        config: Config,
        config_path: Path,
        generation: int,
        *,
        env: Mapping[str, str] | None = None,
        pid: int | None = None,
        expected_workers: int | None = None,
        clock: Clock = time.time,
    ) -> None:
        self._clock = clock
        self.env: Mapping[str, str] = os.environ if env is None else env
        self.pid = os.getpid() if pid is None else pid
        self.generation = generation
        self.started_at = clock()
        self.expected_workers = expected_workers
        self.supervisor: SupervisorStatus | None = None
        self.supervisor_connected = False
        self.workers: dict[int, WorkerReport] = {}
        # The latest breaker report per connected worker pid (dropped when it disconnects).
        self.provider_health: dict[int, ProviderHealth] = {}
        self.draining = False
        self.drain_since: float | None = None
        # cluster.enabled with a shared state: not ready until it has been read (control.cluster_state).
        self.catch_up: CatchUp | None = None
        self.last_reload: ReloadView | None = None
        self.last_reload_id: int | None = None  # the request whose outcome last_reload awaits
        self.config = config
        self.config_path = config_path
        self.certificates: Callable[[], list[CertificateView]] | None = None  # set when ACME renews here
        self.revision = config_revision(config)
        self.config_loaded_at = self.started_at
        self.node_id = resolve_node_id(config.cluster, self.env)

    def now(self) -> float:
        return self._clock()

    # -- reloads (the config itself is fixed: a reload starts a new control process)

    def note_reload_requested(
        self, revision: str | None, config_path: Path, request_id: int | None
    ) -> None:
        """A reload the supervisor took (``request_id`` None: asked by a signal). Noting the same
        request again (the link notes it on its verdict, the admin handler when it resumes)
        keeps what is known, its outcome included."""
        if request_id is not None and request_id == self.last_reload_id:
            return
        self.last_reload = ReloadView(
            revision=revision,
            config_path=str(config_path),
            requested_at=self._clock(),
            outcome="pending",
        )
        self.last_reload_id = request_id

    def note_reload_outcome(self, request_id: int, outcome: ReloadOutcome) -> None:
        if self.last_reload is not None and self.last_reload_id == request_id:
            self.last_reload = msgspec.structs.replace(
                self.last_reload,
                outcome="applied" if outcome.ok else "failed",
                errors=outcome.errors,
            )

    # -- drain

    def set_draining(self, draining: bool) -> bool:
        """Set the drain flag; True when it changed."""
        if draining == self.draining:
            return False
        self.draining = draining
        self.drain_since = self._clock() if draining else None
        return True

    def drain_view(self) -> DrainView:
        return DrainView(draining=self.draining, since=self.drain_since)

    # -- worker and supervisor messages

    def on_worker_hello(self, msg: WorkerHello) -> None:
        report = self.workers.get(msg.pid)
        if report is None:
            self.workers[msg.pid] = WorkerReport(
                pid=msg.pid,
                slot=msg.slot,
                generation=msg.generation,
                started_at=msg.started_at,
                config_revision=msg.config_revision,
            )
        else:  # a reconnect: keep what we knew, refresh what the worker restated
            report.config_revision = msg.config_revision
            report.connected = True

    def on_worker_state(self, msg: WorkerState) -> None:
        report = self.workers.get(msg.pid)
        if report is not None:
            report.state = msg.state

    def on_heartbeat(self, msg: Heartbeat) -> None:
        report = self.workers.get(msg.pid)
        if report is not None:
            report.inflight = msg.inflight
            report.connections = msg.connections
            report.streams = msg.streams
            report.ai_requests = msg.ai_requests
            report.last_heartbeat = msg.ts

    def on_provider_health(self, msg: ProviderHealth) -> None:
        """Keep a worker's latest breaker report; only from a worker that said hello."""
        report = self.workers.get(msg.pid)
        if report is not None and report.connected:
            self.provider_health[msg.pid] = msg

    def on_worker_disconnect(self, pid: int) -> None:
        # A gone worker's breakers no longer turn traffic away: forget them at once.
        self.provider_health.pop(pid, None)
        report = self.workers.get(pid)
        if report is not None:
            report.connected = False
            if self.supervisor is not None and all(w.pid != pid for w in self.supervisor.workers):
                del self.workers[pid]

    def on_supervisor_status(self, msg: SupervisorStatus) -> None:
        self.supervisor = msg
        self.supervisor_connected = True
        known = {w.pid for w in msg.workers}
        for pid in [p for p, r in self.workers.items() if p not in known and not r.connected]:
            del self.workers[pid]

    # -- views

    def worker_views(self) -> list[WorkerView]:
        now = self._clock()
        rows: list[WorkerView] = []
        if self.supervisor is not None:
            for slot_info in self.supervisor.workers:
                report = self.workers.get(slot_info.pid)
                state = slot_info.state
                if report is not None and later(report.state, state):
                    state = report.state
                rows.append(
                    _view(
                        now,
                        slot=slot_info.slot,
                        pid=slot_info.pid,
                        generation=slot_info.generation,
                        state=state,
                        started_at=slot_info.started_at,
                        report=report,
                        restarts=slot_info.restarts,
                        last_exit_code=slot_info.last_exit_code,
                    )
                )
        else:
            for report in self.workers.values():
                rows.append(
                    _view(
                        now,
                        slot=report.slot,
                        pid=report.pid,
                        generation=report.generation,
                        state=report.state,
                        started_at=report.started_at,
                        report=report,
                    )
                )
        rows.sort(key=lambda r: (r.slot, r.generation, r.pid))
        return rows

    def provider_health_view(self) -> ProviderHealthView:
        return provider_health_view(self.provider_health, self._clock())

    def readiness(self) -> tuple[bool, str]:
        """(ready, reason): ready when every worker slot has a worker that acked ready."""
        if self.draining:
            return False, "draining"
        if self.catch_up is not None and self.catch_up.catching_up:
            return False, "catching up with the cluster's shared state"
        expected = self.supervisor.expected_workers if self.supervisor else self.expected_workers
        if expected is None:
            return False, "waiting for the supervisor's worker table"
        ready_slots = {w.slot for w in self.worker_views() if w.state == WorkerPhase.READY}
        if expected <= 0 or len(ready_slots) < expected:
            return False, f"{len(ready_slots)} of {expected} worker slots ready"
        return True, f"{len(ready_slots)} of {expected} worker slots ready"

    def status_view(self) -> StatusView:
        now = self._clock()
        ready, reason = self.readiness()
        workers = self.worker_views()
        total = RequestCounts()
        for row in workers:
            if row.ai_requests is not None:
                total += row.ai_requests
        supervisor = None
        if self.supervisor is not None:
            sup = self.supervisor
            supervisor = SupervisorView(
                pid=sup.pid,
                generation=sup.generation,
                phase=sup.phase,
                connected=self.supervisor_connected,
                expected_workers=sup.expected_workers,
                uptime_secs=age(now, sup.started_at),
                last_reload=sup.last_reload,
            )
        return StatusView(
            version=__version__,
            node_id=self.node_id,
            pid=self.pid,
            generation=self.generation,
            started_at=self.started_at,
            uptime_secs=age(now, self.started_at),
            config_revision=self.revision,
            config_source=str(self.config_path),
            config_loaded_at=self.config_loaded_at,
            ready=ready,
            ready_reason=reason,
            draining=self.draining,
            supervisor=supervisor,
            workers=workers,
            ai_requests=total,
            last_reload=self.last_reload,
            certificates=self.certificates() if self.certificates is not None else [],
        )



def _view(
    now: float,
    *,
    slot: int,
    pid: int,
    generation: int,
    state: WorkerPhase,
    started_at: float,
    report: WorkerReport | None,
    restarts: int = 0,
    last_exit_code: int | None = None,
) -> WorkerView:
    heartbeat_age = None
    if report is not None and report.last_heartbeat is not None:
        heartbeat_age = age(now, report.last_heartbeat)
    return WorkerView(
        slot=slot,
        pid=pid,
        generation=generation,
        state=state,
        started_at=started_at,
        uptime_secs=0.0 if state == WorkerPhase.EXITED else age(now, started_at),
        connected=report is not None and report.connected,
        config_revision=report.config_revision if report else None,
        inflight=report.inflight if report else None,
        connections=report.connections if report else None,
        ai_requests=report.ai_requests if report else None,
        heartbeat_age_secs=heartbeat_age,
        restarts=restarts,
        last_exit_code=last_exit_code,
        rss_bytes=None if state == WorkerPhase.EXITED else resident_bytes(pid),
    )


_PAGE = os.sysconf("SC_PAGE_SIZE")


def resident_bytes(pid: int) -> int | None:
    """The process's resident memory (RSS) from /proc, None when it cannot be read."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None
