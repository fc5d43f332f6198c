"""Worker slots and the processes that fill them.

A slot is a fixed position (0..N-1) that owns one socket per public listener;
its worker comes and goes. During a roll a slot briefly has two processes:
the new one STARTING (not yet acked) and the old one DRAINING (the phases are
:class:`ferrogate.ipc.WorkerPhase`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from ferrogate.ipc import WorkerPhase, can_move


@dataclass(slots=True, eq=False)
class WorkerProc:
    pid: int
    slot: int
    revision: str
    report_fd: int  # read end of the worker's report pipe; -1 once closed
    state: WorkerPhase = WorkerPhase.STARTING  # moved only by move_to
    spawned_at: float = field(default_factory=time.monotonic)
    last_beat: float = field(default_factory=time.monotonic)
    ready_at: float | None = None
    kill_deadline: float | None = None  # SIGKILL when a drain or abort overruns this
    aborted: bool = False  # already sent SIGABRT for a stale heartbeat
    exit_status: int | None = None

    def move_to(self, phase: WorkerPhase) -> bool:
        """Enter ``phase`` if the transition table allows it from here; False if not."""
        if not can_move(self.state, phase):
            return False
        self.state = phase
        return True

    def close_pipe(self) -> None:
        if self.report_fd >= 0:
            try:
                os.close(self.report_fd)
            except OSError:
                pass
            self.report_fd = -1


@dataclass(slots=True)
class WorkerSlot:
    index: int
    current: WorkerProc | None = None
    respawn_at: float | None = None  # when the slot's worker should be (re)started


def decode_status(status: int) -> str:
    """A wait status in words, for logs."""
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    if os.WIFEXITED(status):
        return f"exit code {os.WEXITSTATUS(status)}"
    return f"status {status}"


def exit_code_of(status: int) -> int | None:
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
