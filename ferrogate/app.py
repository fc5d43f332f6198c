"""The worker's application: the one router from a request to its handler.

In order: ``/admin`` and ``/admin/*`` are forwarded to the control process's admin
listener (unless ``admin.public = false``); then the route table
(``ferrogate.proxy.table``): the AI endpoints first when providers and models are
configured, then the configured routes in order. A matched route is served by its
kind: an AI endpoint (``ferrogate.pipeline.endpoints``), a proxy route
(``ferrogate.proxy.handler``) or a static answer. Unmatched ``/healthz`` and
``/readyz`` are answered by the worker itself; anything else unmatched is a 404.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Mapping
from pathlib import Path
from typing import Final

from ferrogate._fastpath.api import Exchange, Handler, Headers
from ferrogate._fastpath.clock import time
from ferrogate._fastpath.exchange import HttpExchange
from ferrogate._fastpath.pool import PoolSet
from ferrogate._fastpath.pump import relay
from ferrogate._fastpath.upstream import Timeouts
from ferrogate._fastpath.wire import HOP_BY_HOP
from ferrogate.cache.shm_store import ShmCache
from ferrogate.config.model import Config
from ferrogate.errors import ErrorSource, GatewayError
from ferrogate.governance.counter_table import CounterTable
from ferrogate.ipc import ADMIN_FORWARD_MARK as FORWARDED_MARK
from ferrogate.pipeline.endpoints import V1_ROUTES, serve_ai, serve_route
from ferrogate.pipeline.runtime import AiRuntime, Observer, compile_ai_runtime
from ferrogate.pipeline.tool_desk import ToolDesk
from ferrogate.proxy.handler import ProxyHandler
from ferrogate.proxy.table import RouteKind, compile_table

# Enum members read once: read from the class in a function, each costs several hundred instructions.
_UPSTREAM_SOURCE: Final = ErrorSource.UPSTREAM

_JSON: Final[Headers] = [(b"content-type", b"application/json")]
_ADMIN_TIMEOUTS: Final = Timeouts(connect=2.0, first_byte=60.0, total=120.0)
# Enum members as module constants (attribute access on an Enum class is slow on 3.11).
_PROXY: Final = RouteKind.PROXY
_RESPOND: Final = RouteKind.RESPOND


class WorkerState:
    """What a worker knows about itself; passed explicitly to the app and handlers."""

    __slots__ = (
        "admin_address",
        "ai_runtimes",
        "cache_segment",
        "config_path",
        "control",
        "counters",
        "draining",
        "generation",
        "ipc_path",
        "node_catching_up",
        "node_draining",
        "observer",
        "pid",
        "pools",
        "revision",
        "slot",
        "started_at",
        "tools",
    )

    def __init__(
        self,
        *,
        pools: PoolSet,
        slot: int = 0,
        generation: int = 0,
        revision: str = "",
        config_path: Path = Path(),
        admin_address: str | None = None,
        ipc_path: str = "",
        control: object | None = None,
        observer: Observer | None = None,
        counters: CounterTable | None = None,
        cache_segment: ShmCache | None = None,
    ) -> None:
        self.slot = slot
        self.generation = generation
        self.revision = revision
        self.config_path = config_path
        self.admin_address = admin_address
        self.ipc_path = ipc_path
        self.pools = pools
        self.control = control  # ferrogate.ipc.ControlClient once connected (or None)
        # Called with every finished AI request's context (the account phase's hand-off).
        self.observer = observer
        # The node's shared limit counters (None outside a supervisor: the runtime makes its own).
        self.counters = counters
        self.cache_segment = cache_segment  # the node's shared answer cache (None: the runtime makes one)
        self.pid = os.getpid()
        self.started_at = time()
        self.draining = False  # this worker is shutting down
        self.node_draining = False  # the operator drains the node (admin API)
        self.node_catching_up = False  # cluster.enabled: the shared admin objects not read yet
        # The AI runtimes of the app built last (set by build_app, replaced when an app is
        # rebuilt); the heartbeat reads their breaker state for the control process.
        self.ai_runtimes: tuple[AiRuntime, ...] = ()
        self.tools = ToolDesk()  # the node's MCP tools, kept current by the control process


def _admin_origin(address: str | None) -> str | None:
    """``http://host:port`` of the admin listener, reachable from this host."""
    if not address:
        return None
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def build_app(config: Config, state: WorkerState, *, env: Mapping[str, str] | None = None) -> Handler:
    """The worker's root handler for ``config``. Raises ``ProxyConfigError`` on a route
    that cannot compile."""
    pools = state.pools
    table = compile_table(config, pools, env)
    state.tools.use_config(config)
    runtime = compile_ai_runtime(
        config, pools, env=env, observer=state.observer, counters=state.counters, cache_segment=state.cache_segment,
        tools=state.tools,
    )
    state.ai_runtimes = (runtime,)
    proxy = ProxyHandler(scheme=b"https" if config.tls.enabled else b"http")
    admin_origin = _admin_origin(state.admin_address) if config.admin.public else None
    # /metrics on the public port: forwarded to the control process (which always asks for
    # the metrics token there) only when telemetry.metrics_public says so.
    metrics_origin = _admin_origin(state.admin_address) if config.telemetry.metrics_public else None
    needs_host = table.needs_host
    match = table.match
    # With the AI endpoints first in the table, their exact paths skip the matchers.
    ai_first = table.ai_first
    ai_paths = V1_ROUTES

    async def forward_admin(exchange: Exchange, origin: str | None) -> None:
        assert origin is not None
        req = exchange.request
        body = await exchange.read_body()
        headers: Headers = [
            (n, v) for n, v in req.headers if n not in HOP_BY_HOP and n != b"content-length" and n != FORWARDED_MARK
        ]
        # The control process applies the public port's rules to what carries this mark
        # (credentials always, the public site's host names); a client cannot remove it.
        headers.append((FORWARDED_MARK, b"1"))
        if req.client is not None:
            headers.append((b"x-forwarded-for", req.client[0].encode()))
        try:
            response = await pools.request(origin, req.method, req.target, headers, body, _ADMIN_TIMEOUTS)
        except GatewayError:
            raise
        except OSError as exc:
            raise GatewayError(
                502, f"admin API unavailable: {exc.strerror or exc}", code="bad_gateway", source=_UPSTREAM_SOURCE
            ) from None
        await relay(exchange, response)

    def app(exchange: Exchange) -> Awaitable[None]:
        # A plain function handing back the handler's awaitable (not awaiting it) saves
        # one coroutine frame, created and resumed, on every request.
        assert isinstance(exchange, HttpExchange)  # the server's: its request's fields read directly
        req = exchange.request
        path = req.path
        if ai_first:
            ai_route = ai_paths.get(path)
            if ai_route is not None:
                return serve_route(runtime, ai_route, exchange)
        if admin_origin is not None and path.startswith(b"/admin") and (len(path) == 6 or path[6] == 47):  # "/"
            return forward_admin(exchange, admin_origin)
        if metrics_origin is not None and path == b"/metrics":
            return forward_admin(exchange, metrics_origin)
        route = match(req.header(b"host") if needs_host else None, req.method, path.lower())
        if route is None:
            if path == b"/healthz" or path == b"/readyz":
                # The public answer is the status only: pids, slots and revisions stay on
                # the admin listener.
                if path == b"/healthz":
                    exchange.respond(200, _JSON, b'{"status":"ok"}')
                elif state.draining or state.node_draining:
                    exchange.respond(503, _JSON, b'{"status":"draining"}')
                elif state.node_catching_up:
                    exchange.respond(503, _JSON, b'{"status":"catching_up"}')
                else:
                    exchange.respond(200, _JSON, b'{"status":"ready"}')
                return _done()
            raise GatewayError(404, "no route matches this request", code="route_not_found", type="not_found_error")
        kind = route.kind
        if kind is _PROXY:
            return proxy.serve(exchange, route)
        if kind is _RESPOND:
            static = route.static
            assert static is not None
            exchange.respond(static.status, static.headers, static.body)
            return _done()
        return serve_ai(runtime, exchange)

    return app


async def _done() -> None:
    """An already finished response (sent synchronously)."""
