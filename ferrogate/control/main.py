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

from ferrogate.config.load import load
from ferrogate.config.model import Config
from ferrogate.control.admin import AdminApi, Loader, ReloadAnswer, exchange_handler
from ferrogate.control.admin_objects import ObjectsApi
from ferrogate.control.admin_tools import ToolsApi
from ferrogate.control.admin_usage import UsageApi
from ferrogate.control.channel import IpcServer
from ferrogate.control.cluster_state import CatchUp, open_shared_state
from ferrogate.control.metering_export import MeteringExport
from ferrogate.control.node_metrics import node_view
from ferrogate.control.object_manager import ObjectManager
from ferrogate.control.record_sink import RecordSink
from ferrogate.control.state import ControlState
from ferrogate.governance.counter_table import CounterTable
from ferrogate.ipc import (
    DrainState,
    ExitCode,
    Message,
    ReloadRequest,
    ReloadVerdict,
    SupervisorStatus,
    ToolCallReply,
    ToolCallRequest,
)
from ferrogate.observability.gateway_metrics import GatewayMetrics
from ferrogate.store.database import MEMORY, StoreError, store_path
from ferrogate.store.saver import BudgetSaver

if TYPE_CHECKING:
    from ferrogate._fastpath.server import HttpServer
    from ferrogate.control.acme_renewal import AcmeRenewal
    from ferrogate.control.mcp_host import McpHost
    from ferrogate.control.otlp_export import OtlpExport

_log = logging.getLogger("ferrogate.control")

PARENT_CHECK_SECS = 1.0
"""How often the control process checks that its supervisor is still alive."""


SUPERVISOR_LINK_WAIT_SECS = 3.0
RELOAD_VERDICT_SECS = 15.0
"""How long the admin API waits for the supervisor to load its config file for a reload."""


