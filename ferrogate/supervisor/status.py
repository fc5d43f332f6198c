"""What the supervisor tells others about itself: the control process (IPC) and the
status file next to the pid file (read by ``ferrogate reload`` and the tests)."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from ferrogate import ipc
from ferrogate.supervisor.listeners import bound_address
from ferrogate.supervisor.pidfile import SupervisorFileStatus, write_status

if TYPE_CHECKING:
    from ferrogate.supervisor.arbiter import Arbiter

log = logging.getLogger("ferrogate.supervisor")


def worker_rows(arb: Arbiter) -> list[ipc.WorkerSlotInfo]:
    wall_offset = time.time() - time.monotonic()
    rows = [
        ipc.WorkerSlotInfo(
            slot=proc.slot,
            pid=proc.pid,
            generation=arb.generation,
            state=proc.state,
            started_at=proc.spawned_at + wall_offset,
            restarts=arb.restarts[proc.slot],
            last_exit_code=arb.last_exit[proc.slot],
        )
        for proc in arb.procs.values()
    ]
    return sorted(rows, key=lambda r: (r.slot, r.started_at))


def phase(arb: Arbiter) -> ipc.SupervisorPhase:
    from ferrogate.supervisor.arbiter import Mode

    if arb.mode is Mode.STOPPING:
        return "stopping"
    if arb.upgrade.in_flight:
        return "upgrading"
    if arb.roll is not None:
        return "reloading"
    return "running" if arb.mode is Mode.RUNNING else "starting"


def publish_status(arb: Arbiter) -> None:
    """Push the worker table to the control process; rewrite the status file when live."""
    from ferrogate.supervisor.arbiter import Mode

    if arb.link is not None:
        arb.link.push(
            ipc.SupervisorStatus(
                pid=arb.pid,
                generation=arb.generation,
                started_at=arb.started_wall,
                phase=phase(arb),
                config_revision=arb.revision,
                config_path=str(arb.config_path),
                expected_workers=arb.workers,
                workers=worker_rows(arb),
                last_reload=arb.last_reload,
            )
        )
    if arb.mode is not Mode.RUNNING or arb.handed_over:
        return  # a handed-over supervisor must not overwrite its successor's file
    admin = arb.table.admin_socket()
    try:
        write_status(
            arb.status_file,
            SupervisorFileStatus(
                pid=arb.pid,
                generation=arb.generation,
                revision=arb.revision,
                config_path=str(arb.config_path),
                public=[str(a) for a in arb.table.public_addresses()],
                admin=str(bound_address(admin)) if admin is not None else None,
                workers={str(s.index): s.current.pid for s in arb.slots if s.current},
                last_reload=arb.last_reload,
                last_upgrade=arb.upgrade.last_outcome,
                listener=arb.listener,
            ),
        )
    except OSError as exc:
        log.warning("cannot write %s: %s", arb.status_file, exc)
