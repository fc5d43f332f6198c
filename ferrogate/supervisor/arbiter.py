"""The supervisor's main loop: signals and requests come in, decisions answer with intents,
and the arbiter alone carries them out.

Signal handlers only append to a queue (the wake-up fd makes ``select`` return).
Each turn of the loop dispatches the signals, reads the children's reports,
the control process's requests and the hand-off channels, reaps, and then
manages: respawns empty slots, polices deadlines, drives the reload and
upgrade decisions (:mod:`.reload`, :mod:`.upgrade`) until they ask for nothing
more, and finishes a stop. What it acts on are its parts: the children
(:mod:`.children`), the running config (:class:`.running.Configs`), both ends of
a cut-over (:mod:`.cutover`) and the outcomes it records and reports
(:mod:`.status`). No threads and no event loop, so forking is always safe.

Why one module: the loop, the signal dispatch, the execution of intents and the
stop all move the supervisor's own few fields (its mode, the decisions in
flight, the stop deadline); the state they act on lives in the parts above,
each in its own module.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import sys
import time
from collections import deque
from pathlib import Path
from types import FrameType

from ferrogate import ipc
from ferrogate.cache.shm_store import ShmCache
from ferrogate.config.model import Config
from ferrogate.governance.counter_table import CounterTable
from ferrogate.ipc import ExitCode, ReloadOutcome
from ferrogate.store.budgets import save_once
from ferrogate.store.database import store_path
from ferrogate.supervisor import intents, systemd
from ferrogate.supervisor.children import Children
from ferrogate.supervisor.cutover import Arrival, Departure, announce_live
from ferrogate.supervisor.fd_limit import use_open_file_limit
from ferrogate.supervisor.handoff import HandoffError, Predecessor
from ferrogate.supervisor.intents import Decision, Intent, Mode, View, WorkerInfo
from ferrogate.supervisor.listener_fingerprint import listener_fingerprint
from ferrogate.supervisor.listeners import ListenerError, ListenerTable
from ferrogate.supervisor.pidfile import (
    UpgradeOutcome,
    remove_if_ours,
    status_file_for,
    upgrade_sock_for,
    write_atomic,
)
from ferrogate.supervisor.reload import Reload
from ferrogate.supervisor.running import Candidate, Configs, Running, load_candidate
from ferrogate.supervisor.slots import WorkerProc, decode_status
from ferrogate.supervisor.spawn import Closable
from ferrogate.supervisor.status import Outcomes, answer_upgrade, publish_status
from ferrogate.supervisor.upgrade import Upgrade, handoff_refusal, request_upgrade

log = logging.getLogger("ferrogate.supervisor")

TICK_SECS = 0.5
HALT_GRACE_SECS = 5.0
MAX_DECISION_STEPS = 32  # a decision settles in a few steps; this only bounds a bug

_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGUSR2, signal.SIGCHLD)


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
        counters: CounterTable | None = None,
    ) -> None:
        self.config_path = config_path
        self.pid_file = pid_file
        self.status_file = status_file_for(pid_file)
        self.generation = generation
        self.pid = os.getpid()
        self.started_wall = time.time()
        self.configs = Configs(Running(config, ipc.config_revision(config), table))
        # Fixed for this generation: a process-local reload never changes the listener.
        self.listener = listener_fingerprint(config, config_path.parent)
        cache = ShmCache.create(config.cache.max_records, config.cache.max_bytes)
        self.children = Children(workers, generation, config_path, self.pid, counters, cache)
        self.arrival = Arrival(predecessor, list(leftovers or [])) if predecessor is not None else None
        self.departure = Departure()
        self.outcomes = Outcomes()
        self.mode = Mode.BOOTING
        self.draining = False  # the operator's drain flag, echoed to each new control process
        self.handed_over = False
        # The file as a reload request found it, and who asked (0: a signal), until one can start.
        self.reload_request: tuple[Candidate, tuple[int, ...]] | None = None
        self.reload: Reload | None = None
        self.upgrade: Upgrade | None = None
        self.exit_code: int | None = None
        self.stop_code = int(ExitCode.OK)
        self.stop_deadline: float | None = None
        self.sig_queue: deque[int] = deque()
        self.status_dirty = True
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)

    @property
    def running(self) -> Running:
        return self.configs.running

    @property
    def reloading(self) -> bool:
        return self.reload is not None

    @property
    def upgrading(self) -> bool:
        return self.upgrade is not None and self.upgrade.in_flight

    # ------------------------------------------------------------------ signals

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.sig_queue.append(signum)  # nothing else: no logging, no I/O in a handler

    def _install_signals(self) -> None:
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        for sig in _SIGNALS:
            signal.signal(sig, self._on_signal)

    def _dispatch_signals(self) -> None:
        while self.sig_queue:
            sig = signal.Signals(self.sig_queue.popleft())
            if sig is signal.SIGHUP:
                self.request_reload(0)
            elif sig is signal.SIGUSR2:
                self.request_upgrade(())
            elif sig is signal.SIGCHLD:
                self._reap()
            else:  # TERM, INT, QUIT
                self.begin_stop(sig.name, ExitCode.OK)

    # ------------------------------------------------------------------ run

    def run(self) -> int:
        self._install_signals()
        log.info(
            "supervisor %d generation %d: %d workers, config %s (revision %s)",
            self.pid, self.generation, len(self.children.slots), self.config_path, self.running.revision,
        )
        use_open_file_limit(log)
        try:
            self._start_control()
            for slot in self.children.slots:
                self._spawn(slot.index, current=True)
            while self.exit_code is None:
                self._wait()
                self._dispatch_signals()
                self._reap()
                self._manage()
        finally:
            self._cleanup()
        return self.exit_code

    def _wait(self) -> None:
        link = self.children.link
        departure = self.departure
        fds = [self._wake_r, *self.children.fds(), *departure.fds()]
        if self.arrival is not None and self.mode is Mode.AWAITING_CUTOVER:
            fds.append(self.arrival.fileno())
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
            elif link is not None and fd == link.fileno():
                for msg in link.read():
                    self._on_control_message(msg)
            elif self.arrival is not None and fd == self.arrival.fileno():
                self._on_cut_over()
            elif fd == departure.successor_fd:
                self._on_successor_message()
            elif fd == departure.listener_fd:
                self._on_handoff_connect()
            else:
                self.children.read_report(fd)

    def _reap(self) -> None:
        stopping = self.mode is Mode.STOPPING
        for pid, status in self.children.reap():
            if pid in self.children.procs:
                halt = self.children.worker_exited(pid, status, stopping=stopping)
                if self.reload is not None:
                    self.reload.worker_exited(pid, decode_status(status))
                if halt is not None:
                    self.halt(halt.code, halt.message)
            elif not self.children.control_exited(pid, status, stopping=stopping):
                self.departure.exited(pid, status)
                if self.upgrade is not None:
                    self.upgrade.exited(pid, decode_status(status))

    def _manage(self) -> None:
        now = time.monotonic()
        link = self.children.link
        if link is not None and link.maybe_connect(now):
            self.status_dirty = True
        if self.mode is not Mode.STOPPING:
            replacing = self.reload.replacing_slot if self.reload is not None else None
            for slot in self.children.due_respawns(now, replacing):
                self._spawn(slot, current=True)
            if self.children.control_due(now):
                self._start_control()
        self.children.police(now)
        if self.mode is Mode.BOOTING and self.children.all_ready():
            self._booted(now)
        if self.mode is Mode.AWAITING_CUTOVER and self.arrival is not None and self.arrival.overdue(now):
            self.halt(ExitCode.STARTUP_FAILED, "predecessor never confirmed the cut-over")
        if self.mode is Mode.RUNNING:
            self._manage_reload(now)
        upgrade = self.upgrade
        if upgrade is not None:
            self._drive(upgrade, now)
            if self.upgrade is upgrade and upgrade.done:
                self.upgrade = None
        if self.mode is Mode.STOPPING:
            self._advance_stop(now)
        if (self.status_dirty or self.children.changed) and self.mode is not Mode.STOPPING:
            self._publish_status()

    # ------------------------------------------------------------------ decisions

    def _view(self) -> View:
        infos = {pid: WorkerInfo(pid, p.slot, p.revision, p.state) for pid, p in self.children.procs.items()}
        current = [infos.get(s.current.pid) if s.current is not None else None for s in self.children.slots]
        return View(
            mode=self.mode,
            revision=self.running.revision,
            drain_secs=self.running.config.reliability.graceful_shutdown_timeout_secs,
            current=current,
            workers=tuple(infos.values()),
            reloading=self.reloading,
            upgrading=self.upgrading,
        )

    def _drive(self, decision: Decision, now: float) -> None:
        """Carry out what ``decision`` asks, step after step, until it asks for nothing."""
        for _ in range(MAX_DECISION_STEPS):
            asked = decision.advance(self._view(), now)
            if not asked:
                return
            for intent in asked:
                failure = self._carry_out(intent, decision)
                if failure is not None:
                    decision.failed(intent, failure)
                    break
        log.error("%s still asks after %d steps; it waits for the next turn", type(decision).__name__, MAX_DECISION_STEPS)

    def _carry_out(self, intent: Intent, decision: Decision | None) -> str | None:
        """Do what ``intent`` says; the reason when it cannot be done."""
        children, configs, departure = self.children, self.configs, self.departure
        try:
            match intent:
                case intents.Spawn(slot=slot):
                    proc = self._spawn(slot, current=False)
                    if decision is not None:
                        decision.started(intent, proc.pid)
                case intents.Promote(slot=slot, pid=pid):
                    children.promote(slot, pid)
                case intents.Drain(pid=pid, deadline=deadline):
                    if (old := children.procs.get(pid)) is not None:
                        children.drain(old, deadline)
                case intents.Kill(pid=pid):
                    children.terminate(pid, signal.SIGKILL)
                case intents.SwitchConfig(candidate=candidate):
                    configs.switch(candidate, children, self._closables())
                case intents.RestoreConfig():
                    configs.restore(children)
                case intents.ReleaseRetired(deadline=deadline):
                    configs.release(deadline, children)
                case intents.Finish(outcome=outcome, replies=replies):
                    self._finish(outcome, replies)
                case intents.Refuse(replies=replies, message=message):
                    log.warning("%s", message)
                    answer_upgrade(replies, False, message, children.link)
                case intents.Launch():
                    pid = departure.launch(self.config_path, len(children.slots))
                    self.status_dirty = True
                    if decision is not None:
                        decision.started(intent, pid)
                case intents.SendTable():
                    departure.send_table(self.running.table, self.generation + 1, self.children.counters.fd)
                case intents.SendCutOver():
                    departure.send_cut_over(self.pid)
                case intents.HandOver(pid=pid):
                    self.begin_stop(f"handed over to pid {pid}", ExitCode.OK, handed_over=True)
                case intents.Dismiss(pid=pid, kill_at=kill_at):
                    departure.drop()
                    if kill_at is not None:
                        children.doom(pid, kill_at)
                case intents.Note(message=message, error=error):
                    log.log(logging.ERROR if error else logging.INFO, "%s", message)
        except (ListenerError, OSError) as exc:
            if isinstance(intent, intents.Spawn):
                raise  # a failed fork is the supervisor's own failure, as it always was
            return str(exc)
        return None

    # ------------------------------------------------------------------ reload

    def request_reload(self, reply_id: int) -> None:
        """Load the config file now and answer with the verdict; the reload runs when it can.

        Requests that wait are merged: the file as loaded last is what the next reload
        applies, and every caller hears its outcome.
        """
        candidate = load_candidate(self.config_path, self.listener)
        link = self.children.link
        if reply_id > 0 and link is not None:
            link.push(
                ipc.ReloadVerdict(
                    id=reply_id,
                    valid=candidate.config is not None,
                    revision=candidate.revision,
                    previous_revision=self.running.revision,
                    errors=list(candidate.errors),
                )
            )
        replies = self.reload_request[1] if self.reload_request is not None else ()
        self.reload_request = (candidate, (*replies, reply_id))
        if self.mode is not Mode.RUNNING:
            log.info("reload queued until the supervisor is running")

    def _manage_reload(self, now: float) -> None:
        if self.reload is None and self.reload_request is not None and not self.upgrading:
            (candidate, replies), self.reload_request = self.reload_request, None
            systemd.reloading()
            self.reload = Reload(candidate, replies)
        reload = self.reload
        if reload is not None:
            self._drive(reload, now)
            if reload.done:
                self.reload = None
                self.status_dirty = True

    def _finish(self, outcome: ReloadOutcome | UpgradeOutcome, replies: tuple[int, ...]) -> None:
        self.status_dirty = True
        if isinstance(outcome, UpgradeOutcome):
            self.outcomes.upgrade_finished(outcome, replies, self.children.link)
            return
        self.outcomes.reload_finished(outcome, replies, self.children.link)
        if self.mode is Mode.RUNNING:
            systemd.ready()

    # ------------------------------------------------------------------ upgrade

    def request_upgrade(self, replies: tuple[int, ...]) -> None:
        now = time.monotonic()
        upgrade, refusal = request_upgrade(self._view(), self.upgrade, replies, now)
        for intent in refusal:
            self._carry_out(intent, None)
        if upgrade is not None:
            self.upgrade = upgrade
            self._drive(upgrade, now)

    def _on_successor_message(self) -> None:
        upgrade = self.upgrade
        try:
            msg = self.departure.receive()
        except (HandoffError, OSError) as exc:
            if upgrade is not None:
                upgrade.channel_lost(str(exc))
        else:
            if upgrade is not None:
                upgrade.received(msg)
        if upgrade is None:
            self.departure.drop()  # nothing waits for this successor any more
        else:
            self._drive(upgrade, time.monotonic())

    def _on_handoff_connect(self) -> None:
        conn = self.departure.accept()
        if conn is None:
            return
        refusal = handoff_refusal(self._view())
        if refusal is not None:
            self.departure.refuse(conn, refusal)
            return
        self.upgrade = Upgrade(time.monotonic(), successor=self.departure.adopt(conn))
        self.status_dirty = True

    # ------------------------------------------------------------------ control messages

    def _on_control_message(self, msg: ipc.Message) -> None:
        match msg:
            case ipc.ReloadRequest():
                self.request_reload(msg.id or -1)
            case ipc.UpgradeRequest():
                self.request_upgrade((msg.id,) if msg.id else ())
            case ipc.DrainState():
                self.draining = msg.draining
                self.status_dirty = True
            case _:
                log.debug("control sent %s; ignored", type(msg).__name__)

    # ------------------------------------------------------------------ children

    def _closables(self) -> list[Closable]:
        """Every fd of the arbiter's own a forked child must close (the children add theirs)."""
        items: list[Closable] = [self._wake_r, self._wake_w, *self.configs.closables()]
        items += self.departure.closables()
        if self.arrival is not None:
            items += self.arrival.closables()
        return items

    def _spawn(self, slot: int, *, current: bool) -> WorkerProc:
        r = self.running
        return self.children.spawn_worker(slot, r.config, r.revision, r.table, self._closables(), current=current)

    def _start_control(self) -> None:
        self.children.start_control(self.running.config, self.running.table, self._closables())

    # ------------------------------------------------------------------ boot and cut-over

    def _booted(self, now: float) -> None:
        if self.arrival is None:
            self._go_live(upgraded=False)
            return
        error = self.arrival.report_ready(now)
        if error is not None:
            self.halt(ExitCode.STARTUP_FAILED, error)
            return
        self.mode = Mode.AWAITING_CUTOVER

    def _on_cut_over(self) -> None:
        assert self.arrival is not None
        old_pid, error = self.arrival.take_cut_over(time.monotonic())
        if error is not None:
            self.halt(ExitCode.STARTUP_FAILED, error)
            return
        log.info("predecessor %d handed over; this generation is live", old_pid)
        self.arrival = None
        self._go_live(upgraded=True)

    def _go_live(self, *, upgraded: bool) -> None:
        self.mode = Mode.RUNNING
        write_atomic(self.pid_file, f"{self.pid}\n".encode())
        upgrade_path = upgrade_sock_for(self.running.config, self.config_path)
        if upgrade_path is not None:
            self.departure.listen(upgrade_path)
        self._publish_status()
        announce_live(self.running.table, self.generation, self.running.revision, upgraded=upgraded)

    # ------------------------------------------------------------------ stop

    def begin_stop(self, reason: str, code: int, *, handed_over: bool = False) -> None:
        if self.mode is Mode.STOPPING and not handed_over:
            return
        log.info("stopping (%s)", reason)
        if self.arrival is not None:
            self.arrival.abort(f"new supervisor {self.pid} stopped before cut-over: {reason}")
            self.arrival = None
        self.mode = Mode.STOPPING
        self.stop_code = int(code)
        self.handed_over = self.handed_over or handed_over
        if not self.handed_over:
            systemd.stopping()
        rel = self.running.config.reliability
        now = time.monotonic()
        self.stop_deadline = now + max(rel.graceful_shutdown_timeout_secs, rel.graceful_shutdown_grace_period_secs)
        self.children.stop_all(self.stop_deadline)
        stopped: list[Intent] = []
        if self.reload is not None:
            stopped += self.reload.stop()
            self.reload = None
        if self.upgrade is not None:
            stopped += self.upgrade.stop(now)
            self.upgrade = None
        for intent in stopped:
            self._carry_out(intent, None)
        self.departure.close_listener()
        self.configs.close_all()

    def halt(self, code: ExitCode, message: str) -> None:
        log.error("%s", message)
        print(f"ferrogate: {message}", file=sys.stderr, flush=True)
        self.begin_stop(message, code)
        self.stop_deadline = time.monotonic() + HALT_GRACE_SECS
        self.children.hurry(self.stop_deadline)

    def _advance_stop(self, now: float) -> None:
        if not self.children.alive:
            log.info("all children exited; supervisor %d exits with %d", self.pid, self.stop_code)
            self.exit_code = self.stop_code
        elif self.stop_deadline is not None and now > self.stop_deadline + HALT_GRACE_SECS:
            log.error("children ignored SIGKILL; exiting anyway")
            self.exit_code = self.stop_code

    # ------------------------------------------------------------------ status and cleanup

    def _publish_status(self) -> None:
        self.status_dirty = False
        self.children.changed = False
        publish_status(self)

    def _save_spent_budgets(self) -> None:
        """The workers have settled and exited: save what they spent after the control
        process's last save (the next cold start restores it)."""
        try:
            save_once(store_path(self.running.config, self.config_path), self.children.counters)
        except Exception as exc:
            log.error("could not save the spent budgets at exit: %s", exc)

    def _cleanup(self) -> None:
        signal.set_wakeup_fd(-1)
        for sig in _SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        if not self.handed_over:
            self._save_spent_budgets()
        self.children.close()
        self.departure.close_listener()
        self.configs.close_all()
        if not self.handed_over:
            remove_if_ours(self.pid_file, self.pid)
        os.close(self._wake_r)
        os.close(self._wake_w)
