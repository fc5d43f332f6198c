"""Process-local reload: validate first, then roll workers slot by slot, new before old.

A reload is transactional. The new config is loaded and validated before
anything changes, and refused when it would change the public listener (listen
addresses, TLS settings or certificate files: that needs a graceful upgrade);
on any error the running config stays and every error is reported. A valid
config starts a fresh control process and then replaces each slot's worker:
the new worker starts on the slot's *same* socket and only once it has acked
READY is the old one told to drain. If a new worker
cannot start, the roll stops, the previous config is restored and the slots
already rolled are rolled back.
"""

from __future__ import annotations

import logging
import signal
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ferrogate import ipc
from ferrogate.config.diagnostics import ConfigError
from ferrogate.config.load import load_config
from ferrogate.config.model import Config
from ferrogate.ipc import ReloadOutcome, WorkerPhase
from ferrogate.supervisor.listener_fingerprint import listener_changes, listener_fingerprint
from ferrogate.supervisor.listeners import (
    ListenerError,
    ListenerTable,
    build_table,
    wanted_keys,
    warn_if_closing_queues,
)
from ferrogate.supervisor.slots import WorkerProc

if TYPE_CHECKING:
    from ferrogate.supervisor.arbiter import Arbiter, ControlProc

log = logging.getLogger("ferrogate.supervisor")

NEW_WORKER_READY_SECS = 30.0


@dataclass(slots=True, frozen=True)
class Snapshot:
    config: Config
    revision: str
    table: ListenerTable
    control: ControlProc | None


@dataclass(slots=True, eq=False)
class Roll:
    target_config: Config
    target_revision: str
    previous: Snapshot | None  # None for a roll-back roll
    retire_sockets: list[socket.socket]
    reply_ids: list[int]
    pending: deque[int] = field(default_factory=deque)
    active: tuple[WorkerProc, WorkerProc | None] | None = None
    deadline: float = 0.0
    rolled: list[int] = field(default_factory=list)

    @property
    def active_slot(self) -> int | None:
        return self.active[0].slot if self.active is not None else None

    def owns(self, proc: WorkerProc) -> bool:
        return self.active is not None and self.active[0] is proc

    def closables(self) -> list[socket.socket]:
        socks = list(self.retire_sockets)
        if self.previous is not None:
            socks += self.previous.table.sockets.values()
        return socks

    def advance(self, arb: Arbiter, now: float) -> None:
        if self.active is not None:
            new, old = self.active
            if new.state is WorkerPhase.READY:
                slot = arb.slots[new.slot]
                if old is not None and slot.current is old:
                    grace = arb.config.reliability.graceful_shutdown_timeout_secs
                    arb.drain_worker(old, now + grace)
                slot.current = new
                self.rolled.append(new.slot)
                self.active = None
                log.info("slot %d now runs revision %s (worker %d)", new.slot, self.target_revision, new.pid)
            elif now > self.deadline:
                arb.terminate(new.pid, signal.SIGKILL)
                self.fail(arb, f"new worker {new.pid} for slot {new.slot} not ready within {NEW_WORKER_READY_SECS:.0f}s")
            return
        while self.pending:
            index = self.pending.popleft()
            current = arb.slots[index].current
            if current is None or current.revision == self.target_revision:
                continue  # empty slots respawn with the current config anyway
            new = arb.spawn(index, self.target_config, self.target_revision, as_current=False)
            self.active = (new, current)
            self.deadline = now + NEW_WORKER_READY_SECS
            return
        self._finish(arb, now)

    def _finish(self, arb: Arbiter, now: float) -> None:
        live = {id(s) for s in arb.table.sockets.values()}
        for sock in self.retire_sockets:
            if id(sock) not in live:
                sock.close()
        if self.previous is None:
            arb.roll = None
            log.info("roll-back to revision %s complete", self.target_revision)
            return
        old_control = self.previous.control
        if old_control is not None:
            arb.terminate(old_control.pid)
            old_control.kill_deadline = now + arb.config.reliability.graceful_shutdown_timeout_secs
        arb.finish_reload(
            ReloadOutcome(ok=True, revision=self.target_revision, message=f"applied revision {self.target_revision}"),
            self.reply_ids,
        )

    def new_worker_failed(self, arb: Arbiter, proc: WorkerProc, why: str) -> None:
        self.fail(arb, f"new worker {proc.pid} for slot {proc.slot} died before it was ready ({why})")

    def fail(self, arb: Arbiter, reason: str) -> None:
        self.active = None
        if self.previous is None:
            log.error("roll-back failed: %s", reason)
            arb.roll = None
            return
        prev = self.previous
        failed_control = arb.retire_control()
        if failed_control is not None:
            arb.terminate(failed_control.pid)
        failed_table = arb.table
        arb.config, arb.revision, arb.table = prev.config, prev.revision, prev.table
        if prev.control is not None:
            arb.retired_controls.pop(prev.control.pid, None)
            arb.control = prev.control
            if arb.link is not None:
                arb.link.retarget(prev.control.ipc_path)
        keep = {id(s) for s in prev.table.sockets.values()}
        new_only = [s for s in failed_table.sockets.values() if id(s) not in keep]
        arb.finish_reload(
            ReloadOutcome(ok=False, revision=prev.revision, errors=[reason], message="reload rolled back"),
            self.reply_ids,
        )
        back = Roll(prev.config, prev.revision, None, new_only, [], deque(self.rolled))
        arb.roll = back if self.rolled else None
        if not self.rolled:
            back._finish(arb, time.monotonic())

    def abandon(self, arb: Arbiter) -> None:
        """The supervisor is stopping: answer waiting callers; sockets close with the table."""
        for sock in self.closables():
            sock.close()
        if self.previous is not None:
            for rid in self.reply_ids:
                if rid > 0 and arb.link is not None:
                    arb.link.push(ipc.ReloadResult(id=rid, outcome=ReloadOutcome(ok=False, revision=self.target_revision, errors=["supervisor stopping"])))
        arb.roll = None


