"""Process-local reload, decided: judge the new config first, then roll workers slot by slot.

A reload is transactional. The config file is loaded before anything changes
(into a :class:`~ferrogate.supervisor.running.Candidate`) and refused when it
is invalid or would change the public listener (listen addresses, TLS settings
or certificate files: that needs a graceful upgrade); the running config stays
and every error is reported. An unchanged config is a no-op. A valid change
switches the running config (its listener table and a fresh control process)
and then replaces each slot's worker, new before old: the new worker starts on
the slot's *same* socket, and only once it has acked READY is the old one
drained. If a new worker cannot start, the roll stops, the previous config is
restored and the slots already rolled are rolled back.

:class:`Reload` only decides (see :mod:`~ferrogate.supervisor.intents`); the
arbiter carries out what it asks for.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum

from ferrogate.ipc import ReloadOutcome, WorkerPhase
from ferrogate.supervisor.intents import (
    Drain,
    Finish,
    Intent,
    Kill,
    Note,
    Promote,
    ReleaseRetired,
    RestoreConfig,
    Spawn,
    SwitchConfig,
    View,
)
from ferrogate.supervisor.running import Candidate

NEW_WORKER_READY_SECS = 30.0
LISTENER_CHANGE_REFUSED = (
    "the new config changes the public listener, which a process-local reload"
    " cannot do; apply it with `ferrogate reload --graceful-upgrade`"
    " (the running config stays)"
)


class Stage(StrEnum):
    JUDGING = "judging"
    ROLLING = "rolling"
    ROLLING_BACK = "rolling_back"
    DONE = "done"


@dataclass(slots=True)
class _Step:
    """One slot being replaced: its old worker, and the new one once forked."""

    slot: int
    old: int
    deadline: float
    new: int | None = None
    died: str | None = None  # why the new worker went before it was ready


class Reload:
    """One reload, from judging the candidate to the last slot rolled (or rolled back)."""

    def __init__(self, candidate: Candidate, replies: tuple[int, ...] = ()) -> None:
        self.candidate = candidate
        self.replies = replies  # request ids waiting for the outcome
        self.stage = Stage.JUDGING
        self.target = candidate.revision  # what the slots are being rolled to
        self.previous = ""  # the revision running when the reload began
        self.rolled: list[int] = []
        self._pending: deque[int] = deque()
        self._step: _Step | None = None
        self._switch_failed: str | None = None

    @property
    def done(self) -> bool:
        return self.stage is Stage.DONE

    @property
    def replacing_slot(self) -> int | None:
        """The slot whose worker is being replaced now (the arbiter does not respawn it)."""
        return self._step.slot if self._step is not None else None

    # -- facts

    def started(self, intent: Intent, pid: int) -> None:
        if isinstance(intent, Spawn) and self._step is not None and self._step.slot == intent.slot:
            self._step.new = pid

    def failed(self, intent: Intent, reason: str) -> None:
        if isinstance(intent, SwitchConfig):
            self._switch_failed = reason
        elif isinstance(intent, Spawn) and self._step is not None:
            self._step.died = reason

    def worker_exited(self, pid: int, why: str) -> None:
        if self._step is not None and self._step.new == pid:
            self._step.died = why

    def stop(self) -> list[Intent]:
        """The supervisor is stopping: answer the callers still waiting."""
        stage, self.stage, self._step = self.stage, Stage.DONE, None
        if stage in (Stage.JUDGING, Stage.ROLLING):
            stopped = ReloadOutcome(ok=False, revision=self.target, errors=["supervisor stopping"])
            return [Finish(stopped, self.replies)]
        return []

    # -- decisions

    def advance(self, view: View, now: float) -> list[Intent]:
        if self.stage is Stage.JUDGING:
            return self._judge(view)
        if self.stage is Stage.DONE:
            return []
        if self._switch_failed is not None:
            self.stage = Stage.DONE
            failed = ReloadOutcome(ok=False, revision=self.previous, errors=[self._switch_failed])
            return [Finish(failed, self.replies)]
        return self._roll(view, now)

    def _judge(self, view: View) -> list[Intent]:
        candidate = self.candidate
        self.previous = view.revision
        self.stage = Stage.DONE
        if candidate.config is None:
            invalid = ReloadOutcome(ok=False, revision=view.revision, errors=list(candidate.errors))
            return [Finish(invalid, self.replies)]
        if candidate.listener_changes:
            # Named by the refused revision so an admin caller waiting on it sees the refusal.
            refused = ReloadOutcome(
                ok=False,
                revision=candidate.revision,
                message="listener change refused",
                errors=[LISTENER_CHANGE_REFUSED, *candidate.listener_changes],
            )
            return [Finish(refused, self.replies)]
        if candidate.revision == view.revision:
            same = ReloadOutcome(ok=True, revision=candidate.revision, message="config unchanged")
            return [Finish(same, self.replies)]
        self.stage = Stage.ROLLING
        self._pending = deque(range(view.slot_count))
        return [Note(f"reloading: revision {view.revision} -> {candidate.revision}"), SwitchConfig(candidate)]

    def _roll(self, view: View, now: float) -> list[Intent]:
        step = self._step
        if step is not None:
            return self._watch(step, view, now)
        while self._pending:
            index = self._pending.popleft()
            current = view.current[index]
            if current is None or current.revision == self.target:
                continue  # an empty slot respawns with the running config anyway
            self._step = _Step(index, current.pid, now + NEW_WORKER_READY_SECS)
            return [Spawn(index)]
        rolling_back, self.stage = self.stage is Stage.ROLLING_BACK, Stage.DONE
        release = ReleaseRetired(now + view.drain_secs)
        if rolling_back:
            return [Note(f"roll-back to revision {self.target} complete"), release]
        applied = ReloadOutcome(ok=True, revision=self.target, message=f"applied revision {self.target}")
        return [release, Finish(applied, self.replies)]

    def _watch(self, step: _Step, view: View, now: float) -> list[Intent]:
        """The slot's new worker: promote it once ready; give up if it dies or is late."""
        if step.died is not None:
            return self._fail(f"new worker {step.new} for slot {step.slot} died before it was ready ({step.died})")
        new = view.worker(step.new) if step.new is not None else None
        if new is not None and new.phase is WorkerPhase.READY:
            self._step = None
            self.rolled.append(step.slot)
            current = view.current[step.slot]
            drain: list[Intent] = []
            if current is not None and current.pid == step.old:
                drain.append(Drain(step.old, now + view.drain_secs))
            return [*drain, Promote(step.slot, new.pid)]
        if now > step.deadline:
            kill: list[Intent] = [Kill(step.new)] if step.new is not None else []
            late = f"new worker {step.new} for slot {step.slot} not ready within {NEW_WORKER_READY_SECS:.0f}s"
            return kill + self._fail(late)
        return []

    def _fail(self, reason: str) -> list[Intent]:
        """Stop rolling: restore the previous config and roll the rolled slots back to it."""
        self._step = None
        if self.stage is Stage.ROLLING_BACK:
            self.stage = Stage.DONE
            return [Note(f"roll-back failed: {reason}", error=True)]
        self.stage = Stage.ROLLING_BACK
        self.target = self.previous
        self._pending, self.rolled = deque(self.rolled), []
        failed = ReloadOutcome(ok=False, revision=self.previous, errors=[reason], message="reload rolled back")
        return [RestoreConfig(), Finish(failed, self.replies)]
