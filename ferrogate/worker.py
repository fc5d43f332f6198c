"""Worker entry: serve one slot's sockets on a fresh uvloop loop until told to drain.

Started in a forked child by the supervisor (never imported by it before the
fork). The worker builds its app, starts an :class:`HttpServer` per slot
socket, acks READY on its report pipe, then heartbeats once a second. SIGTERM
or SIGQUIT (or the supervisor disappearing) makes it stop accepting and drain:
idle keep-alive connections close now, busy ones finish within the grace
period. A failure before READY exits with ``ExitCode.BOOT_ERROR`` so the
supervisor can tell a broken config or install from a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import logging
import os
import signal
import time

import uvloop

from ferrogate import ipc
from ferrogate._fastpath.access_log import AccessLog
from ferrogate._fastpath.api import Handler
from ferrogate._fastpath.pool import PoolSet
from ferrogate._fastpath.server import HttpServer
from ferrogate.ai.health_status import TargetStatus
from ferrogate.app import WorkerState, build_app
from ferrogate.cache.shm_store import ShmCache
from ferrogate.governance.counter_table import CounterTable
from ferrogate.observability.record_queue import RecordQueue
from ferrogate.tls.server_context import ServerTls, TlsConfigError, build_server_tls
from ferrogate.worker_spec import APP_FACTORY_ENV, HEARTBEAT_INTERVAL_SECS, WorkerReport, WorkerSpec

log = logging.getLogger("ferrogate.worker")

DRAIN_SETTLE_SECS = 0.5


def worker_main(spec: WorkerSpec) -> int:
    """Run the worker to completion; returns its exit code."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides; a terminal ^C reaches it
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    os.set_blocking(spec.report_fd, False)
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(_serve(spec))
    finally:
        with contextlib.suppress(Exception):
            loop.run_until_complete(loop.shutdown_asyncgens())
        asyncio.set_event_loop(None)
        loop.close()


def _report(fd: int, what: WorkerReport) -> bool:
    """Write a report byte; False when the supervisor is gone."""
    try:
        os.write(fd, what.value)
    except BlockingIOError:
        return True  # pipe full: the supervisor is slow, not gone
    except OSError:
        return False
    return True


def _build_handler(spec: WorkerSpec, state: WorkerState) -> Handler:
    factory_path = os.environ.get(APP_FACTORY_ENV)
    if factory_path:
        module_name, _, attr = factory_path.partition(":")
        factory = getattr(importlib.import_module(module_name), attr or "build_app")
        handler: Handler = factory(spec.config, state)
        return handler
    return build_app(spec.config, state)


# Young objects allowed before the cyclic GC's first generation is collected (CPython's
# default is 700). A request's objects die by reference count, so allocations and frees
# balance; but the objects of the requests in flight add up (about 35 per governed request,
# 32 connections: over 700), and at 700 a collection ran every 32 requests, scanning them
# all only to find nothing (2 µs a request, measured in benchmarks/ai_server_hotpath.py).
YOUNG_OBJECTS_BEFORE_COLLECTION = 50_000


def tune_collector() -> None:
    """Set the cyclic GC up for serving (the worker calls it once booted; benchmarks too)."""
    # Everything alive now (modules, config, the compiled app) lives as long as the worker:
    # move it out of the GC's generations, so no collection rescans it.
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_OBJECTS_BEFORE_COLLECTION, older, oldest)


def _control_client(spec: WorkerSpec, state: WorkerState, server_tls: ServerTls | None) -> ipc.ControlClient:
    hello = ipc.WorkerHello(
        pid=os.getpid(),
        slot=spec.slot,
        generation=spec.generation,
        started_at=state.started_at,
        config_revision=spec.revision,
    )

    def on_message(msg: ipc.Message) -> None:
        if isinstance(msg, ipc.DrainState):
            state.node_draining = msg.draining
        elif isinstance(msg, ipc.SharedStateCatchUp):
            state.node_catching_up = msg.catching_up
        elif isinstance(msg, ipc.AdminObjects):
            merged = msg.merged_into(spec.config)
            for runtime in state.ai_runtimes:
                runtime.use_objects(merged, os.environ)
        elif isinstance(msg, ipc.ToolCatalog):
            state.tools.use_catalog(msg)
        elif isinstance(msg, ipc.TlsCertificatesRenewed) and server_tls is not None:
            try:
                server_tls.reload()  # new handshakes get the renewed certificate; open connections keep theirs
            except TlsConfigError as exc:
                log.error("cannot load the renewed certificate (the previous one stays in service): %s", exc)
            else:
                log.info("renewed certificate (serial %s) loaded for new connections", msg.serial)

    return ipc.ControlClient(spec.ipc_path, hello, on_message=on_message)


