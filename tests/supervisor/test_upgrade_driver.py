"""The old supervisor's upgrade driver refuses what it must refuse, without starting anything."""

from __future__ import annotations

from types import SimpleNamespace

from ferrogate.supervisor.arbiter import Mode
from ferrogate.supervisor.handoff import UpgradePhase
from ferrogate.supervisor.upgrade import UpgradeDriver


class StubArbiter:
    def __init__(self, mode: Mode = Mode.RUNNING, roll: object | None = None) -> None:
        self.mode = mode
        self.roll = roll
        self.replies: list[tuple[int | None, bool, str]] = []
        self.outcomes: list[object] = []
        self.status_dirty = False

    def reply_upgrade(self, reply_id, ok, message):
        self.replies.append((reply_id, ok, message))

    def record_upgrade(self, outcome):
        self.outcomes.append(outcome)


def test_a_second_upgrade_while_one_is_in_flight_is_refused():
    arb = StubArbiter()
    driver = UpgradeDriver(arb)  # type: ignore[arg-type]
    driver.successor = SimpleNamespace(pid=4242, phase=UpgradePhase.TABLE_SENT)  # type: ignore[assignment]
    driver.start(reply_id=5)
    assert arb.replies == [(5, False, "an upgrade is already in flight (new supervisor pid 4242); refused")]
    assert driver.successor.pid == 4242  # the running upgrade is untouched


def test_an_upgrade_during_a_rolling_reload_is_refused_and_recorded():
    arb = StubArbiter(roll=object())
    driver = UpgradeDriver(arb)  # type: ignore[arg-type]
    driver.start(reply_id=None)
    assert driver.successor is None
    assert arb.replies[0][1] is False
    assert driver.last_outcome is not None and not driver.last_outcome.ok
    assert "reloading" in driver.last_outcome.reason


def test_an_upgrade_while_still_booting_is_refused():
    arb = StubArbiter(mode=Mode.BOOTING)
    driver = UpgradeDriver(arb)  # type: ignore[arg-type]
    driver.start(reply_id=1)
    assert driver.successor is None
    assert arb.replies == [(1, False, "supervisor is starting; upgrade refused")]