def plan_reload(arb: Arbiter, reply_ids: list[int]) -> Roll | None:
    """Validate the config file and start a roll, or report why not (returns None)."""

    def reject(errors: list[str]) -> None:
        arb.finish_reload(ReloadOutcome(ok=False, revision=arb.revision, errors=errors), reply_ids)

    try:
        new = load_config(arb.config_path)
    except ConfigError as exc:
        reject(str(exc).splitlines() or ["invalid config"])
        return None
    except Exception as exc:  # a loader bug must not take the running gateway down
        reject([f"{arb.config_path}: cannot load config: {exc!r}"])
        return None
    revision = ipc.config_revision(new)
    changes = listener_changes(arb.listener, listener_fingerprint(new, arb.config_path.parent))
    if changes:
        # Named by the refused revision so the admin API's pending reload of it resolves.
        arb.finish_reload(
            ReloadOutcome(
                ok=False, revision=revision, message="listener change refused",
                errors=[
                    "the new config changes the public listener, which a process-local reload"
                    " cannot do; apply it with `ferrogate reload --graceful-upgrade`"
                    " (the running config stays)",
                    *changes,
                ],
            ),
            reply_ids,
        )
        return None
    if revision == arb.revision:
        arb.finish_reload(
            ReloadOutcome(ok=True, revision=revision, message="config unchanged"), reply_ids
        )
        return None
    keys = wanted_keys(new.listen, new.admin.listen if new.admin.enabled else None, arb.workers)
    try:
        table, unwanted = build_table(keys, inherited=arb.table.sockets)
    except ListenerError as exc:
        reject([str(exc)])
        return None
    for key in table.sockets:
        if key in arb.table.sources:
            table.sources[key] = arb.table.sources[key]
    live = {id(s) for s in table.sockets.values()}
    retire = [s for s in {id(s): s for s in unwanted.values()}.values() if id(s) not in live]
    warn_if_closing_queues(retire, "this reload")
    admin_changed = table.admin_socket() is not arb.table.admin_socket()
    previous = Snapshot(arb.config, arb.revision, arb.table, arb.control)
    roll = Roll(new, revision, previous, retire, reply_ids, deque(range(arb.workers)))
    log.info(
        "reloading: revision %s -> %s%s", arb.revision, revision, " (admin listener moves)" if admin_changed else ""
    )
    arb.config, arb.revision, arb.table = new, revision, table
    arb.retire_control()
    arb.roll = roll  # so the forked control closes the previous table's extra sockets too
    arb.start_control(new, new_path=True)
    return roll
