"""What the supervisor's decisions read, and the intents they answer with.

A decision (a process-local reload, a graceful upgrade: :mod:`.reload`,
:mod:`.upgrade`) is a plain object. It reads a :class:`View`, a frozen snapshot
the arbiter takes of itself, and answers with a list of intents. The arbiter
alone carries them out (it forks, signals, swaps the running config, records
outcomes and answers callers), in order, and tells the decision what became of
them: the pid an intent started (:meth:`Decision.started`), or why one could
not be carried out (:meth:`Decision.failed`, which ends that batch). Facts only
the arbiter sees (a worker exited, the successor sent a message) reach a
decision through its own methods. So a decision is tested with plain data, and
nothing but the arbiter writes the arbiter's state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from ferrogate.ipc import ReloadOutcome, WorkerPhase
from ferrogate.supervisor.pidfile import UpgradeOutcome
from ferrogate.supervisor.running import Candidate


class Mode(StrEnum):
    """The supervisor's own phase (its workers have theirs: :class:`WorkerPhase`)."""

    BOOTING = "starting"
    AWAITING_CUTOVER = "awaiting_cutover"  # ready, waiting for the predecessor to hand over
    RUNNING = "running"
    STOPPING = "stopping"


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    pid: int
    slot: int
    revision: str
    phase: WorkerPhase


@dataclass(frozen=True, slots=True)
class View:
    """The arbiter as a decision may see it: a snapshot, rebuilt before every step."""

    mode: Mode
    revision: str  # of the config running now
    drain_secs: float  # how long a drained worker may finish (graceful_shutdown_timeout_secs)
    current: Sequence[WorkerInfo | None]  # each slot's current worker
    workers: Sequence[WorkerInfo] = ()  # every live worker, current or not
    reloading: bool = False
    upgrading: bool = False

    @property
    def slot_count(self) -> int:
        return len(self.current)

    def worker(self, pid: int) -> WorkerInfo | None:
        return next((w for w in self.workers if w.pid == pid), None)


# --------------------------------------------------------------------------- workers


@dataclass(frozen=True, slots=True)
class Spawn:
    """Fork a worker for ``slot`` with the running config, beside the slot's current one."""

    slot: int


@dataclass(frozen=True, slots=True)
class Promote:
    """``pid`` becomes the current worker of ``slot`` (respawned if it dies)."""

    slot: int
    pid: int


@dataclass(frozen=True, slots=True)
class Drain:
    """SIGTERM ``pid`` now and SIGKILL it at ``deadline`` if it is still there."""

    pid: int
    deadline: float


@dataclass(frozen=True, slots=True)
class Kill:
    pid: int


# --------------------------------------------------------------------------- the running config


@dataclass(frozen=True, slots=True)
class SwitchConfig:
    """Run ``candidate``: its listener table and a fresh control process, keeping the
    config it replaces (and its control process) to restore or release."""

    candidate: Candidate


@dataclass(frozen=True, slots=True)
class RestoreConfig:
    """Go back to the config the last switch replaced; the switch's control process stops."""


@dataclass(frozen=True, slots=True)
class ReleaseRetired:
    """Close the sockets no table uses any more, and stop a replaced control process by
    ``deadline``."""

    deadline: float


# --------------------------------------------------------------------------- graceful upgrade


@dataclass(frozen=True, slots=True)
class Launch:
    """Start a successor supervisor on a hand-off channel."""


@dataclass(frozen=True, slots=True)
class SendTable:
    """Hand the successor every listening socket."""


@dataclass(frozen=True, slots=True)
class SendCutOver:
    """Tell the successor it is live now, and close the channel."""


@dataclass(frozen=True, slots=True)
class HandOver:
    """Stop this generation: ``pid`` serves from now on."""

    pid: int


@dataclass(frozen=True, slots=True)
class Dismiss:
    """Drop the successor ``pid``: close the channel and, unless it has exited, SIGTERM it
    and SIGKILL it at ``kill_at``."""

    pid: int
    kill_at: float | None


# --------------------------------------------------------------------------- outcomes


@dataclass(frozen=True, slots=True)
class Finish:
    """Record the outcome and answer the callers that asked (their request ids)."""

    outcome: ReloadOutcome | UpgradeOutcome
    replies: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Refuse:
    """Answer upgrade requests with a refusal, recording nothing (one is in flight)."""

    replies: tuple[int, ...]
    message: str


@dataclass(frozen=True, slots=True)
class Note:
    """A line for the supervisor's log."""

    message: str
    error: bool = False


Intent = (
    Spawn
    | Promote
    | Drain
    | Kill
    | SwitchConfig
    | RestoreConfig
    | ReleaseRetired
    | Launch
    | SendTable
    | SendCutOver
    | HandOver
    | Dismiss
    | Finish
    | Refuse
    | Note
)


class Decision(Protocol):
    """What the arbiter drives: advance until it asks for nothing, then wait for news."""

    @property
    def done(self) -> bool: ...

    def advance(self, view: View, now: float) -> list[Intent]: ...

    def started(self, intent: Intent, pid: int) -> None:
        """``intent`` (a Spawn, a Launch) started process ``pid``."""

    def failed(self, intent: Intent, reason: str) -> None:
        """``intent`` could not be carried out; the rest of its batch was dropped."""
