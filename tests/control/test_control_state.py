"""ControlState: merging the supervisor's worker table with what workers report, and readiness."""

from __future__ import annotations

from pathlib import Path

import msgspec

from ferrogate import ipc
from ferrogate.config.model import Cluster, Config
from ferrogate.control.state import ControlState, resolve_node_id


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _state(clock: FakeClock | None = None, **kwargs: object) -> ControlState:
    return ControlState(
        Config(),
        Path("/etc/ferrogate/Caddyfile"),
        7,
        env={},
        pid=555,
        clock=clock or FakeClock(),
        **kwargs,  # type: ignore[arg-type]
    )


def _slot(
    slot: int, pid: int, state: ipc.WorkerPhase = ipc.WorkerPhase.STARTING, started_at: float = 990.0
) -> ipc.WorkerSlotInfo:
    return ipc.WorkerSlotInfo(slot=slot, pid=pid, generation=7, state=state, started_at=started_at)


def _status(*workers: ipc.WorkerSlotInfo, expected: int = 2) -> ipc.SupervisorStatus:
    return ipc.SupervisorStatus(
        pid=1,
        generation=7,
        started_at=900.0,
        phase="running",
        config_revision="r",
        config_path="/etc/ferrogate/Caddyfile",
        expected_workers=expected,
        workers=list(workers),
    )


def _hello(pid: int, slot: int) -> ipc.WorkerHello:
    return ipc.WorkerHello(pid=pid, slot=slot, generation=7, started_at=990.0, config_revision="r")


def test_node_id_auto_prefers_the_environment_then_the_host_name() -> None:
    assert resolve_node_id(Cluster(node_id="edge-1"), {"FERROGATE_NODE_ID": "x"}) == "edge-1"
    assert resolve_node_id(Cluster(), {"FERROGATE_NODE_ID": "pod-7"}) == "pod-7"
    assert resolve_node_id(Cluster(), {}) != ""


def test_not_ready_until_the_supervisor_table_is_known() -> None:
    ready, reason = _state().readiness()
    assert not ready
    assert "supervisor" in reason


def test_ready_once_every_slot_has_a_worker_that_acked_ready() -> None:
    state = _state()
    state.on_supervisor_status(_status(_slot(0, 11), _slot(1, 12)))
    for pid, slot in ((11, 0), (12, 1)):
        state.on_worker_hello(_hello(pid, slot))
    state.on_worker_state(ipc.WorkerState(pid=11, state="ready"))
    assert state.readiness() == (False, "1 of 2 worker slots ready")
    state.on_worker_state(ipc.WorkerState(pid=12, state="ready"))
    assert state.readiness() == (True, "2 of 2 worker slots ready")


def test_the_supervisor_reporting_ready_is_enough_without_worker_acks() -> None:
    state = _state()
    state.on_supervisor_status(_status(_slot(0, 11, "ready"), _slot(1, 12, "ready")))
    assert state.readiness()[0]


def test_draining_makes_the_node_not_ready() -> None:
    state = _state()
    state.on_supervisor_status(_status(_slot(0, 11, "ready"), _slot(1, 12, "ready")))
    assert state.set_draining(True)
    assert state.readiness() == (False, "draining")
    assert not state.set_draining(True)


def test_a_worker_the_supervisor_reports_exited_stays_exited_whatever_it_last_said() -> None:
    state = _state()
    state.on_worker_hello(_hello(11, 0))
    state.on_worker_state(ipc.WorkerState(pid=11, state="ready"))
    state.on_supervisor_status(_status(_slot(0, 11, "exited")))
    [row] = state.worker_views()
    assert row.state == "exited"
    assert row.uptime_secs == 0.0


def test_worker_views_join_supervisor_rows_with_heartbeats() -> None:
    clock = FakeClock(1000.0)
    state = _state(clock)
    state.on_supervisor_status(
        _status(_slot(1, 12, "ready"), _slot(0, 11, "ready", started_at=940.0))
    )
    state.on_worker_hello(_hello(11, 0))
    state.on_heartbeat(ipc.Heartbeat(pid=11, ts=998.0, inflight=4, connections=9))
    rows = state.worker_views()
    assert [(r.slot, r.pid) for r in rows] == [(0, 11), (1, 12)]
    first = rows[0]
    assert (first.inflight, first.connections, first.heartbeat_age_secs) == (4, 9, 2.0)
    assert first.uptime_secs == 60.0
    assert first.connected
    assert rows[1].inflight is None and not rows[1].connected