async def _serve(spec: WorkerSpec) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGQUIT):
        loop.add_signal_handler(sig, stop.set)
    pools = PoolSet()
    records = RecordQueue.for_config(spec.config, os.environ)
    state = WorkerState(
        slot=spec.slot,
        generation=spec.generation,
        revision=spec.revision,
        config_path=spec.config_path,
        admin_address=spec.admin_address,
        ipc_path=spec.ipc_path,
        pools=pools,
        observer=records if spec.config.telemetry.request_records else None,
        counters=CounterTable(spec.counters_fd) if spec.counters_fd >= 0 else None,
        cache_segment=ShmCache(spec.cache_fd) if spec.cache_fd >= 0 else None,
    )
    servers: list[HttpServer] = []
    access_log: AccessLog | None = None
    try:
        handler = _build_handler(spec, state)
        server_tls = build_server_tls(spec.config.tls, spec.config_path.parent)
        tls = server_tls.context if server_tls is not None else None
        access_log = AccessLog.from_config(spec.config.telemetry, slot=spec.slot)
        for sock in spec.sockets:
            server = HttpServer(handler, spec.config.limits, access_log=access_log)
            await server.start(sock, ssl=tls)
            servers.append(server)
        log.debug(
            "worker for slot %d serving %d socket(s); tls %s; access log %s",
            spec.slot, len(servers), "on" if tls else "off", spec.config.telemetry.access_log,
        )
    except Exception:
        log.exception("worker for slot %d failed to boot", spec.slot)
        return int(ipc.ExitCode.BOOT_ERROR)
    tune_collector()
    client = _control_client(spec, state, server_tls)
    state.control = client
    state.tools.client = client
    client.start()
    client.set_state(ipc.WorkerPhase.READY)
    if not _report(spec.report_fd, WorkerReport.READY):
        stop.set()
    beat = loop.create_task(_heartbeat(spec, state, records, servers, client, stop))
    flusher = loop.create_task(records.run(client, os.getpid()))
    await stop.wait()
    state.draining = True
    client.set_state(ipc.WorkerPhase.DRAINING)
    await _drain(servers, spec.config.reliability.graceful_shutdown_grace_period_secs)
    for task in (beat, flusher):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    records.flush(client, os.getpid())  # the records of the last requests, before the exit
    pools.close()
    if access_log is not None:
        access_log.close()  # the lines of the last requests are written before exit
    client.set_state(ipc.WorkerPhase.EXITED)
    await client.close()
    return int(ipc.ExitCode.OK)


async def _drain(servers: list[HttpServer], grace: float) -> None:
    """Stop accepting, let connections settle, then shut down within the grace period.

    ``HttpServer.shutdown`` closes every connection without a request in progress at
    once. A connection accepted a moment ago has not sent its request yet, and a
    keep-alive client may be about to reuse its connection; closing either loses a
    request during a reload or upgrade. So first every connection is marked draining
    (each response from now on carries ``Connection: close``) and the worker waits
    until every connection has closed, for at most a short settle window; then the
    real shutdown runs with what is left of the grace period.
    """
    for server in servers:
        server.begin_drain()
    loop = asyncio.get_running_loop()
    started = loop.time()
    settle = min(DRAIN_SETTLE_SECS, grace / 4)
    if settle > 0:
        await _connections_closed(servers, settle)
    left = max(0.0, grace - (loop.time() - started))
    await asyncio.gather(*(server.shutdown(left) for server in servers))


