"""Forking workers and the control process.

The supervisor forks while it has no threads and no event loop. The child
drops the supervisor's signal set-up, closes every fd that is not its own
(other slots' sockets, the wake-up pipe, other workers' report pipes, the
hand-off channels) and only then imports its entry module, so the event-loop
code is never loaded in the supervisor itself.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import traceback
from collections.abc import Iterable
from pathlib import Path

from ferrogate.config.model import Config
from ferrogate.ipc import ExitCode
from ferrogate.worker_spec import WorkerSpec

log = logging.getLogger("ferrogate.supervisor")

_SUPERVISOR_SIGNALS = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGHUP,
    signal.SIGUSR2,
    signal.SIGCHLD,
)

Closable = socket.socket | int


def _enter_child(close: Iterable[Closable], keep: Iterable[socket.socket]) -> None:
    signal.set_wakeup_fd(-1)
    for sig in _SUPERVISOR_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    kept = {id(s) for s in keep}
    for item in close:
        if isinstance(item, socket.socket):
            if id(item) not in kept:
                item.close()
        else:
            try:
                os.close(item)
            except OSError:
                pass


def fork_worker(spec_args: dict[str, object], close: Iterable[Closable]) -> tuple[int, int]:
    """Fork a worker. ``spec_args`` are WorkerSpec fields minus report_fd/supervisor_pid.

    Returns ``(pid, report_read_fd)``.
    """
    read_fd, write_fd = os.pipe()
    parent = os.getpid()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        os.close(write_fd)
        return pid, read_fd
    code = int(ExitCode.BOOT_ERROR)
    try:
        os.close(read_fd)
        spec = WorkerSpec(report_fd=write_fd, supervisor_pid=parent, **spec_args)  # type: ignore[arg-type]
        _enter_child(close, spec.sockets)
        from ferrogate.worker import worker_main

        code = worker_main(spec)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def control_available() -> bool:
    """Whether the control process is installed (checked without importing it)."""
    import ferrogate

    return (Path(ferrogate.__file__).parent / "control" / "main.py").exists()


def fork_control(
    config: Config,
    config_path: Path,
    admin_sock: socket.socket | None,
    ipc_path: str,
    generation: int,
    expected_workers: int,
    close: Iterable[Closable],
    counters_fd: int = -1,
) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        _enter_child(close, [admin_sock] if admin_sock is not None else [])
        from ferrogate.control.main import run_control

        code = run_control(
            config,
            config_path,
            admin_sock,
            ipc_path,
            generation,
            expected_workers=expected_workers,
            counters_fd=counters_fd,
        )
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
