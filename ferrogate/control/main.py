"""Entry point of the control process (forked by the supervisor).

:func:`run_control` owns a fresh uvloop loop and runs a :class:`ControlService`
until SIGTERM/SIGINT, then shuts it down within the grace period. The service
itself (IPC socket + admin listener) can be started inside any running loop,
which is how the tests drive it in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ferrogate.config.diagnostics import ConfigError
from ferrogate.config.load import load
from ferrogate.config.model import Config
from ferrogate.control.admin import AdminApi, Loader, ReloadDelivery, exchange_handler
from ferrogate.control.channel import IpcServer
from ferrogate.control.state import ControlState
from ferrogate.ipc import DrainState, ExitCode, ReloadRequest, SupervisorStatus, config_revision

if TYPE_CHECKING:
    from ferrogate._fastpath.server import HttpServer

_log = logging.getLogger("ferrogate.control")

PARENT_CHECK_SECS = 1.0
"""How often the control process checks that its supervisor is still alive."""


class ControlService:
    """The control process's servers and state, independent of signals and loop ownership."""

    __slots__ = (
        "_admin_server",
        "_loader",
        "_pending",
        "_reload_ids",
        "_synced",
        "api",
        "ipc",
        "state",
        "supervisor_pid",
    )

    def __init__(
        self,
        config: Config,
        config_path: Path,
        generation: int,
        *,
        supervisor_pid: int | None,
        env: Mapping[str, str] | None = None,
        expected_workers: int | None = None,
        loader: Loader = load,
    ) -> None:
        self.supervisor_pid = supervisor_pid
        self._loader = loader
        self.state = ControlState(
            config, config_path, generation, env=env, expected_workers=expected_workers
        )
        self.ipc = IpcServer(self.state, on_supervisor_status=self._follow_supervisor)
        self.api = AdminApi(
            self.state,
            notify_reload=self._notify_reload,
            on_drain_change=self._broadcast_drain,
            loader=loader,
        )
        self._admin_server: HttpServer | None = None
        self._pending: tuple[str, Config, Path] | None = None
        self._reload_ids = 0
        self._synced = False

    async def start(self, admin_sock: socket.socket | None, ipc_path: str) -> None:
        """Listen on the IPC path, then serve the admin API on ``admin_sock`` (if any)."""
        await self.ipc.start(ipc_path)
        if admin_sock is not None:
            from ferrogate._fastpath.server import HttpServer

            admin_sock.setblocking(False)
            self._admin_server = HttpServer(exchange_handler(self.api), self.state.config.limits)
            await self._admin_server.start(admin_sock)
            if self.api.open_locally:
                _log.warning(
                    "admin API is open on %s without credentials (no admin.token_env and no API keys): "
                    "keep it on loopback; through the public port it needs credentials",
                    self.state.config.admin.listen,
                )

    async def stop(self, grace_secs: float) -> None:
        """Stop accepting, let admin requests in flight finish within the grace, close IPC."""
        if self._admin_server is not None:
            self._admin_server.stop_accepting()
            await self._admin_server.shutdown(grace_secs)
            self._admin_server = None
        await self.ipc.close()

    # -- admin → supervisor

    def _notify_reload(self, path: Path, revision: str, config: Config) -> ReloadDelivery:
        self._pending = (revision, config, path)
        self._reload_ids += 1
        request = ReloadRequest(
            config_path=str(path.absolute()), revision=revision, id=self._reload_ids
        )
        if self.ipc.send_supervisor(request):
            return "ipc"
        # SIGHUP re-reads the supervisor's own config file, so it can only carry that path.
        if self.supervisor_pid is not None and path.absolute() == self.state.config_path.absolute():
            try:
                os.kill(self.supervisor_pid, signal.SIGHUP)
            except OSError:
                return "unavailable"
            return "signal"
        return "unavailable"

    def _broadcast_drain(self, draining: bool) -> None:
        msg = DrainState(draining=draining)
        self.ipc.broadcast_workers(msg)
        self.ipc.send_supervisor(msg)  # so a restarted control process can restore it

    # -- supervisor → control

    def _follow_supervisor(self, status: SupervisorStatus) -> None:
        """Restore the drain flag once, and adopt the config the supervisor has applied."""
        if not self._synced:
            self._synced = True
            if status.draining and self.state.set_draining(True):
                self._broadcast_drain(True)
        if status.config_revision == self.state.revision:
            return
        pending, self._pending = self._pending, None
        if pending is not None and pending[0] == status.config_revision:
            revision, config, path = pending
        else:
            path = Path(status.config_path)
            try:
                config = self._loader(path, env=self.state.env).config
            except ConfigError as err:
                _log.error("cannot load the config the supervisor applied (%s): %s", path, err)
                return
            revision = config_revision(config)
            if revision != status.config_revision:
                _log.warning(
                    "config at %s is revision %s, the supervisor runs %s; keeping %s",
                    path,
                    revision,
                    status.config_revision,
                    self.state.revision,
                )
                return
        self.state.apply_config(config, path)
        self.state.note_reload_outcome(True, revision, [])
        self.api.refresh_auth()
        _log.info("control process now follows config revision %s", revision)


def run_control(
    config: Config,
    config_path: Path,
    admin_sock: socket.socket | None,
    ipc_path: str,
    generation: int,
    *,
    expected_workers: int | None = None,
) -> int:
    """Run the control process until SIGTERM/SIGINT; returns its :class:`ExitCode`."""
    import uvloop

    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(
            _serve(config, config_path, admin_sock, ipc_path, generation, expected_workers)
        )
    finally:
        with contextlib.suppress(Exception):
            loop.run_until_complete(loop.shutdown_asyncgens())
        asyncio.set_event_loop(None)
        loop.close()


async def _serve(
    config: Config,
    config_path: Path,
    admin_sock: socket.socket | None,
    ipc_path: str,
    generation: int,
    expected_workers: int | None,
) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    parent = os.getppid()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # Reload and upgrade are the supervisor's signals; a stray one must not kill us.
    for sig in (signal.SIGHUP, signal.SIGUSR2):
        loop.add_signal_handler(sig, lambda: None)

    service = ControlService(
        config, config_path, generation, supervisor_pid=parent, expected_workers=expected_workers
    )
    try:
        await service.start(admin_sock, ipc_path)
    except OSError as exc:
        _log.error("control process cannot start: %s", exc)
        await service.stop(0.0)
        return ExitCode.BOOT_ERROR
    _log.info(
        "control process %d serving (generation %d, ipc %s)", os.getpid(), generation, ipc_path
    )

    code = ExitCode.OK
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), PARENT_CHECK_SECS)
        if os.getppid() != parent:
            _log.error("supervisor %d is gone; control process exits", parent)
            code = ExitCode.ORPHANED
            break
    await service.stop(service.state.config.reliability.graceful_shutdown_grace_period_secs)
    return code