async def _connections_closed(servers: list[HttpServer], timeout: float) -> None:
    """Wait until no server has a connection left, or ``timeout`` passes.

    Each draining connection closes after its next response; the server state sets
    ``all_closed`` when its last one goes (``HttpServer.shutdown`` installs a fresh
    event of its own afterwards).
    """
    waits = []
    for server in servers:
        state = server.state
        if state is not None and state.connections:
            state.all_closed = asyncio.Event()
            waits.append(state.all_closed.wait())
    if waits:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*waits), timeout)


async def _heartbeat(
    spec: WorkerSpec,
    state: WorkerState,
    records: RecordQueue,
    servers: list[HttpServer],
    client: ipc.ControlClient,
    stop: asyncio.Event,
) -> None:
    """Tell the supervisor (pipe) and control (IPC) that this loop is alive; notice orphaning.

    Each beat carries the worker's AI request counts, and hands control the AI
    breakers' state when it changed (see
    :class:`HealthReporter`), read from ``state.ai_runtimes`` afresh so an app
    rebuilt in place is reported from then on.
    """
    pid = os.getpid()
    health = HealthReporter(pid)
    while True:
        await asyncio.sleep(HEARTBEAT_INTERVAL_SECS)
        orphaned = os.getppid() != spec.supervisor_pid
        if (orphaned or not _report(spec.report_fd, WorkerReport.HEARTBEAT)) and not stop.is_set():
            log.warning("worker %d: supervisor %d is gone; draining", pid, spec.supervisor_pid)
            stop.set()
        client.send(
            ipc.Heartbeat(
                pid=pid,
                ts=time.time(),
                inflight=sum(s.inflight for s in servers),
                connections=sum(s.connection_count for s in servers),
                ai_requests=records.tally.snapshot(),
                responses=_responses(servers),
                streams=sum(rt.streams for rt in state.ai_runtimes),
                records_dropped=records.dropped,
            )
        )
        try:
            report = health.next_report(state, client.connects)
        except Exception:  # a reporting bug must never stop the liveness beat
            log.exception("worker %d: cannot build the provider health report", pid)
            report = None
        if report is not None:
            client.send(report)


def _responses(servers: list[HttpServer]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for server in servers:
        for status, n in server.responses.items():
            counts[status] = counts.get(status, 0) + n
    return counts


class HealthReporter:
    """Builds a worker's :class:`ipc.ProviderHealth` when there is something new to say.

    A report goes out when the breaker state differs from the last one sent, or
    when the control connection count moved (a reload starts a fresh control
    process that knows nothing, and a report queued while disconnected may have
    been lost with the old connection). An idle worker therefore sends nothing
    after its first report; a busy one sends about one small frame a second
    (one ~60-byte array-like row per target), since the latency EWMA moves with
    every request.
    """

    __slots__ = ("_connects", "_last", "_pid")

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._last: list[TargetStatus] | None = None
        self._connects = -1

    def next_report(
        self,
        state: WorkerState,
        connects: int,
        *,
        mono: float | None = None,
        wall: float | None = None,
    ) -> ipc.ProviderHealth | None:
        mono = time.monotonic() if mono is None else mono
        wall = time.time() if wall is None else wall
        statuses = [s for runtime in state.ai_runtimes for s in runtime.breaker_status(mono)]
        if statuses == self._last and connects == self._connects:
            return None
        self._last, self._connects = statuses, connects
        return ipc.ProviderHealth(
            pid=self._pid, ts=wall, targets=[_sample(s, mono, wall) for s in statuses]
        )


_BREAKER_STATES: dict[str, ipc.BreakerStateName] = {
    "closed": "closed",
    "open": "open",
    "half_open": "half_open",
}


def _sample(status: TargetStatus, mono: float, wall: float) -> ipc.TargetHealthSample:
    """One target's status with its monotonic instants moved to the wall clock."""
    return ipc.TargetHealthSample(
        provider=status.provider,
        provider_model=status.provider_model,
        state=_BREAKER_STATES[status.state],
        consecutive_failures=status.consecutive_failures,
        successes=status.successes,
        failures=status.failures,
        failure_rate=status.failure_rate,
        latency_ewma_ms=status.latency_ewma_ms,
        opened_at=None if status.opened_at is None else wall - (mono - status.opened_at),
        retry_at=None if status.retry_at is None else wall - (mono - status.retry_at),
    )
