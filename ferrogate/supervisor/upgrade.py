"""The old supervisor's side of a graceful upgrade (SIGUSR2).

Launch the new supervisor with the hand-off channel, answer its table
request, and wait for its ``ready`` within a deadline. Only then does this
generation cut over: it tells the successor, stops accepting and drains. Any
failure before that (the successor's own report, its exit, the deadline)
leaves this generation serving exactly as before. One upgrade at a time.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from typing import TYPE_CHECKING

from ferrogate.ipc import ExitCode
from ferrogate.supervisor.handoff import (
    CutOver,
    HandoffError,
    Successor,
    SuccessorFailed,
    SuccessorReady,
    TableRequest,
    UpgradeListener,
    UpgradePhase,
    recv_message,
    send_message,
    send_table,
)
from ferrogate.supervisor.pidfile import UpgradeOutcome
from ferrogate.supervisor.slots import decode_status

if TYPE_CHECKING:
    import socket

    from ferrogate.supervisor.arbiter import Arbiter

log = logging.getLogger("ferrogate.supervisor")

UPGRADE_DEADLINE_SECS = 60.0
KILL_AFTER_SECS = 10.0


class UpgradeDriver:
    def __init__(self, arb: Arbiter) -> None:
        self.arb = arb
        self.successor: Successor | None = None
        self.reply_id: int | None = None
        self.seq = 0
        self.last_outcome: UpgradeOutcome | None = None
        self._doomed: dict[int, float] = {}  # failed successors: pid -> SIGKILL time

    @property
    def in_flight(self) -> bool:
        return self.successor is not None and self.successor.phase not in (UpgradePhase.CUT_OVER, UpgradePhase.FAILED)

    def fds(self) -> list[int]:
        return [self.successor.channel.fileno()] if self.in_flight and self.successor else []

    def closables(self) -> list[socket.socket]:
        return [self.successor.channel] if self.successor is not None else []

    def _record(self, phase: UpgradePhase, ok: bool, reason: str, new_pid: int | None) -> None:
        self.seq += 1
        self.last_outcome = UpgradeOutcome(seq=self.seq, phase=phase.value, ok=ok, reason=reason, new_pid=new_pid)
        self.arb.record_upgrade(self.last_outcome)

    def start(self, reply_id: int | None) -> None:
        from ferrogate.supervisor.arbiter import Mode

        if self.in_flight:
            assert self.successor is not None
            reason = f"an upgrade is already in flight (new supervisor pid {self.successor.pid}); refused"
            log.warning("%s", reason)
            self.arb.reply_upgrade(reply_id, False, reason)
            return
        if self.arb.mode is not Mode.RUNNING or self.arb.roll is not None:
            reason = f"supervisor is {self.arb.mode.value}{' and reloading' if self.arb.roll else ''}; upgrade refused"
            self._record(UpgradePhase.FAILED, False, reason, None)
            self.arb.reply_upgrade(reply_id, False, reason)
            return
        argv = [
            sys.executable, "-m", "ferrogate", "run",
            "--config", str(self.arb.config_path), "--workers", str(self.arb.workers),
        ]
        try:
            self.successor = Successor.launch(argv, os.environ, UPGRADE_DEADLINE_SECS)
        except OSError as exc:
            reason = f"cannot start the new supervisor: {exc}"
            self._record(UpgradePhase.FAILED, False, reason, None)
            self.arb.reply_upgrade(reply_id, False, reason)
            return
        self.reply_id = reply_id
        log.info("graceful upgrade: started new supervisor %d", self.successor.pid)
        self.arb.status_dirty = True

    def accept(self, listener: UpgradeListener) -> None:
        """A supervisor started by someone else connected to the hand-off path."""
        from ferrogate.supervisor.arbiter import Mode

        conn = listener.accept()
        if conn is None:
            return
        busy = self.in_flight or self.arb.mode is not Mode.RUNNING or self.arb.roll is not None
        if busy:
            reason = "an upgrade or reload is in flight" if self.arb.mode is Mode.RUNNING else f"supervisor is {self.arb.mode.value}"
            log.warning("refused a hand-off request on %s: %s", listener.path, reason)
            try:
                send_message(conn, SuccessorFailed(reason))
            except OSError:
                pass
            conn.close()
            return
        self.successor = Successor(conn, UPGRADE_DEADLINE_SECS)
        self.reply_id = None
        log.info("graceful upgrade: supervisor %d connected on %s", self.successor.pid, listener.path)
        self.arb.status_dirty = True

    def on_readable(self) -> None:
        succ = self.successor
        if succ is None:
            return
        try:
            msg, fds = recv_message(succ.channel, 0.0)
        except (HandoffError, OSError) as exc:
            self.fail(f"new supervisor {succ.pid} went away before it was ready ({exc})")
            return
        for fd in fds:
            os.close(fd)
        if isinstance(msg, TableRequest):
            send_table(succ.channel, self.arb.table, self.arb.generation + 1)
            succ.phase = UpgradePhase.TABLE_SENT
            log.info("graceful upgrade: handed %d listeners to %d", len(self.arb.table.sockets), succ.pid)
        elif isinstance(msg, SuccessorFailed):
            self.fail(f"new supervisor {succ.pid} failed: {msg.reason}")
        elif isinstance(msg, SuccessorReady):
            try:
                send_message(succ.channel, CutOver(self.arb.pid))
            except OSError as exc:
                self.fail(f"lost the new supervisor at cut-over: {exc}")
                return
            succ.phase = UpgradePhase.CUT_OVER
            self._record(UpgradePhase.CUT_OVER, True, f"handed over to pid {succ.pid}", succ.pid)
            self.arb.reply_upgrade(self.reply_id, True, f"new supervisor {succ.pid} is live")
            succ.close()
            self.arb.begin_stop(f"handed over to pid {succ.pid}", ExitCode.OK, handed_over=True)
        else:
            self.fail(f"unexpected message from the new supervisor: {type(msg).__name__}")

    def tick(self, now: float) -> None:
        succ = self.successor
        if self.in_flight and succ is not None and now > succ.deadline:
            self.fail(f"new supervisor {succ.pid} not ready within {UPGRADE_DEADLINE_SECS:.0f}s")
        for pid, when in list(self._doomed.items()):
            if now >= when:
                self.arb.terminate(pid, signal.SIGKILL)
                del self._doomed[pid]

    def on_child_exit(self, pid: int, status: int) -> None:
        self._doomed.pop(pid, None)
        succ = self.successor
        if succ is None or succ.pid != pid or succ.proc is None:
            return
        succ.proc.returncode = os.waitstatus_to_exitcode(status)
        if self.in_flight:
            self.fail(f"new supervisor {pid} exited before it was ready ({decode_status(status)})")

    def fail(self, reason: str) -> None:
        succ = self.successor
        if succ is None or not self.in_flight:
            return
        succ.phase = UpgradePhase.FAILED
        succ.close()
        if not succ.exited:
            self.arb.terminate(succ.pid)
            self._doomed[succ.pid] = time.monotonic() + KILL_AFTER_SECS
        self._record(UpgradePhase.FAILED, False, reason, None)
        self.arb.reply_upgrade(self.reply_id, False, reason)
        self.successor = None

    def abandon(self) -> None:
        if self.in_flight:
            self.fail("supervisor stopping")
