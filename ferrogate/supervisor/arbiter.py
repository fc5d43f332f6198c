"""The supervisor's main loop: signals become intents, the loop acts on them.

Signal handlers only append to a queue (the wake-up fd makes ``select`` return);
the loop dispatches each to ``handle_<name>``, reads worker reports, reaps
children, and then *manages*: respawn empty slots, kill stale or overdue
workers, advance a rolling reload, watch an upgrade's deadline, and finish a
stop. No threads and no event loop, so forking is always safe.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import FrameType

import msgspec

from ferrogate import ipc
from ferrogate.config.model import Config
from ferrogate.ipc import ExitCode, ReloadOutcome, WorkerPhase
from ferrogate.supervisor import systemd
from ferrogate.supervisor.control_link import ControlLink
from ferrogate.supervisor.handoff import HandoffError, Predecessor, UpgradeListener
from ferrogate.supervisor.listener_fingerprint import listener_fingerprint
from ferrogate.supervisor.listeners import ListenerTable, bound_address
from ferrogate.supervisor.pidfile import (
    UpgradeOutcome,
    remove_if_ours,
    status_file_for,
    upgrade_sock_for,
    write_atomic,
)
from ferrogate.supervisor.reload import Roll, plan_reload
from ferrogate.supervisor.slots import (
    WorkerProc,
    WorkerSlot,
    decode_status,
    exit_code_of,
)
from ferrogate.supervisor.spawn import Closable, control_available, fork_control, fork_worker
from ferrogate.supervisor.status import publish_status
from ferrogate.supervisor.upgrade import UpgradeDriver
from ferrogate.worker_spec import WorkerReport

log = logging.getLogger("ferrogate.supervisor")

HEARTBEAT_TIMEOUT_SECS = 20.0
HEARTBEAT_TIMEOUT_ENV = "FERROGATE_WORKER_HEARTBEAT_TIMEOUT_SECS"
BOOT_TIMEOUT_SECS = 60.0
ABORT_TO_KILL_SECS = 2.0
MAX_BOOT_FAILURES = 5
TICK_SECS = 0.5
CUTOVER_WAIT_SECS = 30.0

_SIGNAL_NAMES = {
    signal.SIGTERM: "term",
    signal.SIGINT: "int",
    signal.SIGQUIT: "quit",
    signal.SIGHUP: "hup",
    signal.SIGUSR2: "usr2",
    signal.SIGCHLD: "chld",
}


def _env_seconds(name: str, default: float) -> float:
    """An operator override in seconds (a bad value keeps the default)."""
    try:
        value = float(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default


class Mode(StrEnum):
    BOOTING = "starting"
    AWAITING_CUTOVER = "awaiting_cutover"
    RUNNING = "running"
    STOPPING = "stopping"


@dataclass(slots=True, eq=False)
class ControlProc:
    pid: int
    ipc_path: str
    started_at: float = field(default_factory=time.monotonic)
    kill_deadline: float | None = None


class Arbiter:
    def __init__(
        self,
        config: Config,
        config_path: Path,
        workers: int,
        table: ListenerTable,
        *,
        pid_file: Path,
        generation: int = 1,
        predecessor: Predecessor | None = None,
        leftovers: list[Closable] | None = None,
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.workers = workers
        self.table = table
        self.pid_file = pid_file
        self.status_file = status_file_for(pid_file)
        self.generation = generation
        self.predecessor = predecessor
        self.leftovers: list[Closable] = list(leftovers or [])
        self.revision = ipc.config_revision(config)
        # Fixed for this generation: a process-local reload never changes the listener.
        self.listener = listener_fingerprint(config, config_path.parent)
        self.heartbeat_timeout = _env_seconds(HEARTBEAT_TIMEOUT_ENV, HEARTBEAT_TIMEOUT_SECS)
        self.pid = os.getpid()
        self.started_wall = time.time()
        self.mode = Mode.BOOTING
        self.slots = [WorkerSlot(i) for i in range(workers)]
        self.restarts = [0] * workers
        self.last_exit = [None] * workers  # type: list[int | None]
        self.procs: dict[int, WorkerProc] = {}
        self.control: ControlProc | None = None
        self.retired_controls: dict[int, ControlProc] = {}
        self.control_respawn_at: float | None = None
        self.control_seq = 0
        self.runtime_dir = tempfile.mkdtemp(prefix=f"ferrogate-{self.pid}-")
        self.link: ControlLink | None = None
        self.roll: Roll | None = None
        self.reload_pending: list[int] = []  # admin reply ids (0 = signal) waiting for the next reload
        self.reload_seq = 0
        self.last_reload: ReloadOutcome | None = None
        self.upgrade = UpgradeDriver(self)
        self.upgrade_listener: UpgradeListener | None = None
        self.boot_failures = 0
        self.cutover_deadline: float | None = None
        self.handed_over = False
        self.exit_code: int | None = None
        self.stop_code = int(ExitCode.OK)
        self.stop_deadline: float | None = None
        self.sig_queue: deque[int] = deque()
        self.status_dirty = True
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)

    # ------------------------------------------------------------------ signals

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.sig_queue.append(signum)  # nothing else: no logging, no I/O in a handler

    def _install_signals(self) -> None:
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        for sig in _SIGNAL_NAMES:
            signal.signal(sig, self._on_signal)

    def _dispatch_signals(self) -> None:
        while self.sig_queue:
            signum = self.sig_queue.popleft()
            getattr(self, f"handle_{_SIGNAL_NAMES[signal.Signals(signum)]}")()

    def handle_term(self) -> None:
        self.begin_stop("SIGTERM", ExitCode.OK)

    def handle_int(self) -> None:
        self.begin_stop("SIGINT", ExitCode.OK)

    def handle_quit(self) -> None:
        self.begin_stop("SIGQUIT", ExitCode.OK)

    def handle_hup(self) -> None:
        self.request_reload(0)

    def handle_usr2(self) -> None:
        self.upgrade.start(reply_id=None)

    def handle_chld(self) -> None:
        self._reap()

    # ------------------------------------------------------------------ run

    def run(self) -> int:
        self._install_signals()
        log.info(
            "supervisor %d generation %d: %d workers, config %s (revision %s)",
            self.pid, self.generation, self.workers, self.config_path, self.revision,
        )
        try:
            self.start_control(self.config)
            for slot in self.slots:
                self.spawn(slot.index, self.config, self.revision)
            while self.exit_code is None:
                self._wait()
                self._dispatch_signals()
                self._reap()
                self._manage()
        finally:
            self._cleanup()
        return self.exit_code

    def _wait(self) -> None:
        fds = [self._wake_r]
        fds += [p.report_fd for p in self.procs.values() if p.report_fd >= 0]
        if self.link is not None and self.link.connected:
            fds.append(self.link.fileno())
        fds += self.upgrade.fds()
        if self.predecessor is not None and self.mode is Mode.AWAITING_CUTOVER:
            fds.append(self.predecessor.channel.fileno())
        if self.upgrade_listener is not None:
            fds.append(self.upgrade_listener.fileno())
        try:
            readable, _, _ = select.select(fds, [], [], TICK_SECS)
        except InterruptedError:
            return
        for fd in readable:
            if fd == self._wake_r:
                try:
                    while os.read(self._wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
            elif self.link is not None and fd == self.link.fileno():
                for msg in self.link.read():
                    self._on_control_message(msg)
            elif self.predecessor is not None and fd == self.predecessor.channel.fileno():
                self._on_predecessor_readable()
            elif fd in self.upgrade.fds():
                self.upgrade.on_readable()
            elif self.upgrade_listener is not None and fd == self.upgrade_listener.fileno():
                self.upgrade.accept(self.upgrade_listener)
            else:
                self._read_reports(fd)

    def _read_reports(self, fd: int) -> None:
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
            proc.state = WorkerPhase.READY
            proc.ready_at = proc.last_beat
            self.boot_failures = 0
            self.status_dirty = True
            log.info("worker %d (slot %d) ready", proc.pid, proc.slot)

    # ------------------------------------------------------------------ children

    def closables(self) -> list[Closable]:
        """Every fd a forked child must close (it then keeps only its own)."""
        items: list[Closable] = [self._wake_r, self._wake_w]
        items += list({id(s): s for s in self.table.sockets.values()}.values())
        if self.roll is not None:
            items += self.roll.closables()
        items += self.leftovers
        items += [p.report_fd for p in self.procs.values() if p.report_fd >= 0]
        if self.link is not None and self.link.sock is not None:
            items.append(self.link.sock)
        items += self.upgrade.closables()
        if self.predecessor is not None:
            items.append(self.predecessor.channel)
        if self.upgrade_listener is not None:
            items.append(self.upgrade_listener.sock)
        return items

    def spawn_args(self, slot: int, config: Config, revision: str, table: ListenerTable) -> dict[str, object]:
        admin = table.admin_socket()
        return {
            "slot": slot,
            "generation": self.generation,
            "config": config,
            "config_path": self.config_path,
            "revision": revision,
            "sockets": tuple(table.slot_sockets(slot)),
            "public_addresses": tuple(str(a) for a in table.public_addresses()),
            "admin_address": str(bound_address(admin)) if admin is not None else None,
            "ipc_path": self.control.ipc_path if self.control else self._ipc_path(self.control_seq),
        }

    def spawn(self, slot: int, config: Config, revision: str, *, as_current: bool = True) -> WorkerProc:
        args = self.spawn_args(slot, config, revision, self.table)
        pid, report_fd = fork_worker(args, self.closables())
        proc = WorkerProc(pid=pid, slot=slot, revision=revision, report_fd=report_fd)
        self.procs[pid] = proc
        self.slots[slot].respawn_at = None
        if as_current:
            self.slots[slot].current = proc
        self.status_dirty = True
        log.info("spawned worker %d for slot %d (revision %s)", pid, slot, revision)
        return proc

    def _ipc_path(self, seq: int) -> str:
        return os.path.join(self.runtime_dir, f"control-{seq}.sock")

    def start_control(self, config: Config, *, new_path: bool = False) -> None:
        if not control_available():
            log.warning("control process not installed; the admin listener is not served")
            return
        if new_path:
            self.control_seq += 1
        path = self._ipc_path(self.control_seq)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        admin = self.table.admin_socket()
        pid = fork_control(config, self.config_path, admin, path, self.generation, self.workers, self.closables())
        self.control = ControlProc(pid, path)
        self.control_respawn_at = None
        hello = ipc.SupervisorHello(pid=self.pid, generation=self.generation)
        if self.link is None:
            self.link = ControlLink(path, hello)
        elif self.link.ipc_path != path:
            self.link.retarget(path)
        self.status_dirty = True
        log.info("spawned control process %d (ipc %s)", pid, path)

    def retire_control(self) -> ControlProc | None:
        """Detach the current control process (the caller stops it when due)."""
        old, self.control = self.control, None
        if old is not None:
            self.retired_controls[old.pid] = old
        return old

    def terminate(self, pid: int, sig: int = signal.SIGTERM) -> None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    def drain_worker(self, proc: WorkerProc, grace_deadline: float) -> None:
        if proc.state in (WorkerPhase.DRAINING, WorkerPhase.EXITED):
            return
        proc.state = WorkerPhase.DRAINING
        proc.kill_deadline = grace_deadline
        self.terminate(proc.pid)
        self.status_dirty = True

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self._on_exit(pid, status)

    def _on_exit(self, pid: int, status: int) -> None:
        self.status_dirty = True
        proc = self.procs.pop(pid, None)
        if proc is not None:
            self._on_worker_exit(proc, status)
            return
        if self.control is not None and self.control.pid == pid:
            self.control = None
            if self.mode is Mode.STOPPING:
                log.info("control process %d exited (%s)", pid, decode_status(status))
            else:
                log.warning("control process %d exited (%s); restarting it", pid, decode_status(status))
                self.control_respawn_at = time.monotonic() + 1.0
            return
        if self.retired_controls.pop(pid, None) is not None:
            return
        self.upgrade.on_child_exit(pid, status)

    def _on_worker_exit(self, proc: WorkerProc, status: int) -> None:
        proc.state = WorkerPhase.EXITED
        proc.exit_status = status
        proc.close_pipe()
        slot = self.slots[proc.slot]
        code = exit_code_of(status)
        self.last_exit[proc.slot] = code
        if self.roll is not None and self.roll.owns(proc):
            self.roll.new_worker_failed(self, proc, decode_status(status))
            return
        if slot.current is not proc:
            log.info("worker %d (slot %d) finished draining (%s)", proc.pid, proc.slot, decode_status(status))
            return
        slot.current = None
        if self.mode is Mode.STOPPING:
            return
        self.restarts[proc.slot] += 1
        now = time.monotonic()
        if proc.ready_at is None:
            self.boot_failures += 1
            log.error("worker %d (slot %d) died before it was ready (%s)", proc.pid, proc.slot, decode_status(status))
            if code == ExitCode.BOOT_ERROR:
                self.halt(ExitCode.BOOT_ERROR, f"worker for slot {proc.slot} failed to boot (exit code {code}); not respawning")
                return
            if self.boot_failures >= MAX_BOOT_FAILURES:
                self.halt(ExitCode.CRASH_LOOP, f"workers crash-looping at boot ({self.boot_failures} failures in a row); giving up")
                return
            slot.respawn_at = now + min(1.0, 0.05 * 2**self.boot_failures)
        else:
            log.warning("worker %d (slot %d) exited (%s); respawning", proc.pid, proc.slot, decode_status(status))
            slot.respawn_at = now

    # ------------------------------------------------------------------ management

    def _manage(self) -> None:
        now = time.monotonic()
        if self.link is not None and self.link.maybe_connect(now):
            self.status_dirty = True
        if self.mode is not Mode.STOPPING:
            for slot in self.slots:
                if self.roll is not None and self.roll.active_slot == slot.index:
                    continue  # the roll is replacing this slot's worker already
                if slot.current is None and slot.respawn_at is not None and slot.respawn_at <= now:
                    self.spawn(slot.index, self.config, self.revision)
            if self.control is None and self.control_respawn_at is not None and now >= self.control_respawn_at:
                self.start_control(self.config)
        self._police_workers(now)
        if self.mode is Mode.BOOTING and self._all_ready():
            self._booted()
        if self.mode is Mode.AWAITING_CUTOVER and self.cutover_deadline and now > self.cutover_deadline:
            self.halt(ExitCode.STARTUP_FAILED, "predecessor never confirmed the cut-over")
        if self.mode is Mode.RUNNING:
            if self.roll is not None:
                self.roll.advance(self, now)
            elif self.reload_pending and not self.upgrade.in_flight:
                self._reload_now()
        self.upgrade.tick(now)
        if self.mode is Mode.STOPPING:
            self._advance_stop(now)
        if self.status_dirty and self.mode is not Mode.STOPPING:
            self._publish_status()

    def _police_workers(self, now: float) -> None:
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
        for ctl in list(self.retired_controls.values()) + ([self.control] if self.control else []):
            if ctl.kill_deadline is not None and now >= ctl.kill_deadline:
                self.terminate(ctl.pid, signal.SIGKILL)
                ctl.kill_deadline = None

    def _all_ready(self) -> bool:
        return all(s.current is not None and s.current.state is WorkerPhase.READY for s in self.slots)

    def _booted(self) -> None:
        if self.predecessor is not None:
            try:
                self.predecessor.report_ready()
            except OSError as exc:
                self.halt(ExitCode.STARTUP_FAILED, f"lost the hand-off channel: {exc}")
                return
            self.mode = Mode.AWAITING_CUTOVER
            self.cutover_deadline = time.monotonic() + CUTOVER_WAIT_SECS
            return
        self._go_live(upgraded=False)

    def _on_predecessor_readable(self) -> None:
        assert self.predecessor is not None
        try:
            cut = self.predecessor.wait_cut_over(time.monotonic() + 1.0)
        except (HandoffError, OSError) as exc:
            self.halt(ExitCode.STARTUP_FAILED, f"predecessor aborted the upgrade: {exc}")
            return
        log.info("predecessor %d handed over; this generation is live", cut.old_pid)
        self.predecessor.close()
        self.predecessor = None
        for item in self.leftovers:
            if not isinstance(item, int):
                item.close()
        self.leftovers.clear()
        self._go_live(upgraded=True)

    def _go_live(self, *, upgraded: bool) -> None:
        self.mode = Mode.RUNNING
        write_atomic(self.pid_file, f"{self.pid}\n".encode())
        upgrade_path = upgrade_sock_for(self.config, self.config_path)
        if upgrade_path is not None:
            try:
                self.upgrade_listener = UpgradeListener(str(upgrade_path))
            except OSError as exc:
                log.warning("cannot listen for hand-offs on %s: %s", upgrade_path, exc)
        self._publish_status()
        if upgraded:
            systemd.main_pid(self.pid)
        else:
            systemd.ready()
        admin = self.table.admin_socket()
        line = {
            "public": [str(a) for a in self.table.public_addresses()],
            "admin": str(bound_address(admin)) if admin is not None else None,
            "pid": self.pid,
            "generation": self.generation,
            "revision": self.revision,
        }
        try:
            sys.stdout.write("FERROGATE_READY " + json.dumps(line) + "\n")
            sys.stdout.flush()
        except (OSError, ValueError):
            pass  # no stdout (daemonized): the log line below still says it
        log.info("ready: %s", line)

    # ------------------------------------------------------------------ reload

    def request_reload(self, reply_id: int) -> None:
        self.reload_pending.append(reply_id)
        if self.mode is not Mode.RUNNING:
            log.info("reload queued until the supervisor is running")

    def _reload_now(self) -> None:
        ids, self.reload_pending = self.reload_pending, []
        systemd.reloading()
        self.roll = plan_reload(self, ids)

    def finish_reload(self, outcome: ReloadOutcome, reply_ids: list[int]) -> None:
        self.roll = None
        self.reload_seq += 1
        self.last_reload = outcome = msgspec.structs.replace(outcome, seq=self.reload_seq, at=time.time())
        if outcome.ok:
            log.info("reload done: %s", outcome.message)
        else:
            for line in outcome.errors:
                log.error("reload rejected: %s", line)
        systemd.ready()
        self.status_dirty = True
        for rid in reply_ids:
            if rid > 0 and self.link is not None:
                self.link.push(ipc.ReloadResult(id=rid, outcome=outcome))

    # ------------------------------------------------------------------ control messages

    def _on_control_message(self, msg: ipc.Message) -> None:
        if isinstance(msg, ipc.ReloadRequest):
            self.request_reload(msg.id or -1)
        elif isinstance(msg, ipc.UpgradeRequest):
            self.upgrade.start(reply_id=msg.id or -1)
        else:
            log.debug("control sent %s; ignored", type(msg).__name__)

    def reply_upgrade(self, reply_id: int | None, ok: bool, message: str) -> None:
        if reply_id and reply_id > 0 and self.link is not None:
            self.link.push(ipc.UpgradeResult(id=reply_id, ok=ok, message=message))

    # ------------------------------------------------------------------ stop

    def begin_stop(self, reason: str, code: int, *, handed_over: bool = False) -> None:
        if self.mode is Mode.STOPPING and not handed_over:
            return
        log.info("stopping (%s)", reason)
        if self.predecessor is not None:
            # Not live yet: the old generation must keep serving, never cut over to us.
            self.predecessor.report_failed(f"new supervisor {self.pid} stopped before cut-over: {reason}")
            self.predecessor.close()
            self.predecessor = None
        self.mode = Mode.STOPPING
        self.stop_code = int(code)
        self.handed_over = self.handed_over or handed_over
        if not self.handed_over:
            systemd.stopping()
        rel = self.config.reliability
        now = time.monotonic()
        deadline = now + max(rel.graceful_shutdown_timeout_secs, rel.graceful_shutdown_grace_period_secs)
        self.stop_deadline = deadline
        for proc in list(self.procs.values()):
            if proc.state is WorkerPhase.STARTING:
                self.terminate(proc.pid, signal.SIGKILL)
            else:
                self.drain_worker(proc, deadline)
        for ctl in [self.control, *self.retired_controls.values()]:
            if ctl is not None:
                self.terminate(ctl.pid)
                ctl.kill_deadline = deadline
        self.control_respawn_at = None
        if self.roll is not None:
            self.roll.abandon(self)
        self.upgrade.abandon()
        if self.upgrade_listener is not None:
            self.upgrade_listener.close()
            self.upgrade_listener = None
        self.table.close_all()

    def halt(self, code: ExitCode, message: str) -> None:
        log.error("%s", message)
        print(f"ferrogate: {message}", file=sys.stderr, flush=True)
        self.begin_stop(message, code)
        self.stop_deadline = time.monotonic() + 5.0
        for proc in self.procs.values():
            proc.kill_deadline = min(proc.kill_deadline or self.stop_deadline, self.stop_deadline)

    def _advance_stop(self, now: float) -> None:
        alive = bool(self.procs) or self.control is not None or bool(self.retired_controls)
        if not alive:
            log.info("all children exited; supervisor %d exits with %d", self.pid, self.stop_code)
            self.exit_code = self.stop_code
        elif self.stop_deadline is not None and now > self.stop_deadline + 5.0:
            log.error("children ignored SIGKILL; exiting anyway")
            self.exit_code = self.stop_code

    # ------------------------------------------------------------------ status

    def _publish_status(self) -> None:
        self.status_dirty = False
        publish_status(self)

    def record_upgrade(self, outcome: UpgradeOutcome) -> None:
        self.status_dirty = True
        if outcome.ok:
            log.info("upgrade: %s", outcome.reason or outcome.phase)
        else:
            log.error("graceful upgrade failed: %s", outcome.reason)

    # ------------------------------------------------------------------ cleanup

    def _cleanup(self) -> None:
        signal.set_wakeup_fd(-1)
        for sig in _SIGNAL_NAMES:
            signal.signal(sig, signal.SIG_DFL)
        for proc in self.procs.values():
            self.terminate(proc.pid, signal.SIGKILL)
        for ctl in [self.control, *self.retired_controls.values()]:
            if ctl is not None:
                self.terminate(ctl.pid, signal.SIGKILL)
        if self.link is not None:
            self.link.close()
        if self.upgrade_listener is not None:
            self.upgrade_listener.close()
        self.table.close_all()
        if not self.handed_over:
            remove_if_ours(self.pid_file, self.pid)
        os.close(self._wake_r)
        os.close(self._wake_w)
        for entry in Path(self.runtime_dir).glob("*"):
            try:
                entry.unlink()
            except OSError:
                pass
        try:
            os.rmdir(self.runtime_dir)
        except OSError:
            pass
