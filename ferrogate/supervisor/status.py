"""What the supervisor tells others about itself: the control process (IPC) and the
status file next to the pid file (read by ``ferrogate reload`` and the tests).

:class:`Outcomes` records how each reload and upgrade ended and answers the
callers that asked. :func:`publish_status` reads the supervisor through
:class:`StatusSource`, the few things it needs (the arbiter has them), so this
module depends on no arbiter code.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Protocol

import msgspec

from ferrogate import ipc
from ferrogate.supervisor.children import Children
from ferrogate.supervisor.control_link import ControlLink
from ferrogate.supervisor.intents import Mode
from ferrogate.supervisor.listener_fingerprint import ListenerFingerprint
from ferrogate.supervisor.listeners import bound_address
from ferrogate.supervisor.pidfile import SupervisorFileStatus, UpgradeOutcome, write_status
from ferrogate.supervisor.running import Running

log = logging.getLogger("ferrogate.supervisor")


class Outcomes:
    """The last reload's and the last upgrade's outcome, numbered, and the answers to callers."""

    def __init__(self) -> None:
        self.last_reload: ipc.ReloadOutcome | None = None
        self.last_upgrade: UpgradeOutcome | None = None
        self._reloads = 0
        self._upgrades = 0

    def reload_finished(
        self, outcome: ipc.ReloadOutcome, replies: tuple[int, ...], link: ControlLink | None
    ) -> None:
        self._reloads += 1
        self.last_reload = outcome = msgspec.structs.replace(outcome, seq=self._reloads, at=time.time())
        if outcome.ok:
            log.info("reload done: %s", outcome.message)
        else:
            for line in outcome.errors:
                log.error("reload rejected: %s", line)
        for rid in replies:
            if rid > 0 and link is not None:
                link.push(ipc.ReloadResult(id=rid, outcome=outcome))

    def upgrade_finished(self, outcome: UpgradeOutcome, replies: tuple[int, ...], link: ControlLink | None) -> None:
        self._upgrades += 1
        self.last_upgrade = msgspec.structs.replace(outcome, seq=self._upgrades)
        if outcome.ok:
            log.info("upgrade: %s", outcome.reason or outcome.phase)
        else:
            log.error("graceful upgrade failed: %s", outcome.reason)
        answer_upgrade(replies, outcome.ok, outcome.reason, link)


def answer_upgrade(replies: tuple[int, ...], ok: bool, message: str, link: ControlLink | None) -> None:
    for rid in replies:
        if rid > 0 and link is not None:
            link.push(ipc.UpgradeResult(id=rid, ok=ok, message=message))


class StatusSource(Protocol):
    pid: int
    generation: int
    started_wall: float
    config_path: Path
    status_file: Path
    listener: ListenerFingerprint
    children: Children
    outcomes: Outcomes
    mode: Mode
    handed_over: bool
    draining: bool

    @property
    def running(self) -> Running: ...

    @property
    def reloading(self) -> bool: ...

    @property
    def upgrading(self) -> bool: ...


def worker_rows(children: Children) -> list[ipc.WorkerSlotInfo]:
    wall_offset = time.time() - time.monotonic()
    rows = [
        ipc.WorkerSlotInfo(
            slot=proc.slot,
            pid=proc.pid,
            generation=children.generation,
            state=proc.state,
            started_at=proc.spawned_at + wall_offset,
            restarts=children.restarts[proc.slot],
            last_exit_code=children.last_exit[proc.slot],
        )
        for proc in children.procs.values()
    ]
    return sorted(rows, key=lambda r: (r.slot, r.started_at))


def phase(src: StatusSource) -> ipc.SupervisorPhase:
    if src.mode is Mode.STOPPING:
        return "stopping"
    if src.upgrading:
        return "upgrading"
    if src.reloading:
        return "reloading"
    return "running" if src.mode is Mode.RUNNING else "starting"


def publish_status(src: StatusSource) -> None:
    """Push the worker table to the control process; rewrite the status file when live."""
    link = src.children.link
    if link is not None:
        link.push(
            ipc.SupervisorStatus(
                pid=src.pid,
                generation=src.generation,
                started_at=src.started_wall,
                phase=phase(src),
                config_revision=src.running.revision,
                config_path=str(src.config_path),
                expected_workers=len(src.children.slots),
                workers=worker_rows(src.children),
                draining=src.draining,
                last_reload=src.outcomes.last_reload,
            )
        )
    if src.mode is not Mode.RUNNING or src.handed_over:
        return  # a handed-over supervisor must not overwrite its successor's file
    table = src.running.table
    admin = table.admin_socket()
    try:
        write_status(
            src.status_file,
            SupervisorFileStatus(
                pid=src.pid,
                generation=src.generation,
                revision=src.running.revision,
                config_path=str(src.config_path),
                public=[str(a) for a in table.public_addresses()],
                admin=str(bound_address(admin)) if admin is not None else None,
                workers={str(s.index): s.current.pid for s in src.children.slots if s.current},
                last_reload=src.outcomes.last_reload,
                last_upgrade=src.outcomes.last_upgrade,
                listener=src.listener,
            ),
        )
    except OSError as exc:
        log.warning("cannot write %s: %s", src.status_file, exc)
