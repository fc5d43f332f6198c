"""A process-local reload as a pure decision: given what the supervisor looks like, what it asks
for. No process is started; the test plays the arbiter (it feeds the pids intents started and
the views that follow)."""

from __future__ import annotations

from ferrogate.config.model import Config
from ferrogate.ipc import ReloadOutcome, WorkerPhase
from ferrogate.supervisor.intents import (
    Drain,
    Finish,
    Kill,
    Mode,
    Note,
    Promote,
    ReleaseRetired,
    RestoreConfig,
    Spawn,
    SwitchConfig,
    View,
    WorkerInfo,
)
from ferrogate.supervisor.reload import NEW_WORKER_READY_SECS, Reload
from ferrogate.supervisor.running import Candidate

NOW = 1000.0
DRAIN = 5.0
READY, STARTING = WorkerPhase.READY, WorkerPhase.STARTING


def worker(pid: int, slot: int, revision: str = "r1", phase: WorkerPhase = READY) -> WorkerInfo:
    return WorkerInfo(pid, slot, revision, phase)


def view(current: list[WorkerInfo | None], *extra: WorkerInfo, revision: str = "r1") -> View:
    live = [w for w in current if w is not None]
    return View(Mode.RUNNING, revision, DRAIN, current, (*live, *extra), reloading=True)


def valid(revision: str = "r2") -> Candidate:
    return Candidate(Config(), revision)


def switched(reload: Reload, current: list[WorkerInfo | None]) -> None:
    """Judge a valid candidate and let the switch happen."""
    asked = reload.advance(view(current), NOW)
    assert asked[-1] == SwitchConfig(reload.candidate)


def test_an_invalid_config_is_refused_with_every_error_and_nothing_else_happens() -> None:
    reload = Reload(Candidate(None, errors=("gw.toml:3:1: bad", "gw.toml:4:1: worse")), (7,))
    asked = reload.advance(view([worker(10, 0)]), NOW)
    refused = ReloadOutcome(ok=False, revision="r1", errors=["gw.toml:3:1: bad", "gw.toml:4:1: worse"])
    assert asked == [Finish(refused, (7,))]
    assert reload.done


def test_a_listener_change_is_refused_naming_the_graceful_upgrade_and_the_change() -> None:
    reload = Reload(Candidate(Config(), "r2", listener_changes=("listen: a -> b",)))
    [finish] = reload.advance(view([worker(10, 0)]), NOW)
    assert isinstance(finish, Finish) and isinstance(finish.outcome, ReloadOutcome)
    assert not finish.outcome.ok and finish.outcome.revision == "r2"
    assert "--graceful-upgrade" in finish.outcome.errors[0]
    assert finish.outcome.errors[1:] == ["listen: a -> b"]
    assert reload.done


def test_an_unchanged_config_finishes_ok_without_touching_a_worker() -> None:
    reload = Reload(valid("r1"))
    assert reload.advance(view([worker(10, 0)]), NOW) == [
        Finish(ReloadOutcome(ok=True, revision="r1", message="config unchanged"))
    ]


def test_a_valid_change_switches_the_config_before_any_worker() -> None:
    reload = Reload(valid())
    asked = reload.advance(view([worker(10, 0), worker(11, 1)]), NOW)
    assert asked == [Note("reloading: revision r1 -> r2"), SwitchConfig(valid())]
    assert not reload.done


def test_after_the_switch_the_first_slot_gets_a_new_worker_beside_the_old_one() -> None:
    reload = Reload(valid())
    current = [worker(10, 0), worker(11, 1)]
    switched(reload, current)
    assert reload.advance(view(current, revision="r2"), NOW) == [Spawn(0)]
    assert reload.replacing_slot == 0


def test_the_old_worker_drains_only_once_the_new_one_is_ready() -> None:
    reload = Reload(valid())
    current = [worker(10, 0), worker(11, 1)]
    switched(reload, current)
    reload.advance(view(current, revision="r2"), NOW)
    reload.started(Spawn(0), 20)
    assert reload.advance(view(current, worker(20, 0, "r2", STARTING), revision="r2"), NOW + 1) == []
    asked = reload.advance(view(current, worker(20, 0, "r2"), revision="r2"), NOW + 2)
    assert asked == [Drain(10, NOW + 2 + DRAIN), Promote(0, 20)]
    assert reload.replacing_slot is None


def test_slots_that_are_empty_or_already_on_the_new_revision_are_skipped() -> None:
    reload = Reload(valid())
    current = [None, worker(11, 1, "r2"), worker(12, 2)]
    switched(reload, current)
    assert reload.advance(view(current, revision="r2"), NOW) == [Spawn(2)]


def test_once_every_slot_runs_the_new_revision_the_replaced_config_is_released_and_the_reload_applied() -> None:
    reload = Reload(valid(), (3,))
    old = [worker(10, 0)]
    switched(reload, old)
    reload.advance(view(old, revision="r2"), NOW)
    reload.started(Spawn(0), 20)
    reload.advance(view(old, worker(20, 0, "r2"), revision="r2"), NOW)
    asked = reload.advance(view([worker(20, 0, "r2")], revision="r2"), NOW)
    applied = ReloadOutcome(ok=True, revision="r2", message="applied revision r2")
    assert asked == [ReleaseRetired(NOW + DRAIN), Finish(applied, (3,))]
    assert reload.done


