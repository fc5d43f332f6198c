"""Compile ``config.routes`` + ``config.upstreams`` once into a frozen route table.

Everything the hot path needs is precomputed here: lowercased byte patterns,
method sets, prefix bytes, compiled header edits, static responses with their
header list and body already encoded, and one :class:`Balancer` per upstream
whose targets hold direct references to their pools (no lookups per request).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import IntEnum

from ferrogate._fastpath.api import Headers
from ferrogate._fastpath.pool import Origin, PoolSet
from ferrogate._fastpath.upstream import Timeouts
from ferrogate.config.model import Config, Respond, Route, Upstream
from ferrogate.proxy.balancer import Balancer, Target
from ferrogate.proxy.header_ops import HeaderOps, compile_ops
from ferrogate.proxy.matchers import HostMatcher, PathMatcher, compile_methods
from ferrogate.proxy.placeholders import ProxyConfigError, is_token


class RouteKind(IntEnum):
    PROXY = 0
    RESPOND = 1
    AI = 2


class UpstreamGroup:
    """A configured upstream: balancer, timeouts and its own header edits."""

    __slots__ = ("balancer", "name", "request_ops", "response_ops", "timeouts")

    def __init__(
        self,
        name: str,
        balancer: Balancer,
        timeouts: Timeouts,
        request_ops: HeaderOps,
        response_ops: HeaderOps,
    ) -> None:
        self.name = name
        self.balancer = balancer
        self.timeouts = timeouts
        self.request_ops = request_ops
        self.response_ops = response_ops


class StaticResponse:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: Headers, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class CompiledRoute:
    __slots__ = (
        "add_prefix",
        "down_ops",
        "hosts",
        "kind",
        "methods",
        "name",
        "ops_need_upstream",
        "paths",
        "request_ops",
        "response_ops",
        "rewrites",
        "static",
        "strip_prefix",
        "up_ops",
        "upstream",
    )

    def __init__(
        self,
        *,
        name: str,
        kind: RouteKind,
        hosts: HostMatcher | None,
        paths: PathMatcher | None,
        methods: frozenset[bytes] | None,
        strip_prefix: bytes,
        add_prefix: bytes,
        request_ops: HeaderOps,
        response_ops: HeaderOps,
        upstream: UpstreamGroup | None,
        static: StaticResponse | None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.hosts = hosts
        self.paths = paths
        self.methods = methods
        self.strip_prefix = strip_prefix
        self.add_prefix = add_prefix
        self.rewrites = bool(strip_prefix or add_prefix)
        self.request_ops = request_ops
        self.response_ops = response_ops
        self.upstream = upstream
        self.static = static
        # The upstream's edits first, then the route's (the more specific wins).
        self.up_ops = _merged(upstream.request_ops if upstream else None, request_ops)
        self.down_ops = _merged(upstream.response_ops if upstream else None, response_ops)
        self.ops_need_upstream = self.up_ops is not None and self.up_ops.needs_upstream

    def rewrite_target(self, path: bytes, query: bytes) -> bytes:
        """Strip then add the configured prefixes (the query is kept as sent)."""
        strip = self.strip_prefix
        if strip and path.lower().startswith(strip):
            path = path[len(strip) :]
            if not path.startswith(b"/"):
                path = b"/" + path
        if self.add_prefix:
            path = self.add_prefix + path
        return path + b"?" + query if query else path


def _merged(first: HeaderOps | None, then: HeaderOps) -> HeaderOps | None:
    """One list of edits, or None when there is nothing to do (the hot path's test)."""
    ops = (first.ops if first else ()) + then.ops
    return HeaderOps(ops) if ops else None


class RouteTable:
    __slots__ = ("ai_first", "needs_host", "routes", "upstreams")

    def __init__(
        self, routes: tuple[CompiledRoute, ...], upstreams: dict[str, UpstreamGroup], *, ai_first: bool = False
    ) -> None:
        self.routes = routes
        self.upstreams = upstreams
        self.needs_host = any(r.hosts is not None for r in routes)
        # The implicit AI endpoints route leads the table: an exact AI path needs no matching.
        self.ai_first = ai_first

    def match(self, host: bytes | None, method: bytes, path: bytes) -> CompiledRoute | None:
        """First route whose matchers all match (``path`` lowercased by the caller)."""
        for r in self.routes:
            if r.methods is not None and method not in r.methods:
                continue
            if r.paths is not None and not r.paths.match(path):
                continue
            if r.hosts is not None and not r.hosts.match(host):
                continue
            return r
        return None


def compile_table(
    config: Config, pools: PoolSet, env: Mapping[str, str] | None = None
) -> RouteTable:
    """Build the route table; raises :class:`ProxyConfigError` naming the bad item."""
    environ = os.environ if env is None else env
    groups: dict[str, UpstreamGroup] = {}
    for i, up in enumerate(config.upstreams):
        where = f"upstreams[{i}] ({up.name})"
        if up.name in groups:
            raise ProxyConfigError(f"{where}: duplicate upstream name")
        groups[up.name] = _compile_upstream(up, pools, environ, where)
    routes = tuple(
        _compile_route(route, i, groups, environ) for i, route in enumerate(config.routes)
    )
    ai_first = bool(config.providers and config.models)
    if ai_first:
        routes = (_ai_endpoints_route(), *routes)
    return RouteTable(routes, groups, ai_first=ai_first)


AI_ENDPOINT_PATHS = (
    "/v1/models",
    "/v1/models/*",
    "/v1/chat/completions",
    "/v1/responses",
    "/v1/embeddings",
    "/v1/messages",
    "/v1/messages/count_tokens",
    "/v1/tools",
    "/v1/tools/execute",
    "/v1/mcp/tool/execute",
    "/mcp",
)
"""Served whenever providers and models are configured, with no route needed, and ahead
of every user route for exactly these paths: a catch-all ``/v1/*`` proxy route beside them
must not let a chat request skip virtual-key auth. An ``ai_gateway`` route still mounts
the same endpoints under another prefix."""


def _ai_endpoints_route() -> CompiledRoute:
    return CompiledRoute(
        name="ai endpoints",
        kind=RouteKind.AI,
        hosts=None,
        paths=PathMatcher(list(AI_ENDPOINT_PATHS), where="ai endpoints"),
        methods=None,
        strip_prefix=b"",
        add_prefix=b"",
        request_ops=HeaderOps(()),
        response_ops=HeaderOps(()),
        upstream=None,
        static=None,
    )


def _compile_upstream(
    up: Upstream, pools: PoolSet, env: Mapping[str, str], where: str
) -> UpstreamGroup:
    if not up.urls:
        raise ProxyConfigError(f"{where}: at least one url is required")
    timeouts = Timeouts(
        connect=up.connect_timeout_secs,
        first_byte=up.first_byte_timeout_secs,
        total=up.total_timeout_secs,
        idle=up.first_byte_timeout_secs,  # like nginx proxy_read_timeout: also between reads
    )
    targets: list[Target] = []
    for url in up.urls:
        try:
            origin = Origin.from_url(
                url,
                server_name=up.tls_server_name,
                ca_file=up.ca_file,
                insecure_skip_verify=up.tls_insecure_skip_verify,
            )
        except ValueError as exc:
            raise ProxyConfigError(f"{where}: {exc}") from None
        path = url.split("://", 1)[-1].partition("/")[2]
        if path:
            raise ProxyConfigError(
                f"{where}: upstream url {url!r} must not have a path (use add_prefix on the route)"
            )
        pool = pools.pool(
            origin,
            max_idle=up.max_idle_conns,
            keepalive_secs=up.keepalive_idle_secs,
            timeouts=timeouts,
        )
        targets.append(Target(url, pool))
    balancer = Balancer(
        targets,
        up.lb_policy,
        max_fails=up.health.max_fails,
        cooldown_secs=up.health.cooldown_secs,
    )
    return UpstreamGroup(
        up.name,
        balancer,
        timeouts,
        compile_ops(up.request_headers, env, where=f"{where}.request_headers"),
        compile_ops(up.response_headers, env, where=f"{where}.response_headers"),
    )


def _compile_route(
    route: Route, index: int, groups: dict[str, UpstreamGroup], env: Mapping[str, str]
) -> CompiledRoute:
    name = route.name or f"routes[{index}]"
    where = f"routes[{index}]" + (f" ({route.name})" if route.name else "")
    handlers = sum((route.upstream is not None, route.respond is not None, route.ai_gateway))
    if handlers != 1:
        raise ProxyConfigError(f"{where}: needs exactly one of upstream, respond, ai_gateway")
    upstream: UpstreamGroup | None = None
    static: StaticResponse | None = None
    if route.upstream is not None:
        kind = RouteKind.PROXY
        upstream = groups.get(route.upstream)
        if upstream is None:
            raise ProxyConfigError(f"{where}: unknown upstream {route.upstream!r}")
    elif route.respond is not None:
        kind = RouteKind.RESPOND
        static = _compile_respond(route.respond, where)
    else:
        kind = RouteKind.AI
    strip = (route.strip_prefix or "").rstrip("/")
    add = (route.add_prefix or "").rstrip("/")
    for label, value in (("strip_prefix", strip), ("add_prefix", add)):
        if value and not value.startswith("/"):
            raise ProxyConfigError(f"{where}: {label} must start with '/'")
    response_ops = compile_ops(route.response_headers, env, where=f"{where}.response_headers")
    if static is not None and response_ops:
        if not response_ops.static:
            raise ProxyConfigError(f"{where}: respond routes take static response headers only")
        static = StaticResponse(
            static.status, response_ops.apply_static(list(static.headers)), static.body
        )
    return CompiledRoute(
        name=name,
        kind=kind,
        hosts=HostMatcher(route.hosts, where=where) if route.hosts else None,
        paths=PathMatcher(route.paths, where=where) if route.paths else None,
        methods=compile_methods(route.methods),
        strip_prefix=strip.lower().encode("ascii"),
        add_prefix=add.encode("ascii"),
        request_ops=compile_ops(route.request_headers, env, where=f"{where}.request_headers"),
        response_ops=response_ops,
        upstream=upstream,
        static=static,
    )


def _compile_respond(respond: Respond, where: str) -> StaticResponse:
    if not 100 <= respond.status <= 599:
        raise ProxyConfigError(f"{where}: respond status {respond.status} is not 100-599")
    headers: Headers = []
    has_type = False
    for name, value in respond.headers.items():
        if not is_token(name) or any(c in value for c in "\r\n\x00"):
            raise ProxyConfigError(f"{where}: invalid respond header {name!r}")
        key = name.lower().encode("ascii")
        has_type = has_type or key == b"content-type"
        headers.append((key, value.encode("latin-1")))
    body = respond.body.encode("utf-8")
    if body and not has_type:
        headers.append((b"content-type", b"text/plain; charset=utf-8"))
    return StaticResponse(respond.status, headers, body)