class ControlService:
    """The control process's servers and state, independent of signals and loop ownership."""

    __slots__ = (
        "_admin_server",
        "_mcp_start",
        "_reload_ids",
        "_synced",
        "_verdicts",
        "acme",
        "api",
        "export",
        "ipc",
        "mcp",
        "objects",
        "otlp",
        "records",
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
        self.state = ControlState(
            config, config_path, generation, env=env, expected_workers=expected_workers
        )
        metrics = GatewayMetrics(
            (m.name for m in config.models),
            (p.name for p in config.providers),
            key_label=config.telemetry.metrics_key_label,
        )
        metrics.node = node_view(self.state)
        self.records = RecordSink(config, store_path(config, config_path), metrics)
        self.ipc = IpcServer(
            self.state,
            on_supervisor_status=self._follow_supervisor,
            on_reload_verdict=self._on_reload_verdict,
            on_supervisor_lost=self._on_supervisor_lost,
            greeting=self._greeting,
            on_records=self.records.accept,
            on_heartbeat=lambda beat: metrics.heartbeat(beat.pid, beat.responses, beat.records_dropped),
            on_tool_call=self._tool_call,
            on_tool_note=lambda note: self.mcp.note_model_step(note) if self.mcp is not None else None,
        )
        # The MCP sessions (one per server for the node), opened by start() when configured.
        self.mcp: McpHost | None = None
        self.acme: AcmeRenewal | None = None  # certificate renewals, with [tls.acme]
        self._mcp_start: asyncio.Task[None] | None = None
        self.objects = ObjectManager(config, config_path, self.state.env, broadcast=self.ipc.broadcast_workers)
        self.api = AdminApi(
            self.state,
            ask_reload=self._ask_reload,
            on_drain_change=self._broadcast_drain,
            loader=loader,
            objects=ObjectsApi(self.objects),
            usage=UsageApi(self.records, lambda: self.state.config),
            tools=ToolsApi(lambda: self.mcp),
        )
        self._admin_server: HttpServer | None = None
        self.export: MeteringExport | None = None
        self.otlp: OtlpExport | None = None  # OTLP traces, metrics and logs (the SDK imported only when configured)
        self._reload_ids = 0
        self._verdicts: dict[int, asyncio.Future[ReloadVerdict]] = {}
        self._synced = False

    async def start(self, admin_sock: socket.socket | None, ipc_path: str) -> None:
        """Load the admin objects, listen on the IPC path, then serve the admin API on ``admin_sock`` (if any)."""
        try:
            await self.objects.start()
        except StoreError as exc:
            raise OSError(f"the store cannot be opened: {exc}") from None
        cluster = self.state.config.cluster
        share = self.objects.share = open_shared_state(cluster, self.state.config_path, self.objects.apply_shared)
        if share is not None:
            await share.start(self.objects.shared_rows())
            if cluster.enabled:
                self.state.catch_up = CatchUp(share, self.ipc.broadcast_workers)
        if self.state.config.tls.acme.enabled:
            # Before the admin API serves, so its status lists the certificate from the first
            # answer (renewals start last). The acme library is imported only when configured.
            from ferrogate.control.acme_renewal import AcmeRenewal
            from ferrogate.tls.acme_storage import AcmeFiles

            acme = self.state.config.tls.acme
            renewal = self.acme = AcmeRenewal(acme, AcmeFiles.of(acme, self.state.config_path.parent),
                                              self.ipc.broadcast_workers, self.state.env)
            self.state.certificates = lambda: [renewal.view()]
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
        # What the request records feed comes last: records that arrive before it are counted
        # in the metrics and wait for the store.
        try:
            await self.records.start()
        except StoreError as exc:
            raise OSError(f"the store cannot be opened: {exc}") from None
        self._start_export()
        if self.state.config.mcp_servers:
            from ferrogate.control.event_sinks import AuditLogSink
            from ferrogate.control.mcp_host import McpHost  # the mcp SDK only when configured

            mcp = self.mcp = McpHost(self.state.config.mcp_servers, self.state.env, self.ipc.broadcast_workers,
                                     sinks=[AuditLogSink(self.objects.note)],
                                     store_path=store_path(self.state.config, self.state.config_path))
            self.records.metrics.mcp_stats = lambda: (mcp.calls, mcp.seconds)
            self._mcp_start = asyncio.get_running_loop().create_task(mcp.start(), name="mcp-start")
        if self.state.config.telemetry.otlp_endpoint is not None:
            from ferrogate.control.otlp_export import OtlpExport  # the SDK only when configured

            otlp = self.otlp = OtlpExport(lambda: self.state.config)
            self.records.metrics.otlp_dropped = lambda: otlp.dropped
            self.records.on_blob = otlp.submit_blob if otlp.wants_records else None
            self.records.on_increments = otlp.submit_increments
            self.records.on_unsummed = otlp.submit_unsummed
            self.records.only_traced = not otlp.wants_logs  # the workers send sampled records apart then
            self.otlp.start()
        if self.acme is not None:
            self.acme.start()

    async def stop(self, grace_secs: float) -> None:
        """Stop accepting, let admin requests in flight finish within the grace, close IPC."""
        if self._admin_server is not None:
            self._admin_server.stop_accepting()
            await self._admin_server.shutdown(grace_secs)
            self._admin_server = None
        await self.ipc.close()
        if self._mcp_start is not None:
            self._mcp_start.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._mcp_start
        if self.mcp is not None:
            await self.mcp.stop()
        if self.acme is not None:
            await self.acme.stop()
        if self.state.catch_up is not None:
            await self.state.catch_up.stop()
        if self.objects.share is not None:
            await self.objects.share.stop()
        if self.export is not None:
            await self.export.stop()
        await self.records.stop()
        if self.otlp is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.otlp.close)
        await asyncio.get_running_loop().run_in_executor(None, self.objects.close)

    def _start_export(self) -> None:
        metering = self.state.config.metering
        if not metering.export_enabled:
            return
        export = self.export = MeteringExport(metering, self.state.env, self.records)
        self.records.on_events = export.wake
        self.records.metrics.export_stats = lambda: (export.sent, export.failures, export.outbox)
        export.start()

    async def _tool_call(self, req: ToolCallRequest) -> ToolCallReply:
        mcp = self.mcp
        if mcp is None:
            return ToolCallReply(id=req.id, status=503, code="mcp_unavailable", message="no MCP server is configured")
        return await mcp.call(req)

    # -- admin → supervisor

    async def _ask_reload(self) -> ReloadAnswer:
        """Ask the supervisor to reload its config file, and wait for its verdict on it.

        The supervisor alone loads the file. Without a link to it (it comes in the first
        moments of a control process: waited for up to ``SUPERVISOR_LINK_WAIT_SECS``),
        SIGHUP asks the same, without a verdict.
        """
        deadline = asyncio.get_running_loop().time() + SUPERVISOR_LINK_WAIT_SECS
        while self.ipc.supervisor is None and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        if self.ipc.supervisor is not None:
            self._reload_ids += 1
            rid = self._reload_ids
            verdict: asyncio.Future[ReloadVerdict] = asyncio.get_running_loop().create_future()
            self._verdicts[rid] = verdict
            self.ipc.send_supervisor(ReloadRequest(id=rid))
            try:
                return await asyncio.wait_for(verdict, RELOAD_VERDICT_SECS)
            except (TimeoutError, ConnectionError):
                return "unavailable"
            finally:
                self._verdicts.pop(rid, None)
        if self.supervisor_pid is None:
            return "unavailable"
        try:
            os.kill(self.supervisor_pid, signal.SIGHUP)
        except OSError:
            return "unavailable"
        return "signal"

    def _greeting(self) -> list[Message]:
        """What a worker is sent when it says hello: the current objects, tools and readiness."""
        catch_up = self.state.catch_up
        return [
            self.objects.snapshot(),
            *([self.mcp.catalog()] if self.mcp is not None else []),
            *(catch_up.greeting() if catch_up is not None else []),
        ]

    def _broadcast_drain(self, draining: bool) -> None:
        msg = DrainState(draining=draining)
        self.ipc.broadcast_workers(msg)
        self.ipc.send_supervisor(msg)  # so a restarted control process can restore it

    # -- supervisor → control

    def _on_reload_verdict(self, verdict: ReloadVerdict) -> None:
        waiting = self._verdicts.get(verdict.id)
        if waiting is not None and not waiting.done():
            if verdict.valid:
                # Noted here, in the link's message order, so the outcome that follows on the
                # same link always finds its request (the admin handler resumes later).
                self.state.note_reload_requested(verdict.revision, self.state.config_path, verdict.id)
            waiting.set_result(verdict)

    def _on_supervisor_lost(self) -> None:
        for waiting in self._verdicts.values():
            if not waiting.done():
                waiting.set_exception(ConnectionError("the supervisor link closed"))

    def _follow_supervisor(self, status: SupervisorStatus) -> None:
        """Restore the drain flag once: a control process started after a reload or a crash
        learns it from the supervisor, which echoes what the last one set."""
        if not self._synced:
            self._synced = True
            if status.draining and self.state.set_draining(True):
                self._broadcast_drain(True)


