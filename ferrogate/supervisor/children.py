"""The supervisor's children: workers in their slots, the control process, and their deadlines.

:class:`Children` forks workers and the control process, reads the workers'
one-byte reports, decides what a worker's exit means (respawn now, back off, or
halt the supervisor on a boot error or a crash loop), and polices deadlines: a
worker that never acks READY, one that stops beating, a drain or a successor
that overruns its SIGKILL time. It keeps the link to the control process too.
It never decides a reload or an upgrade; the arbiter tells it what to start
and stop.
"""

from __future__ import annotations

import logging
import os
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ferrogate import ipc
from ferrogate.cache.shm_store import ShmCache
from ferrogate.config.model import Config
from ferrogate.governance.counter_table import CounterTable
from ferrogate.ipc import ExitCode, WorkerPhase
from ferrogate.supervisor.control_link import ControlLink
from ferrogate.supervisor.listeners import ListenerTable, bound_address
from ferrogate.supervisor.slots import WorkerProc, WorkerSlot, decode_status, exit_code_of
from ferrogate.supervisor.spawn import Closable, control_available, fork_control, fork_worker
from ferrogate.worker_spec import WorkerReport

log = logging.getLogger("ferrogate.supervisor")

HEARTBEAT_TIMEOUT_SECS = 20.0
HEARTBEAT_TIMEOUT_ENV = "FERROGATE_WORKER_HEARTBEAT_TIMEOUT_SECS"
BOOT_TIMEOUT_SECS = 60.0
ABORT_TO_KILL_SECS = 2.0
MAX_BOOT_FAILURES = 5
CONTROL_RESPAWN_SECS = 1.0


