"""Serve a matched proxy route: forward the request to a healthy target and relay back.

Per request: rewrite the target, build upstream headers (forwarding, request id,
traceparent, header_up), pick a healthy target, send, relay the response with
backpressure (header_down, x-request-id echoed). A connect failure (nothing
sent) moves on to the next healthy target; anything else becomes the error the
client sees, carrying the request id the upstream was sent.
"""

from __future__ import annotations

import asyncio
from typing import Final

from ferrogate._fastpath.api import Headers
from ferrogate._fastpath.exchange import HttpExchange
from ferrogate._fastpath.forwarding import X_REQUEST_ID, IdSource, upstream_head, upstream_headers
from ferrogate._fastpath.pump import relay, relay_complete, response_headers
from ferrogate._fastpath.upstream import Body
from ferrogate._fastpath.upstream_errors import UpstreamError
from ferrogate.errors import ErrorSource, GatewayError
from ferrogate.proxy.balancer import Target
from ferrogate.proxy.placeholders import Vars
from ferrogate.proxy.table import CompiledRoute

# Enum members read once: read from the class in a function, each costs several hundred instructions.
_UPSTREAM_SOURCE: Final = ErrorSource.UPSTREAM

BUFFER_BODY_LIMIT: Final = 64 * 1024
"""Request bodies up to this size (with a Content-Length) are read whole, so a
stale pooled connection can be retried; larger or chunked ones stream."""

_CONNECT_PHASES: Final = frozenset(("connect", "tls"))


class ProxyHandler:
    """Forwards the requests of proxy routes; one per compiled config."""

    __slots__ = ("ids", "scheme")

    def __init__(self, *, scheme: bytes) -> None:
        self.scheme = scheme
        self.ids = IdSource()

    async def serve(self, exchange: HttpExchange, route: CompiledRoute) -> None:
        # The server's exchange and request (the app narrowed it): compiled classes, whose fields
        # are read directly (through the Protocols each read is a lookup by name).
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
        try:
            body: Body = b"" if length is None and not chunked else await _request_body(exchange)
            tried: tuple[Target, ...] = ()
            while True:
                t = balancer.only
                if t is None or t.down_until or tried:
                    # Several targets, or one that has failed: ask the policy (needs the clock).
                    t = balancer.pick(asyncio.get_running_loop().time(), tried)
                    if t is None:
                        raise GatewayError(
                            503,
                            f"no healthy upstream for {group.name!r}",
                            code="no_healthy_upstream",
                            source=_UPSTREAM_SOURCE,
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
                    raise
                except BaseException:
                    t.inflight -= 1
                    raise
                break
            try:
                if t.fails:
                    t.fails = 0  # passive health: a success resets the count
                down = route.down_ops
                if down is None and relay_complete(exchange, resp, add=(X_REQUEST_ID, rid)):
                    return
                out = response_headers(resp.headers)
                if down is not None:
                    out = down.apply(out, req, vars_ or Vars(rid, self.scheme, t.hostport))
                out.append((X_REQUEST_ID, rid))
                if not relay_complete(exchange, resp, out):
                    await relay(exchange, resp, out)
            except UpstreamError:
                balancer.failed(t, asyncio.get_running_loop().time())
                raise
            finally:
                t.inflight -= 1
        except GatewayError as err:
            if exchange.started or exchange.disconnected:
                raise  # the server closes a started response
            exchange.fail(err, extra=((X_REQUEST_ID, rid),))


async def _request_body(exchange: HttpExchange) -> Body:
    req = exchange.request
    length = req.content_length
    if length is None:
        return exchange.body_chunks() if req.chunked else b""
    if length == 0:
        return b""
    if length <= BUFFER_BODY_LIMIT:
        return await exchange.read_body()
    return exchange.body_chunks()
