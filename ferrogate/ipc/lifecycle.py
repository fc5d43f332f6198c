"""The lifecycle words every FerroGate process shares: a worker's phases and the exit codes.

A worker's phase only moves forward, along :data:`TRANSITIONS`. The supervisor
tracks it (it sees the fork, the READY ack, the drain signal and the reap), the
worker reports it to the control process, and the control process merges the
two views by keeping the :func:`later` phase. Exit codes are what a process
tells its parent: one enum, so no two meanings share a number.
"""

from __future__ import annotations

import os
from enum import IntEnum, StrEnum


class WorkerPhase(StrEnum):
    STARTING = "starting"  # forked; not serving until it acks READY
    READY = "ready"  # acked: serving on its slot's sockets
    DRAINING = "draining"  # told to stop: accepts nothing new, finishes what it has
    EXITED = "exited"  # gone (reaped by the supervisor, or said so on its way out)


TRANSITIONS: dict[WorkerPhase, frozenset[WorkerPhase]] = {
    WorkerPhase.STARTING: frozenset({WorkerPhase.READY, WorkerPhase.DRAINING, WorkerPhase.EXITED}),
    WorkerPhase.READY: frozenset({WorkerPhase.DRAINING, WorkerPhase.EXITED}),
    WorkerPhase.DRAINING: frozenset({WorkerPhase.EXITED}),
    WorkerPhase.EXITED: frozenset(),
}
"""The phases each phase may move to; anything else is a stale or out-of-order report."""


def _reachable(phase: WorkerPhase) -> frozenset[WorkerPhase]:
    out: set[WorkerPhase] = set()
    todo = [phase]
    while todo:
        for nxt in TRANSITIONS[todo.pop()]:
            if nxt not in out:
                out.add(nxt)
                todo.append(nxt)
    return frozenset(out)


_AFTER = {phase: _reachable(phase) for phase in WorkerPhase}


def can_move(current: WorkerPhase, to: WorkerPhase) -> bool:
    """Whether ``current`` may become ``to`` in one step."""
    return to in TRANSITIONS[current]


def later(a: WorkerPhase, b: WorkerPhase) -> bool:
    """Whether ``a`` comes after ``b`` (merging two views of a worker keeps the later)."""
    return a in _AFTER[b]


class ExitCode(IntEnum):
    """Exit codes of the supervisor, its workers and its control process."""

    OK = 0
    CONFIG_ERROR = 1  # supervisor: the config file is invalid
    STARTUP_FAILED = 2  # supervisor: listeners, the hand-off or the pid file
    BOOT_ERROR = 3  # a worker or the control process could not start serving; the
    # supervisor stops respawning on a worker's and exits with it
    CRASH_LOOP = 4  # supervisor: workers kept dying before they acked READY
    ORPHANED = 5  # control process: its supervisor went away


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