def _env_seconds(name: str, default: float) -> float:
    """An operator override in seconds (a bad value keeps the default)."""
    try:
        value = float(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default


@dataclass(slots=True, eq=False)
class ControlProc:
    pid: int
    ipc_path: str
    started_at: float = field(default_factory=time.monotonic)
    kill_deadline: float | None = None


@dataclass(frozen=True, slots=True)
class Halt:
    """A worker's exit means the supervisor must stop, with this code and message."""

    code: ExitCode
    message: str


class Children:
    def __init__(
        self,
        slot_count: int,
        generation: int,
        config_path: Path,
        supervisor_pid: int,
        counters: CounterTable | None = None,
        cache: ShmCache | None = None,
    ) -> None:
        self.generation = generation
        self.config_path = config_path
        self.heartbeat_timeout = _env_seconds(HEARTBEAT_TIMEOUT_ENV, HEARTBEAT_TIMEOUT_SECS)
        self.slots = [WorkerSlot(i) for i in range(slot_count)]
        # The node's limit counters: created before the first fork (or handed over by the previous
        # generation), so every worker maps the same pages.
        self.counters = counters if counters is not None else CounterTable.create()
        # The node's answer cache, shared by its workers the same way (sized by the config at start).
        self.cache = cache
        self.restarts = [0] * slot_count
        self.last_exit: list[int | None] = [None] * slot_count
        self.procs: dict[int, WorkerProc] = {}
        self.boot_failures = 0  # workers in a row that died before READY
        self.control: ControlProc | None = None
        self.retired_controls: dict[int, ControlProc] = {}
        self.control_respawn_at: float | None = None
        self.runtime_dir = tempfile.mkdtemp(prefix=f"ferrogate-{supervisor_pid}-")
        self.link: ControlLink | None = None
        self._hello = ipc.SupervisorHello(pid=supervisor_pid, generation=generation)
        self._control_seq = 0
        self._doomed: dict[int, float] = {}  # pid -> when to SIGKILL it (not a worker or control)
        self.changed = True  # the worker table changed since the status was last published

    @property
    def alive(self) -> bool:
        return bool(self.procs) or self.control is not None or bool(self.retired_controls)

    def fds(self) -> list[int]:
        """What the supervisor's select waits on for its children."""
        fds = [p.report_fd for p in self.procs.values() if p.report_fd >= 0]
        if self.link is not None and self.link.connected:
            fds.append(self.link.fileno())
        return fds

    def closables(self) -> list[Closable]:
        items: list[Closable] = [p.report_fd for p in self.procs.values() if p.report_fd >= 0]
        if self.link is not None and self.link.sock is not None:
            items.append(self.link.sock)
        return items

    # ------------------------------------------------------------------ workers

    def spawn_worker(
        self, slot: int, config: Config, revision: str, table: ListenerTable, close: list[Closable], *, current: bool
    ) -> WorkerProc:
        admin = table.admin_socket()
        args = {
            "slot": slot,
            "generation": self.generation,
            "config": config,
            "config_path": self.config_path,
            "revision": revision,
            "sockets": tuple(table.slot_sockets(slot)),
            "public_addresses": tuple(str(a) for a in table.public_addresses()),
            "admin_address": str(bound_address(admin)) if admin is not None else None,
            "ipc_path": self.control.ipc_path if self.control else self._ipc_path(self._control_seq),
            "counters_fd": self.counters.fd,
            "cache_fd": self.cache.fd if self.cache is not None else -1,
        }
        pid, report_fd = fork_worker(args, close + self.closables())
        proc = WorkerProc(pid=pid, slot=slot, revision=revision, report_fd=report_fd)
        self.procs[pid] = proc
        self.slots[slot].respawn_at = None
        if current:
            self.slots[slot].current = proc
        self.changed = True
        log.info("spawned worker %d for slot %d (revision %s)", pid, slot, revision)
        return proc

    def promote(self, slot: int, pid: int) -> None:
        proc = self.procs.get(pid)
        if proc is not None:
            self.slots[slot].current = proc
            self.changed = True
            log.info("slot %d now runs revision %s (worker %d)", slot, proc.revision, pid)

    def read_report(self, fd: int) -> None:
        proc = next((p for p in self.procs.values() if p.report_fd == fd), None)
        if proc is None:
            return
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if not data:
            proc.close_pipe()  # EOF: the worker is gone; the reap tells us how
            return
        proc.last_beat = time.monotonic()
        if WorkerReport.READY.value in data and proc.state is WorkerPhase.STARTING:
            proc.move_to(WorkerPhase.READY)
            proc.ready_at = proc.last_beat
            self.boot_failures = 0
            self.changed = True
            log.info("worker %d (slot %d) ready", proc.pid, proc.slot)

    def drain(self, proc: WorkerProc, deadline: float) -> None:
        if proc.move_to(WorkerPhase.DRAINING):
            proc.kill_deadline = deadline
            self.terminate(proc.pid)
            self.changed = True

    def all_ready(self) -> bool:
        return all(s.current is not None and s.current.state is WorkerPhase.READY for s in self.slots)

    def due_respawns(self, now: float, skip: int | None) -> list[int]:
        """Empty slots whose respawn time has come (``skip``: a slot a reload is replacing)."""
        return [
            s.index
            for s in self.slots
            if s.index != skip and s.current is None and s.respawn_at is not None and s.respawn_at <= now
        ]

    def worker_exited(self, pid: int, status: int, *, stopping: bool) -> Halt | None:
        """Record a reaped worker; schedule its slot's respawn, or say why the supervisor halts."""
        proc = self.procs.pop(pid)
        was_draining = proc.state is WorkerPhase.DRAINING
        proc.move_to(WorkerPhase.EXITED)
        proc.exit_status = status
        proc.close_pipe()
        self.changed = True
        slot = self.slots[proc.slot]
        code = exit_code_of(status)
        self.last_exit[proc.slot] = code
        if slot.current is not proc:
            if was_draining:
                log.info("worker %d (slot %d) finished draining (%s)", proc.pid, proc.slot, decode_status(status))
            return None
        slot.current = None
        if stopping:
            return None
        self.restarts[proc.slot] += 1
        now = time.monotonic()
        if proc.ready_at is not None:
            log.warning("worker %d (slot %d) exited (%s); respawning", proc.pid, proc.slot, decode_status(status))
            slot.respawn_at = now
            return None
        self.boot_failures += 1
        log.error("worker %d (slot %d) died before it was ready (%s)", proc.pid, proc.slot, decode_status(status))
        if code == ExitCode.BOOT_ERROR:
            return Halt(
                ExitCode.BOOT_ERROR, f"worker for slot {proc.slot} failed to boot (exit code {code}); not respawning"
            )
        if self.boot_failures >= MAX_BOOT_FAILURES:
            return Halt(
                ExitCode.CRASH_LOOP, f"workers crash-looping at boot ({self.boot_failures} failures in a row); giving up"
            )
        slot.respawn_at = now + min(1.0, 0.05 * 2**self.boot_failures)
        return None

    # ------------------------------------------------------------------ the control process

    def _ipc_path(self, seq: int) -> str:
        return os.path.join(self.runtime_dir, f"control-{seq}.sock")

    def start_control(
        self, config: Config, table: ListenerTable, close: list[Closable], *, new_path: bool = False
    ) -> None:
        if not control_available():
            log.warning("control process not installed; the admin listener is not served")
            return
        if new_path:
            self._control_seq += 1
        path = self._ipc_path(self._control_seq)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        expected = len(self.slots)
        pid = fork_control(
            config,
            self.config_path,
            table.admin_socket(),
            path,
            self.generation,
            expected,
            close + self.closables(),
            counters_fd=self.counters.fd,
        )
        self.control = ControlProc(pid, path)
        self.control_respawn_at = None
        if self.link is None:
            self.link = ControlLink(path, self._hello)
        elif self.link.ipc_path != path:
            self.link.retarget(path)
        self.changed = True
        log.info("spawned control process %d (ipc %s)", pid, path)

    def retire_control(self) -> ControlProc | None:
        """Detach the current control process (the caller stops it when due)."""
        old, self.control = self.control, None
        if old is not None:
            self.retired_controls[old.pid] = old
        return old

    def reinstate_control(self, ctl: ControlProc) -> None:
        """Make a retired control process current again (a reload rolled back)."""
        self.retired_controls.pop(ctl.pid, None)
        self.control = ctl
        if self.link is not None:
            self.link.retarget(ctl.ipc_path)
        self.changed = True

    def stop_control(self, ctl: ControlProc, deadline: float) -> None:
        self.terminate(ctl.pid)
        ctl.kill_deadline = deadline

    def control_due(self, now: float) -> bool:
        """Whether the control process died and its restart is due."""
        return self.control is None and self.control_respawn_at is not None and now >= self.control_respawn_at

    def control_exited(self, pid: int, status: int, *, stopping: bool) -> bool:
        """Record a reaped control process; False when ``pid`` was none of ours."""
        if self.control is not None and self.control.pid == pid:
            self.control = None
            self.changed = True
            if stopping:
                log.info("control process %d exited (%s)", pid, decode_status(status))
            else:
                log.warning("control process %d exited (%s); restarting it", pid, decode_status(status))
                self.control_respawn_at = time.monotonic() + CONTROL_RESPAWN_SECS
            return True
        return self.retired_controls.pop(pid, None) is not None

    # ------------------------------------------------------------------ signals and deadlines

    def terminate(self, pid: int, sig: int = signal.SIGTERM) -> None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    def doom(self, pid: int, kill_at: float) -> None:
        """SIGTERM ``pid`` (a process that is no worker of ours) and SIGKILL it at ``kill_at``."""
        self.terminate(pid)
        self._doomed[pid] = kill_at

    def reap(self) -> list[tuple[int, int]]:
        """Every child that has exited: ``(pid, wait status)``."""
        out: list[tuple[int, int]] = []
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return out
            if pid == 0:
                return out
            self._doomed.pop(pid, None)
            out.append((pid, status))

    def police(self, now: float) -> None:
        for proc in list(self.procs.values()):
            if proc.kill_deadline is not None and now >= proc.kill_deadline:
                log.warning("worker %d (slot %d) overran its deadline; SIGKILL", proc.pid, proc.slot)
                self.terminate(proc.pid, signal.SIGKILL)
                proc.kill_deadline = None
            elif proc.state is WorkerPhase.STARTING and now - proc.spawned_at > BOOT_TIMEOUT_SECS and not proc.aborted:
                log.error("worker %d (slot %d) not ready after %.0fs; killing it", proc.pid, proc.slot, BOOT_TIMEOUT_SECS)
                self.terminate(proc.pid, signal.SIGKILL)
                proc.aborted = True
            elif (
                proc.state in (WorkerPhase.READY, WorkerPhase.DRAINING)
                and not proc.aborted
                and now - proc.last_beat > self.heartbeat_timeout
            ):
                log.error("worker %d (slot %d) missed its heartbeat; SIGABRT", proc.pid, proc.slot)
                self.terminate(proc.pid, signal.SIGABRT)
                proc.aborted = True
                proc.kill_deadline = now + ABORT_TO_KILL_SECS
        for ctl in [*self.retired_controls.values(), *([self.control] if self.control else [])]:
            if ctl.kill_deadline is not None and now >= ctl.kill_deadline:
                self.terminate(ctl.pid, signal.SIGKILL)
                ctl.kill_deadline = None
        for pid, when in list(self._doomed.items()):
            if now >= when:
                self.terminate(pid, signal.SIGKILL)
                del self._doomed[pid]

    def stop_all(self, deadline: float) -> None:
        """Stopping: kill workers still starting, drain the rest, stop every control process."""
        for proc in list(self.procs.values()):
            if proc.state is WorkerPhase.STARTING:
                self.terminate(proc.pid, signal.SIGKILL)
            else:
                self.drain(proc, deadline)
        for ctl in [self.control, *self.retired_controls.values()]:
            if ctl is not None:
                self.stop_control(ctl, deadline)
        self.control_respawn_at = None

    def hurry(self, deadline: float) -> None:
        """Bring every worker's SIGKILL time forward to ``deadline`` (a halt)."""
        for proc in self.procs.values():
            proc.kill_deadline = min(proc.kill_deadline or deadline, deadline)

    def close(self) -> None:
        """The supervisor exits: SIGKILL whatever is left, close the link, remove the runtime dir."""
        for proc in self.procs.values():
            self.terminate(proc.pid, signal.SIGKILL)
        for ctl in [self.control, *self.retired_controls.values()]:
            if ctl is not None:
                self.terminate(ctl.pid, signal.SIGKILL)
        if self.link is not None:
            self.link.close()
        for entry in Path(self.runtime_dir).glob("*"):
            try:
                entry.unlink()
            except OSError:
                pass
        try:
            os.rmdir(self.runtime_dir)
        except OSError:
            pass