def run_control(
    config: Config,
    config_path: Path,
    admin_sock: socket.socket | None,
    ipc_path: str,
    generation: int,
    *,
    expected_workers: int | None = None,
    counters_fd: int = -1,
) -> int:
    """Run the control process until SIGTERM/SIGINT; returns its :class:`ExitCode`.

    ``counters_fd`` is the node's counter table: the control process saves its spent
    budgets to the store (``ferrogate.store.saver``)."""
    import uvloop

    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(
            _serve(config, config_path, admin_sock, ipc_path, generation, expected_workers, counters_fd)
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
    counters_fd: int = -1,
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

    saver = _budget_saver(config, config_path, counters_fd)
    code = ExitCode.OK
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), PARENT_CHECK_SECS)
        if os.getppid() != parent:
            _log.error("supervisor %d is gone; control process exits", parent)
            code = ExitCode.ORPHANED
            break
    await service.stop(service.state.config.reliability.graceful_shutdown_grace_period_secs)
    if saver is not None:
        await loop.run_in_executor(None, saver.stop)
    return code


def _budget_saver(config: Config, config_path: Path, counters_fd: int) -> BudgetSaver | None:
    path = store_path(config, config_path)
    if counters_fd < 0 or path == MEMORY:
        return None
    saver = BudgetSaver(path, CounterTable(counters_fd))
    saver.start()
    return saver
