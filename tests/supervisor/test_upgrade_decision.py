"""The old supervisor's side of a graceful upgrade as a pure decision: what it asks for at each
step, what it refuses, and how it gives up. No process is started."""

from __future__ import annotations

from ferrogate.supervisor.handoff import (
    CutOver,
    SuccessorFailed,
    SuccessorReady,
    TableRequest,
    UpgradePhase,
)
from ferrogate.supervisor.intents import (
    Dismiss,
    Finish,
    HandOver,
    Launch,
    Mode,
    Refuse,
    SendCutOver,
    SendTable,
    View,
)
from ferrogate.supervisor.pidfile import UpgradeOutcome
from ferrogate.supervisor.upgrade import (
    KILL_AFTER_SECS,
    UPGRADE_DEADLINE_SECS,
    Upgrade,
    handoff_refusal,
    request_upgrade,
)

NOW = 500.0


def view(mode: Mode = Mode.RUNNING, *, reloading: bool = False, upgrading: bool = False) -> View:
    return View(mode, "r1", 5.0, [], reloading=reloading, upgrading=upgrading)


def launched(replies: tuple[int, ...] = (), pid: int = 4242) -> Upgrade:
    upgrade, refusal = request_upgrade(view(), None, replies, NOW)
    assert upgrade is not None and refusal == []
    assert upgrade.advance(view(upgrading=True), NOW) == [Launch()]
    upgrade.started(Launch(), pid)
    return upgrade


def failure(asked: list[object]) -> UpgradeOutcome:
    finish = asked[-1]
    assert isinstance(finish, Finish) and isinstance(finish.outcome, UpgradeOutcome)
    assert not finish.outcome.ok and finish.outcome.phase == UpgradePhase.FAILED
    return finish.outcome


def test_a_second_upgrade_while_one_is_in_flight_is_refused_and_the_first_untouched() -> None:
    first = launched()
    upgrade, refusal = request_upgrade(view(upgrading=True), first, (5,), NOW)
    assert upgrade is None
    assert refusal == [Refuse((5,), "an upgrade is already in flight (new supervisor pid 4242); refused")]
    assert first.in_flight and first.pid == 4242


def test_an_upgrade_during_a_rolling_reload_is_refused_and_recorded() -> None:
    upgrade, refusal = request_upgrade(view(reloading=True), None, (), NOW)
    assert upgrade is None
    assert "reloading" in failure(refusal).reason  # type: ignore[arg-type]


def test_an_upgrade_while_still_booting_is_refused() -> None:
    upgrade, refusal = request_upgrade(view(Mode.BOOTING), None, (1,), NOW)
    assert upgrade is None
    assert failure(refusal).reason == "supervisor is starting; upgrade refused"  # type: ignore[arg-type]
    assert refusal[-1].replies == (1,)  # type: ignore[attr-defined]


def test_an_upgrade_launches_its_successor_once() -> None:
    upgrade = launched()
    assert upgrade.phase is UpgradePhase.LAUNCHED
    assert upgrade.advance(view(upgrading=True), NOW) == []


def test_the_listener_table_goes_to_the_successor_when_it_asks() -> None:
    upgrade = launched()
    upgrade.received(TableRequest(pid=4242))
    assert upgrade.advance(view(upgrading=True), NOW) == [SendTable()]
    assert upgrade.phase is UpgradePhase.TABLE_SENT
    assert upgrade.advance(view(upgrading=True), NOW) == []


def test_this_generation_cuts_over_and_hands_over_only_once_the_successor_is_ready() -> None:
    upgrade = launched((8,))
    upgrade.received(TableRequest(pid=4242))
    upgrade.advance(view(upgrading=True), NOW)
    upgrade.received(SuccessorReady(pid=4242))
    cut, finish, hand_over = upgrade.advance(view(upgrading=True), NOW)
    assert cut == SendCutOver()
    assert isinstance(finish, Finish) and finish.replies == (8,)
    assert finish.outcome == UpgradeOutcome(
        seq=0, phase="cut_over", ok=True, reason="handed over to pid 4242", new_pid=4242
    )
    assert hand_over == HandOver(4242)
    assert upgrade.done


