"""The generic reverse proxy as a fast-path :data:`Handler`.

Phases per request, in order: match a route → (respond | ai_gateway | proxy).
Proxying: rewrite the target, build upstream headers (forwarding, request id,
traceparent, header_up), pick a healthy target, send, relay the response with
backpressure (header_down, x-request-id echoed). A connect failure (nothing
sent) moves on to the next healthy target; anything else becomes the error
the client sees, rendered by ``ferrogate.errors.render`` via the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from typing import Final

from ferrogate._fastpath.api import Exchange, Handler, Headers
from ferrogate._fastpath.pool import PoolSet
from ferrogate._fastpath.pump import relay, relay_complete, relay_complete_lines, response_headers
from ferrogate._fastpath.upstream import Body
from ferrogate._fastpath.upstream_errors import UpstreamError
from ferrogate.config.model import Config
from ferrogate.errors import ErrorSource, GatewayError
from ferrogate.proxy.balancer import Target
from ferrogate.proxy.forwarding import X_REQUEST_ID, IdSource, upstream_head, upstream_headers
from ferrogate.proxy.placeholders import Vars
from ferrogate.proxy.table import CompiledRoute, RouteKind, RouteTable, compile_table

BUFFER_BODY_LIMIT: Final = 64 * 1024
"""Request bodies up to this size (with a Content-Length) are read whole, so a
stale pooled connection can be retried; larger or chunked ones stream."""

_CONNECT_PHASES: Final = frozenset(("connect", "tls"))
# Enum members as module constants (attribute access on an Enum class is slow on 3.11).
_PROXY: Final = RouteKind.PROXY
_RESPOND: Final = RouteKind.RESPOND


class Router:
    """Holds the compiled table; ``handle`` is the per-request entry point."""

    __slots__ = ("ai_handler", "ids", "scheme", "table")

    def __init__(self, table: RouteTable, *, scheme: bytes, ai_handler: Handler | None) -> None:
        self.table = table
        self.scheme = scheme
        self.ai_handler = ai_handler
        self.ids = IdSource()

    def claims(self, exchange: Exchange) -> bool:
        """Whether a configured route matches this request (built-in endpoints yield to it)."""
        req = exchange.request
        table = self.table
        return table.match(req.header(b"host") if table.needs_host else None, req.method, req.path.lower()) is not None

    def handle(self, exchange: Exchange) -> Awaitable[None]:
        """Match a route and return the awaitable that serves it.

        A plain function handing back the phase's coroutine (instead of awaiting
        it) saves a coroutine frame on every request; errors raised here surface
        when the server awaits, exactly as from inside a coroutine.
        """
        req = exchange.request
        table = self.table
        route = table.match(
            req.header(b"host") if table.needs_host else None, req.method, req.path.lower()
        )
        if route is None:
            raise GatewayError(
                404, "no route matches this request", code="route_not_found", type="not_found_error"
            )
        kind = route.kind
        if kind is _PROXY:
            return self._proxy(exchange, route)
        if kind is _RESPOND:
            static = route.static
            assert static is not None
            exchange.respond(static.status, static.headers, static.body)
            return _done()
        ai = self.ai_handler
        if ai is None:
            raise GatewayError(
                503,
                "the AI gateway is not available in this worker",
                code="ai_gateway_unavailable",
                source=ErrorSource.INTERNAL,
            )
        return ai(exchange)

    async def _proxy(self, exchange: Exchange, route: CompiledRoute) -> None:
        req = exchange.request
        group = route.upstream
        assert group is not None
        target = route.rewrite_target(req.path, req.query) if route.rewrites else req.target
        balancer = group.balancer
        ops = route.up_ops
        vars_: Vars | None = None
        length = req.content_length
        chunked = length is None and req.chunked
        if ops is None:
            # No header edits: serialize the whole head in one pass.
            if length is not None:
                framing = b"content-length: %d" % length
            else:
                framing = b"transfer-encoding: chunked" if chunked else b""
            head, rid = upstream_head(
                req, self.scheme, self.ids, target, balancer.targets[0].hostport, framing
            )
            headers: Headers = []
        else:
            head = b""
            headers, rid = upstream_headers(req, self.scheme, self.ids)
            vars_ = Vars(rid, self.scheme, b"")
            if not route.ops_need_upstream:
                headers = ops.apply(headers, req, vars_)
        body: Body = b"" if length is None and not chunked else await _request_body(exchange)
        tried: tuple[Target, ...] = ()
        while True:
            t = balancer.only
            if t is None or t.down_until or tried:
                # Several targets, or one that has failed: ask the policy (needs the clock).
                t = balancer.pick(asyncio.get_running_loop().time(), tried)
                if t is None:
                    raise _with_id(
                        GatewayError(
                            503,
                            f"no healthy upstream for {group.name!r}",
                            code="no_healthy_upstream",
                            source=ErrorSource.UPSTREAM,
                            retryable=True,
                        ),
                        rid,
                    )
            t.inflight += 1
            exchange.log_upstream = t.url
            try:
                if ops is None:
                    resp = await t.pool.send(
                        head, body, group.timeouts, is_head=req.method == b"HEAD", chunked=chunked
                    )
                else:
                    sent = headers
                    if route.ops_need_upstream:
                        assert vars_ is not None
                        vars_.upstream_hostport = t.hostport
                        sent = ops.apply(list(headers), req, vars_)
                    resp = await t.pool.request(req.method, target, sent, body, group.timeouts)
            except UpstreamError as exc:
                t.inflight -= 1
                balancer.failed(t, asyncio.get_running_loop().time())
                if exc.phase in _CONNECT_PHASES and len(tried) + 1 < len(balancer.targets):
                    tried = (*tried, t)  # nothing was sent: another target is safe
                    continue
                raise _with_id(exc, rid) from None
            except BaseException:
                t.inflight -= 1
                raise
            break
        try:
            if t.fails:
                t.fails = 0  # passive health: a success resets the count
            down = route.down_ops
            if down is None and relay_complete_lines(exchange, resp, b"x-request-id: " + rid):
                return
            out = response_headers(resp.headers)
            if down is not None:
                out = down.apply(out, req, vars_ or Vars(rid, self.scheme, t.hostport))
            out.append((X_REQUEST_ID, rid))
            if not relay_complete(exchange, resp, out):
                await relay(exchange, resp, out)
        except UpstreamError as exc:
            balancer.failed(t, asyncio.get_running_loop().time())
            raise _with_id(exc, rid) from None
        finally:
            t.inflight -= 1


async def _request_body(exchange: Exchange) -> Body:
    req = exchange.request
    length = req.content_length
    if length is None:
        return exchange.body_chunks() if req.chunked else b""
    if length == 0:
        return b""
    if length <= BUFFER_BODY_LIMIT:
        return await exchange.read_body()
    return exchange.body_chunks()


async def _done() -> None:
    """An already finished phase (the response went out synchronously)."""


def _with_id(err: GatewayError, rid: bytes) -> GatewayError:
    if not any(name == X_REQUEST_ID for name, _ in err.headers):
        err.headers = (*err.headers, (X_REQUEST_ID, rid))
    return err


def build_router(
    config: Config,
    pools: PoolSet,
    *,
    ai_handler: Handler | None = None,
    env: Mapping[str, str] | None = None,
) -> Handler:
    """Compile ``config`` (routes in order) into a handler; ``ai_gateway`` routes call
    ``ai_handler``. Raises :class:`ProxyConfigError` on a route that cannot compile."""
    return compile_router(config, pools, ai_handler=ai_handler, env=env).handle


def compile_router(
    config: Config,
    pools: PoolSet,
    *,
    ai_handler: Handler | None = None,
    env: Mapping[str, str] | None = None,
) -> Router:
    """The :class:`Router` itself, for callers that also ask whether a route claims a path."""
    table = compile_table(config, pools, env)
    scheme = b"https" if config.tls.enabled else b"http"
    return Router(table, scheme=scheme, ai_handler=ai_handler)