def test_a_new_worker_whose_old_one_died_meanwhile_is_promoted_without_a_drain() -> None:
    reload = Reload(valid())
    switched(reload, [worker(10, 0)])
    reload.advance(view([worker(10, 0)], revision="r2"), NOW)
    reload.started(Spawn(0), 20)
    assert reload.advance(view([None], worker(20, 0, "r2"), revision="r2"), NOW) == [Promote(0, 20)]


def test_a_new_worker_that_dies_before_ready_restores_the_previous_config_and_reports_why() -> None:
    reload = Reload(valid(), (5,))
    current = [worker(10, 0)]
    switched(reload, current)
    reload.advance(view(current, revision="r2"), NOW)
    reload.started(Spawn(0), 20)
    reload.worker_exited(20, "exit code 3")
    asked = reload.advance(view(current, revision="r2"), NOW)
    failed = ReloadOutcome(
        ok=False,
        revision="r1",
        errors=["new worker 20 for slot 0 died before it was ready (exit code 3)"],
        message="reload rolled back",
    )
    assert asked == [RestoreConfig(), Finish(failed, (5,))]


def test_with_nothing_rolled_yet_rolling_back_only_releases_the_switch() -> None:
    reload = Reload(valid())
    current = [worker(10, 0)]
    switched(reload, current)
    reload.advance(view(current, revision="r2"), NOW)
    reload.started(Spawn(0), 20)
    reload.worker_exited(20, "killed by signal 9")
    reload.advance(view(current, revision="r2"), NOW)
    asked = reload.advance(view(current), NOW)
    assert asked == [Note("roll-back to revision r1 complete"), ReleaseRetired(NOW + DRAIN)]
    assert reload.done


def test_slots_already_rolled_are_rolled_back_to_the_previous_revision() -> None:
    reload = Reload(valid())
    current = [worker(10, 0), worker(11, 1)]
    switched(reload, current)
    reload.advance(view(current, revision="r2"), NOW)
    reload.started(Spawn(0), 20)
    reload.advance(view(current, worker(20, 0, "r2"), revision="r2"), NOW)  # slot 0 rolled
    rolled = [worker(20, 0, "r2"), worker(11, 1)]
    assert reload.advance(view(rolled, revision="r2"), NOW) == [Spawn(1)]
    reload.started(Spawn(1), 21)
    reload.worker_exited(21, "exit code 3")
    assert reload.advance(view(rolled, revision="r2"), NOW)[0] == RestoreConfig()
    assert reload.advance(view(rolled), NOW) == [Spawn(0)]  # back to r1, the running config again


def test_a_new_worker_not_ready_in_time_is_killed_and_the_reload_rolls_back() -> None:
    reload = Reload(valid())
    current = [worker(10, 0)]
    switched(reload, current)
    reload.advance(view(current, revision="r2"), NOW)
    reload.started(Spawn(0), 20)
    late = NOW + NEW_WORKER_READY_SECS + 1
    asked = reload.advance(view(current, worker(20, 0, "r2", STARTING), revision="r2"), late)
    assert asked[:2] == [Kill(20), RestoreConfig()]
    assert isinstance(asked[2], Finish) and "not ready within 30s" in asked[2].outcome.errors[0]  # type: ignore[union-attr]


def test_a_roll_back_that_fails_too_ends_with_an_error_note() -> None:
    reload = Reload(valid())
    current = [worker(10, 0), worker(11, 1)]
    switched(reload, current)
    reload.advance(view(current, revision="r2"), NOW)
    reload.started(Spawn(0), 20)
    reload.advance(view(current, worker(20, 0, "r2"), revision="r2"), NOW)
    rolled = [worker(20, 0, "r2"), worker(11, 1)]
    reload.advance(view(rolled, revision="r2"), NOW)
    reload.started(Spawn(1), 21)
    reload.worker_exited(21, "exit code 3")
    reload.advance(view(rolled, revision="r2"), NOW)
    reload.advance(view(rolled), NOW)
    reload.started(Spawn(0), 30)
    reload.worker_exited(30, "exit code 1")
    [note] = reload.advance(view(rolled), NOW)
    assert isinstance(note, Note) and note.error and note.message.startswith("roll-back failed: ")
    assert reload.done


def test_a_switch_that_cannot_bind_reports_why_and_keeps_the_running_config() -> None:
    reload = Reload(valid(), (9,))
    switched(reload, [worker(10, 0)])
    reload.failed(SwitchConfig(valid()), "cannot bind 127.0.0.1:9: in use")
    asked = reload.advance(view([worker(10, 0)]), NOW)
    assert asked == [Finish(ReloadOutcome(ok=False, revision="r1", errors=["cannot bind 127.0.0.1:9: in use"]), (9,))]
    assert reload.done


def test_stopping_mid_roll_answers_the_callers_and_asks_for_nothing_more() -> None:
    reload = Reload(valid(), (4,))
    switched(reload, [worker(10, 0)])
    [finish] = reload.stop()
    assert finish == Finish(ReloadOutcome(ok=False, revision="r2", errors=["supervisor stopping"]), (4,))
    assert reload.done and reload.advance(view([worker(10, 0)]), NOW) == []


def test_stopping_during_a_roll_back_answers_nobody_twice() -> None:
    reload = Reload(valid(), (4,))
    switched(reload, [worker(10, 0)])
    reload.advance(view([worker(10, 0)], revision="r2"), NOW)
    reload.started(Spawn(0), 20)
    reload.worker_exited(20, "exit code 3")
    reload.advance(view([worker(10, 0)], revision="r2"), NOW)  # failed: callers answered
    assert reload.stop() == []
