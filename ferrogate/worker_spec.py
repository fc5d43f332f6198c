"""What a supervisor hands a forked worker, and the one-byte reports it gets back.

A leaf module on purpose: the supervisor builds a :class:`WorkerSpec` before it
forks and the worker reads it after, so neither side imports the other's code
(workers never import ``ferrogate.supervisor``; the supervisor never imports
the event-loop code in ``ferrogate.worker`` until after the fork).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from ferrogate.config.model import Config

HEARTBEAT_INTERVAL_SECS = 1.0
APP_FACTORY_ENV = "FERROGATE_APP_FACTORY"
"""``module:function`` taking ``(config, worker_state)`` and returning a Handler, used
instead of :func:`ferrogate.app.build_app` (embedding, and the process tests)."""


class WorkerReport(bytes, Enum):
    """One-byte reports a worker writes on its pipe to the supervisor."""

    READY = b"R"
    HEARTBEAT = b"H"


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    slot: int
    generation: int
    config: Config
    config_path: Path
    revision: str
    sockets: tuple[socket.socket, ...]
    public_addresses: tuple[str, ...]  # resolved host:port of each public listener
    admin_address: str | None  # resolved host:port of the control's admin listener
    ipc_path: str  # the control process's unix socket (may not exist yet)
    report_fd: int  # write end of the report pipe
    supervisor_pid: int
    counters_fd: int = -1  # the node's shared counter table (ferrogate.governance.counter_table)
    cache_fd: int = -1  # the node's shared answer cache (ferrogate.cache.shm_store)