def test_a_launch_that_fails_is_recorded_and_nothing_is_dismissed() -> None:
    upgrade, _ = request_upgrade(view(), None, (2,), NOW)
    assert upgrade is not None
    upgrade.advance(view(upgrading=True), NOW)
    upgrade.failed(Launch(), "No such file or directory")
    asked = upgrade.advance(view(upgrading=True), NOW)
    assert len(asked) == 1
    assert failure(asked).reason == "cannot start the new supervisor: No such file or directory"  # type: ignore[arg-type]
    assert upgrade.done


def test_a_successor_that_reports_failure_is_dismissed_and_the_failure_recorded() -> None:
    upgrade = launched()
    upgrade.received(SuccessorFailed(reason="invalid config: max_body_bytes"))
    asked = upgrade.advance(view(upgrading=True), NOW)
    assert asked[0] == Dismiss(4242, NOW + KILL_AFTER_SECS)
    assert failure(asked).reason == "new supervisor 4242 failed: invalid config: max_body_bytes"  # type: ignore[arg-type]


def test_a_successor_that_already_exited_is_not_signalled_again() -> None:
    upgrade = launched()
    upgrade.exited(4242, "exit code 1")
    asked = upgrade.advance(view(upgrading=True), NOW)
    assert asked[0] == Dismiss(4242, None)
    assert "exited before it was ready (exit code 1)" in failure(asked).reason  # type: ignore[arg-type]


def test_an_unrelated_child_exiting_changes_nothing() -> None:
    upgrade = launched()
    upgrade.exited(777, "exit code 0")
    assert upgrade.advance(view(upgrading=True), NOW) == []


def test_a_successor_not_ready_within_the_deadline_is_given_up() -> None:
    upgrade = launched()
    late = NOW + UPGRADE_DEADLINE_SECS + 1
    asked = upgrade.advance(view(upgrading=True), late)
    assert asked[0] == Dismiss(4242, late + KILL_AFTER_SECS)
    assert failure(asked).reason == "new supervisor 4242 not ready within 60s"  # type: ignore[arg-type]


def test_a_cut_over_message_that_cannot_be_sent_is_a_failure_not_a_hand_over() -> None:
    upgrade = launched()
    upgrade.received(SuccessorReady(pid=4242))
    upgrade.advance(view(upgrading=True), NOW)
    upgrade.failed(SendCutOver(), "Broken pipe")
    assert upgrade.in_flight
    asked = upgrade.advance(view(upgrading=True), NOW)
    assert failure(asked).reason == "lost the new supervisor at cut-over: Broken pipe"  # type: ignore[arg-type]


def test_an_unexpected_message_from_the_successor_fails_the_upgrade() -> None:
    upgrade = launched()
    upgrade.received(CutOver(old_pid=1))
    asked = upgrade.advance(view(upgrading=True), NOW)
    assert failure(asked).reason == "unexpected message from the new supervisor: CutOver"  # type: ignore[arg-type]


def test_the_first_failure_is_the_one_recorded() -> None:
    upgrade = launched()
    upgrade.channel_lost("Connection reset by peer")
    upgrade.exited(4242, "exit code 1")
    asked = upgrade.advance(view(upgrading=True), NOW)
    assert "went away before it was ready (Connection reset by peer)" in failure(asked).reason  # type: ignore[arg-type]


def test_stopping_gives_up_an_upgrade_in_flight() -> None:
    upgrade = launched((3,))
    asked = upgrade.stop(NOW)
    assert failure(asked).reason == "supervisor stopping"  # type: ignore[arg-type]
    assert upgrade.stop(NOW) == []


def test_a_supervisor_that_connects_on_its_own_is_adopted_as_launched() -> None:
    upgrade = Upgrade(NOW, successor=999)
    assert upgrade.phase is UpgradePhase.LAUNCHED
    assert upgrade.advance(view(upgrading=True), NOW) == []


def test_a_hand_off_request_is_turned_away_while_busy_or_not_running() -> None:
    assert handoff_refusal(view()) is None
    assert handoff_refusal(view(upgrading=True)) == "an upgrade or reload is in flight"
    assert handoff_refusal(view(reloading=True)) == "an upgrade or reload is in flight"
    assert handoff_refusal(view(Mode.STOPPING)) == "supervisor is stopping"
