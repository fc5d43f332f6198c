"""The worker's application: local health endpoints, the admin forward, then the router.

``/healthz`` and ``/readyz`` are answered by the worker itself (no upstream, no
control round trip) unless a configured route claims them. ``/admin`` and
``/admin/*`` are forwarded to the control process's admin listener (unless
``admin.public = false``), marked so the control process applies the public
port's rules. The rest goes to the route table from ``ferrogate.proxy.router``
(the AI endpoints first, then the configured routes), which answers 404 itself
when no route matches.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable
from pathlib import Path

from ferrogate._fastpath.api import Exchange, Handler, Headers
from ferrogate._fastpath.pool import PoolSet
from ferrogate._fastpath.pump import HOP_BY_HOP, relay
from ferrogate._fastpath.upstream import Timeouts
from ferrogate.ai.handler import build_ai_handler
from ferrogate.ai.runtime import AiRuntime, Observer
from ferrogate.config.model import Config
from ferrogate.errors import ErrorSource, GatewayError
from ferrogate.ipc import ADMIN_FORWARD_MARK as FORWARDED_MARK
from ferrogate.proxy.router import Router, compile_router

_JSON: Headers = [(b"content-type", b"application/json")]
_ADMIN_TIMEOUTS = Timeouts(connect=2.0, first_byte=60.0, total=120.0)


class WorkerState:
    """What a worker knows about itself; passed explicitly to the app and handlers."""

    __slots__ = (
        "admin_address",
        "ai_runtimes",
        "config_path",
        "control",
        "draining",
        "generation",
        "ipc_path",
        "node_draining",
        "observer",
        "pid",
        "pools",
        "revision",
        "slot",
        "started_at",
    )

    def __init__(
        self,
        *,
        slot: int,
        generation: int,
        revision: str,
        config_path: Path,
        admin_address: str | None,
        ipc_path: str,
        pools: PoolSet,
        control: object | None = None,
        observer: Observer | None = None,
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
        self.pid = os.getpid()
        self.started_at = time.time()
        self.draining = False  # this worker is shutting down
        self.node_draining = False  # the operator drains the node (admin API)
        # The AI runtimes of the app built last (set by build_app, replaced when an app is
        # rebuilt); the heartbeat reads their breaker state for the control process.
        self.ai_runtimes: tuple[AiRuntime, ...] = ()


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


def _load_router(config: Config, pools: PoolSet, state: WorkerState) -> Router:
    ai_handler = build_ai_handler(config, pools, observer=state.observer)
    state.ai_runtimes = (ai_handler.runtime,)
    return compile_router(config, pools, ai_handler=ai_handler)


def build_app(config: Config, worker_state: WorkerState) -> Handler:
    """The worker's root handler."""
    state = worker_state
    pools = state.pools
    router = _load_router(config, pools, state)
    route = router.handle
    admin_origin = _admin_origin(state.admin_address) if config.admin.public else None

    async def forward_admin(exchange: Exchange) -> None:
        assert admin_origin is not None
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
            response = await pools.request(admin_origin, req.method, req.target, headers, body, _ADMIN_TIMEOUTS)
        except GatewayError:
            raise
        except OSError as exc:
            raise GatewayError(
                502, f"admin API unavailable: {exc.strerror or exc}", code="bad_gateway", source=ErrorSource.UPSTREAM
            ) from None
        await relay(exchange, response)

    def app(exchange: Exchange) -> Awaitable[None]:
        # A plain function handing back the router's awaitable (not awaiting it) saves
        # one coroutine frame, created and resumed, on every request.
        path = exchange.request.path
        if path == b"/healthz" or path == b"/readyz":
            # Built in, unless a configured route claims the path. The public answer is the
            # status only: pids, slots and revisions stay on the admin listener.
            if router.claims(exchange):
                return route(exchange)
            if path == b"/healthz":
                exchange.respond(200, _JSON, b'{"status":"ok"}')
            elif state.draining or state.node_draining:
                exchange.respond(503, _JSON, b'{"status":"draining"}')
            else:
                exchange.respond(200, _JSON, b'{"status":"ready"}')
            return _done()
        if admin_origin is not None and (path == b"/admin" or path.startswith(b"/admin/")):
            return forward_admin(exchange)
        return route(exchange)

    return app


async def _done() -> None:
    """An already finished response (sent synchronously)."""