def test_reports_of_workers_gone_from_the_supervisor_table_are_forgotten() -> None:
    state = _state()
    state.on_worker_hello(_hello(11, 0))
    state.on_worker_disconnect(11)
    state.on_supervisor_status(_status(_slot(0, 13)))
    assert 11 not in state.workers


def test_without_a_supervisor_the_view_lists_connected_workers() -> None:
    state = _state(expected_workers=1)
    state.on_worker_hello(_hello(21, 0))
    state.on_worker_state(ipc.WorkerState(pid=21, state="ready"))
    assert [(r.pid, r.state) for r in state.worker_views()] == [(21, "ready")]
    assert state.readiness()[0]


def test_status_view_reports_identity_config_and_uptime() -> None:
    clock = FakeClock(1000.0)
    state = _state(clock)
    clock.now = 1012.5
    view = state.status_view()
    assert (view.pid, view.generation, view.uptime_secs) == (555, 7, 12.5)
    assert view.config_revision == ipc.config_revision(Config())
    assert view.config_source == "/etc/ferrogate/Caddyfile"
    assert view.supervisor is None


def test_a_reload_outcome_settles_the_request_it_answers_and_no_other() -> None:
    state = _state()
    state.note_reload_requested("r2", Path("/etc/ferrogate/Caddyfile"), 7)
    state.note_reload_outcome(6, ipc.ReloadOutcome(ok=True, revision="r2"))
    assert state.last_reload is not None and state.last_reload.outcome == "pending"
    state.note_reload_outcome(7, ipc.ReloadOutcome(ok=False, revision="r1", errors=["rolled back"]))
    assert (state.last_reload.outcome, state.last_reload.errors) == ("failed", ["rolled back"])
    assert state.last_reload.revision == "r2"  # the revision that was asked for


def test_noting_the_same_reload_again_keeps_its_outcome() -> None:
    state = _state()
    state.note_reload_requested("r3", Path("/etc/ferrogate/Caddyfile"), 9)
    state.note_reload_outcome(9, ipc.ReloadOutcome(ok=False, revision="r1", errors=["listen changed"]))
    state.note_reload_requested("r3", Path("/etc/ferrogate/Caddyfile"), 9)  # the admin handler, resuming
    assert state.last_reload is not None
    assert (state.last_reload.outcome, state.last_reload.errors) == ("failed", ["listen changed"])


def test_status_view_shows_the_supervisors_last_reload_outcome() -> None:
    state = _state()
    outcome = ipc.ReloadOutcome(
        ok=False, revision="r2", errors=["gw.toml:3:1: unknown key `x`"], seq=3, at=1.0
    )
    state.on_supervisor_status(msgspec.structs.replace(_status(), last_reload=outcome))
    view = state.status_view()
    assert view.supervisor is not None
    assert view.supervisor.last_reload == outcome


def test_status_view_shows_each_workers_ai_request_counts_and_their_sum() -> None:
    state = _state()
    state.on_supervisor_status(_status(_slot(0, 11, "ready"), _slot(1, 12, "ready")))
    for pid, slot in ((11, 0), (12, 1)):
        state.on_worker_hello(_hello(pid, slot))
    first = ipc.RequestCounts(requests=3, errors=1, prompt_tokens=30, completion_tokens=9, cost=0.5)
    second = ipc.RequestCounts(requests=2, streamed=2, prompt_tokens=4, completion_tokens=6, cost=0.25)
    state.on_heartbeat(ipc.Heartbeat(pid=11, ts=999.0, inflight=0, connections=1, ai_requests=first))
    state.on_heartbeat(ipc.Heartbeat(pid=12, ts=999.0, inflight=0, connections=1, ai_requests=second))
    view = state.status_view()
    assert [w.ai_requests for w in view.workers] == [first, second]
    assert view.ai_requests == first + second


def test_a_worker_that_has_not_beaten_yet_shows_no_counts_and_adds_none() -> None:
    state = _state()
    state.on_supervisor_status(_status(_slot(0, 11, "ready")))
    state.on_worker_hello(_hello(11, 0))
    view = state.status_view()
    assert view.workers[0].ai_requests is None
    assert view.ai_requests == ipc.RequestCounts()
