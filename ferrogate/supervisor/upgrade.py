"""The old supervisor's side of a graceful upgrade (SIGUSR2), decided.

Launch the new supervisor with the hand-off channel (or adopt one that
connected to the configured hand-off path), hand it the listener table when it
asks, and wait for its ``ready`` within a deadline. Only then does this
generation cut over: it tells the successor and stops, drained. Any failure
before that (the successor's own report, its exit, a broken channel, the
deadline) leaves this generation serving exactly as before. One upgrade at a
time, and none while a reload rolls.

:class:`Upgrade` only decides (see :mod:`~ferrogate.supervisor.intents`); the
arbiter owns the channel and carries out what it asks for.
"""

from __future__ import annotations

from ferrogate.supervisor.handoff import (
    Message,
    SuccessorFailed,
    SuccessorReady,
    TableRequest,
    UpgradePhase,
)
from ferrogate.supervisor.intents import (
    Dismiss,
    Finish,
    HandOver,
    Intent,
    Launch,
    Mode,
    Refuse,
    SendCutOver,
    SendTable,
    View,
)
from ferrogate.supervisor.pidfile import UpgradeOutcome

UPGRADE_DEADLINE_SECS = 60.0
KILL_AFTER_SECS = 10.0


def request_upgrade(
    view: View, current: Upgrade | None, replies: tuple[int, ...], now: float
) -> tuple[Upgrade | None, list[Intent]]:
    """An upgrade asked for (SIGUSR2, the admin API): a new decision, or the refusal."""
    if current is not None and current.in_flight:
        return None, [
            Refuse(replies, f"an upgrade is already in flight (new supervisor pid {current.pid}); refused")
        ]
    if view.mode is not Mode.RUNNING or view.reloading:
        reason = f"supervisor is {view.mode.value}{' and reloading' if view.reloading else ''}; upgrade refused"
        return None, [Finish(UpgradeOutcome(seq=0, phase=UpgradePhase.FAILED.value, ok=False, reason=reason), replies)]
    return Upgrade(now, replies), []


def handoff_refusal(view: View) -> str | None:
    """Why a supervisor that connected to the hand-off path on its own must be turned away."""
    if view.mode is not Mode.RUNNING:
        return f"supervisor is {view.mode.value}"
    if view.upgrading or view.reloading:
        return "an upgrade or reload is in flight"
    return None


class Upgrade:
    """One graceful upgrade, from launching the successor to cutting over (or giving up)."""

    def __init__(self, now: float, replies: tuple[int, ...] = (), *, successor: int | None = None) -> None:
        self.replies = replies
        self.deadline = now + UPGRADE_DEADLINE_SECS
        self.pid = successor  # set once launched, or given when the successor connected itself
        self.phase = UpgradePhase.IDLE if successor is None else UpgradePhase.LAUNCHED
        self._launching = False
        self._table_asked = False
        self._ready = False
        self._exited = False
        self._failure: str | None = None

    @property
    def in_flight(self) -> bool:
        return self.phase not in (UpgradePhase.CUT_OVER, UpgradePhase.FAILED)

    @property
    def done(self) -> bool:
        return not self.in_flight

    # -- facts

    def started(self, intent: Intent, pid: int) -> None:
        if isinstance(intent, Launch):
            self.pid = pid
            self.phase = UpgradePhase.LAUNCHED

    def failed(self, intent: Intent, reason: str) -> None:
        if isinstance(intent, Launch):
            self._fail_once(f"cannot start the new supervisor: {reason}")
        elif isinstance(intent, SendCutOver):
            self.phase = UpgradePhase.TABLE_SENT  # not cut over after all
            self._fail_once(f"lost the new supervisor at cut-over: {reason}")
        else:
            self.channel_lost(reason)

    def received(self, msg: Message) -> None:
        """A message from the successor."""
        if isinstance(msg, TableRequest):
            self._table_asked = True
        elif isinstance(msg, SuccessorReady):
            self._ready = True
        elif isinstance(msg, SuccessorFailed):
            self._fail_once(f"new supervisor {self.pid} failed: {msg.reason}")
        else:
            self._fail_once(f"unexpected message from the new supervisor: {type(msg).__name__}")

    def channel_lost(self, reason: str) -> None:
        self._fail_once(f"new supervisor {self.pid} went away before it was ready ({reason})")

    def exited(self, pid: int, why: str) -> None:
        if pid == self.pid:
            self._exited = True
            self._fail_once(f"new supervisor {pid} exited before it was ready ({why})")

    def stop(self, now: float) -> list[Intent]:
        """The supervisor is stopping: give up an upgrade still in flight."""
        if not self.in_flight:
            return []
        return self._give_up(now, "supervisor stopping")

    def _fail_once(self, reason: str) -> None:
        if self._failure is None and self.in_flight:
            self._failure = reason

    # -- decisions

    def advance(self, view: View, now: float) -> list[Intent]:
        if not self.in_flight:
            return []
        if self._failure is not None:
            return self._give_up(now, self._failure)
        if self.phase is UpgradePhase.IDLE:
            if self._launching:
                return []
            self._launching = True
            return [Launch()]
        assert self.pid is not None
        if self._ready:
            self.phase = UpgradePhase.CUT_OVER
            outcome = UpgradeOutcome(
                seq=0, phase=self.phase.value, ok=True, reason=f"handed over to pid {self.pid}", new_pid=self.pid
            )
            return [SendCutOver(), Finish(outcome, self.replies), HandOver(self.pid)]
        if self._table_asked and self.phase is UpgradePhase.LAUNCHED:
            self.phase = UpgradePhase.TABLE_SENT
            return [SendTable()]
        if now > self.deadline:
            return self._give_up(now, f"new supervisor {self.pid} not ready within {UPGRADE_DEADLINE_SECS:.0f}s")
        return []

    def _give_up(self, now: float, reason: str) -> list[Intent]:
        self.phase = UpgradePhase.FAILED
        dismiss: list[Intent] = []
        if self.pid is not None:
            dismiss.append(Dismiss(self.pid, None if self._exited else now + KILL_AFTER_SECS))
        failed = UpgradeOutcome(seq=0, phase=self.phase.value, ok=False, reason=reason)
        return [*dismiss, Finish(failed, self.replies)]
