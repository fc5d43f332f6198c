"""Site blocks -> flat routes and upstreams, with Caddy's ordering semantics.

Caddy sorts the directives of a site (and of a ``handle`` block) by its fixed
directive order, and same-named directives by path specificity (one longer path
first, then any matcher, then none); only ``route { }`` keeps source order.
``handle``/``handle_path`` blocks are one mutually exclusive group (sorted
together). A request a block matched but did not answer continues, in Caddy, with
the later routes except the group's other blocks: see ``_apply_closures``. Nested blocks are
flattened by intersecting matchers (see matchers.py); ``handle_path`` and ``uri
strip_prefix`` accumulate a strip prefix, and paths written inside them are
relative to the stripped path, as in Caddy. ``header`` edits response headers of
every handler after it in the same scope.

The directive order used (Caddy's, with ``ai_gateway`` placed before ``respond``
so a catch-all ``respond`` does not shadow the AI routes):
header, uri, handle, handle_path, route, ai_gateway, respond, reverse_proxy.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ferrogate.config.caddyfile.lexer import Token
from ferrogate.config.caddyfile.matchers import Match, UnsupportedIntersection
from ferrogate.config.caddyfile.parser import Segment, ServerBlock
from ferrogate.config.caddyfile.values import AdaptError, Builder, fail, parse_duration

DIRECTIVE_ORDER = ("header", "uri", "handle", "handle_path", "route", "ai_gateway", "respond", "reverse_proxy")
_ORDER_INDEX = {name: i for i, name in enumerate(DIRECTIVE_ORDER)}
SITE_ONLY = ("log", "tls")
_LB_POLICIES = ("round_robin", "least_conn", "first", "random")


@dataclass(frozen=True, slots=True)
class Scope:
    match: Match
    strip: str = ""
    response_headers: tuple[dict[str, str], ...] = ()
    matchers: dict[str, Match] = field(default_factory=dict)
    # Enclosing handle blocks as (group id, block id): Caddy runs at most one block per group.
    chain: tuple[tuple[int, int], ...] = ()
    body_group: int = 0
    # Caddy groups handle blocks in sorted bodies only; inside `route { }` each one runs in turn.
    groups_handles: bool = True
    # Enclosing bodies as (body id, strip prefix at that body): finds where two routes' scopes meet.
    lineage: tuple[tuple[int, str], ...] = ()
    # Each directive matcher on the way here, as (body it is written in, absolute match).
    trail: tuple[tuple[int, Match], ...] = ()
    # No request can get here with the path as sent; only after an earlier block's rewrite.
    dead: bool = False


@dataclass(slots=True)
class PendingRoute:
    route: dict[str, Any]
    token: Token
    host_specific: bool
    chain: tuple[tuple[int, int], ...] = ()
    lineage: tuple[tuple[int, str], ...] = ()
    # Each directive matcher on the way here, as (body it is written in, absolute match).
    trail: tuple[tuple[int, Match], ...] = ()
    # No request can get here with the path as sent; only after an earlier block's rewrite.
    dead: bool = False
    revived: bool = False


@dataclass(frozen=True, slots=True)
class SiteAddress:
    token: Token
    listen: str
    host: str | None
    path: str | None
    tls: bool


def parse_address(tok: Token, *, site_has_tls: bool) -> SiteAddress:
    """``:8080``, ``host:port``, ``[::1]:8080``, ``example.com``, ``https://a.com/p``.

    Hostnames become host matchers and listen on all interfaces, as in Caddy; an IP
    address is bound as given (Caddy would bind all interfaces and match the Host).
    """
    text = tok.text
    scheme = None
    for candidate in ("http://", "https://"):
        if text.lower().startswith(candidate):
            scheme, text = candidate[:-3], text[len(candidate) :]
    path = None
    if "/" in text:
        text, slash, rest = text.partition("/")
        path = slash + rest
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    tls = scheme == "https" or (scheme is None and site_has_tls)
    if not port:
        port = "443" if tls else "80"
    if not port.isdigit() or int(port) > 65535:
        raise fail(tok, f"site address `{tok.shown}` has an invalid port")
    if not host or host == "*":
        return SiteAddress(tok, f":{port}", None, path, tls)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return SiteAddress(tok, f":{port}", host.lower(), path, tls)
    bind = f"[{ip}]" if ip.version == 6 else str(ip)
    return SiteAddress(tok, f"{bind}:{port}", None, path, tls)


def header_op(b: Builder, toks: list[Token], directive: str) -> dict[str, str]:
    """``Name value`` (set), ``+Name value`` (add), ``-Name`` (delete)."""
    name_tok = toks[0]
    name = name_tok.text
    if name.startswith("-"):
        if len(toks) != 1:
            raise fail(toks[1], f"{directive}: deleting `{name[1:]}` takes no value")
        return {"action": "delete", "name": name[1:]}
    action = "add" if name.startswith("+") else "set"
    if action == "add":
        name = name[1:]
    if name.startswith(("?", ">")) or len(toks) == 3:
        raise fail(name_tok, f"{directive}: only set (`Name value`), add (`+Name value`) and delete (`-Name`) are supported")
    if len(toks) != 2:
        raise fail(name_tok, f"{directive}: `{name}` needs a value")
    if not name:
        raise fail(name_tok, f"{directive}: missing header name")
    return {"action": action, "name": name, "value": b.text(toks[1])}


class SiteAdapter:
    """Adapts the site blocks; ``ai_gateway``/``tls``/``log`` bodies are delegated."""

    def __init__(
        self,
        b: Builder,
        ai_gateway: Callable[[Segment], None],
        tls: Callable[[Segment, list[SiteAddress]], None],
        log: Callable[[Segment], None],
    ) -> None:
        self.b = b
        self._ai = ai_gateway
        self._tls = tls
        self._log = log
        self.pending: list[PendingRoute] = []
        self.listen: list[tuple[str, Token]] = []
        self._upstreams = 0
        self._addresses: list[SiteAddress] = []
        self._ids = 0
        self._closures: list[tuple[int, Scope, Token, int]] = []
        self.site_listens: list[tuple[Token, set[str]]] = []

    # ------------------------------------------------------------------ sites

    def site(self, block: ServerBlock) -> None:
        has_tls = any(seg.name.text == "tls" for seg in block.segments)
        addresses: list[SiteAddress] = []
        for tok in block.keys:
            try:
                addresses.append(parse_address(tok, site_has_tls=has_tls))
            except AdaptError as exc:
                self.b.errors.append(exc.diagnostic)
        if not addresses:
            return
        self.site_listens.append((block.start, {a.listen for a in addresses}))
        for addr in addresses:
            if addr.listen not in [listen for listen, _ in self.listen]:
                self.listen.append((addr.listen, addr.token))
        hosts = tuple(dict.fromkeys(a.host for a in addresses if a.host))
        if hosts and len(hosts) != len(addresses):
            self.b.warn(block.start, "site mixes hostnames with catch-all addresses; its routes match the hostnames only")
        paths = tuple(dict.fromkeys(a.path for a in addresses if a.path))
        self._addresses = addresses
        scope = Scope(Match(paths=paths, hosts=hosts))
        self._body(block.segments, scope, keep_order=False, site_level=True, host_specific=bool(hosts))
        self._apply_closures(bool(hosts))
        for p in self.pending:
            if p.dead and not p.revived:
                self.b.warn(p.token, f"`{p.token.shown}` can never match inside its enclosing block; ignored")
        self.pending = [p for p in self.pending if not p.dead]

    # ------------------------------------------------------------------ bodies

    def _body(
        self, segments: list[Segment], scope: Scope, *, keep_order: bool, site_level: bool, host_specific: bool
    ) -> tuple[int, str]:
        """Adapt one block's directives; return the block's body id and its final strip prefix."""
        matchers = dict(scope.matchers)
        directives: list[tuple[Segment, Match | None]] = []
        for seg in segments:
            if seg.name.text.startswith("@"):
                try:
                    matchers[seg.name.text] = self._named_matcher(seg)
                except AdaptError as exc:
                    self.b.errors.append(exc.diagnostic)
        body = self._new_id()
        scope = replace(
            scope, matchers=matchers, body_group=body, lineage=(*scope.lineage, (body, scope.strip)), groups_handles=not keep_order
        )
        for seg in segments:
            name = seg.name.text
            if name.startswith("@"):
                continue
            if name in SITE_ONLY and not site_level:
                self.b.errors.append(seg.name.diagnostic(f"`{name}` is only allowed directly in a site block"))
            elif name not in _ORDER_INDEX and name not in SITE_ONLY:
                self.b.errors.append(seg.name.diagnostic(f"unknown directive `{name}`"))
            else:
                try:
                    directives.append((seg, self._own_matcher(seg, matchers)))
                except AdaptError as exc:
                    self.b.errors.append(exc.diagnostic)
        if not keep_order:
            directives.sort(key=functools.cmp_to_key(_caddy_order))
        for seg, _own in directives:
            try:
                scope = self._directive(seg, scope, host_specific)
            except AdaptError as exc:
                self.b.errors.append(exc.diagnostic)
        return body, scope.strip

    def _directive(self, seg: Segment, scope: Scope, host_specific: bool) -> Scope:
        name = seg.name.text
        cur = seg.cursor()
        if name == "log":
            self._log(seg)
        elif name == "tls":
            self._tls(seg, self._addresses)
        elif name == "header":
            return self._header(seg, scope)
        elif name == "uri":
            return self._uri(seg, scope)
        elif name in ("handle", "route"):
            inner = self._scoped(self._matcher_arg(cur, scope), scope, seg)
            if cur.remaining:
                raise fail(cur.rest()[0], f"`{name}` takes only a matcher and a block")
            if inner is not None:
                if name == "handle" and scope.groups_handles:
                    inner = replace(inner, chain=(*scope.chain, (scope.body_group, self._new_id())))
                mark = len(self.pending)
                body, strip = self._body(seg.block or [], inner, keep_order=name == "route", site_level=False, host_specific=host_specific)
                self._close_group(mark, replace(inner, strip=strip), seg, body)
        elif name == "handle_path":
            self._handle_path(seg, scope, host_specific)
        else:
            target = self._scoped(self._matcher_arg(cur, scope), scope, seg)
            route: dict[str, Any] = {}
            if name == "respond":
                route["respond"] = self._respond(seg, cur)
            elif name == "reverse_proxy":
                route["upstream"] = self._reverse_proxy(seg, cur)
            else:
                if cur.remaining:
                    raise fail(cur.rest()[0], "`ai_gateway` takes only a matcher and a block")
                if target is not None and not (seg.args and _is_matcher_token(seg.args[0])):
                    target = self._scoped(Match(paths=("/v1/*",)), scope, seg)
                self._ai(seg)
                route["ai_gateway"] = True
            if target is not None:
                self._emit(route, target, seg.name, host_specific)
        return scope

    # ------------------------------------------------------------------ matchers

    def _own_matcher(self, seg: Segment, matchers: dict[str, Match]) -> Match | None:
        first = seg.args[0] if seg.args else None
        if first is None or not _is_matcher_token(first) or seg.name.text in SITE_ONLY:
            return None
        if first.text == "*":
            return Match()
        if first.text.startswith("@"):
            if first.text not in matchers:
                raise fail(first, f"unknown matcher `{first.shown}`")
            return matchers[first.text]
        return Match(paths=(first.text,))

    def _matcher_arg(self, cur: Any, scope: Scope) -> Match | None:
        tok = cur.peek()
        if tok is None or not _is_matcher_token(tok):
            return None
        cur.next()
        if tok.text == "*":
            return Match()
        if tok.text.startswith("@"):
            found = scope.matchers.get(tok.text)
            if found is None:
                raise fail(tok, f"unknown matcher `{tok.shown}`")
            return found
        return Match(paths=(tok.text,))

    def _scoped(self, own: Match | None, scope: Scope, seg: Segment) -> Scope | None:
        if own is None:
            return scope
        try:
            both = scope.match.intersect(own.under_prefix(scope.strip))
        except UnsupportedIntersection as exc:
            raise fail(seg.name, str(exc)) from None
        trail = (*scope.trail, (scope.body_group, own.under_prefix(scope.strip)))
        if both is None:
            return replace(scope, dead=True, trail=trail)
        return replace(scope, match=both, trail=trail)

    def _named_matcher(self, seg: Segment) -> Match:
        lines = [seg.args] if seg.args else [line.tokens for line in seg.block or []]
        if not lines:
            raise fail(seg.name, f"matcher `{seg.name.shown}` is empty")
        paths: list[str] = []
        hosts: list[str] = []
        methods: list[str] = []
        for toks in lines:
            kind, values = toks[0], toks[1:]
            if not values:
                raise fail(kind, f"matcher `{kind.shown}` needs at least one value")
            if kind.text == "path":
                for v in values:
                    if not v.text.startswith(("/", "*")):
                        raise fail(v, f"path matcher `{v.shown}` must start with / or *")
                paths += [v.text for v in values]
            elif kind.text == "host":
                hosts += [self.b.text(v).lower() for v in values]
            elif kind.text == "method":
                methods += [v.text.upper() for v in values]
            else:
                raise fail(kind, f"matcher type `{kind.shown}` is not supported (supported: path, host, method)")
        return Match(tuple(paths), tuple(hosts), tuple(methods))

    # ------------------------------------------------------------------ directives

    def _header(self, seg: Segment, scope: Scope) -> Scope:
        if seg.args and _is_matcher_token(seg.args[0]):
            raise fail(seg.args[0], "`header` with a matcher is not supported; put it inside a handle block")
        lines = [seg.args] if seg.args else []
        lines += [line.tokens for line in seg.block or []]
        if not lines:
            raise fail(seg.name, "`header` needs a header field")
        ops = [header_op(self.b, toks, "header") for toks in lines]
        return replace(scope, response_headers=scope.response_headers + tuple(ops))

    def _uri(self, seg: Segment, scope: Scope) -> Scope:
        self.b.no_block(seg)
        args = seg.args
        if args and _is_matcher_token(args[0]) and args[0].text != "strip_prefix":
            raise fail(args[0], "`uri` with a matcher is not supported; put it inside a handle block")
        if len(args) != 2 or args[0].text != "strip_prefix":
            raise fail(args[0] if args else seg.name, "only `uri strip_prefix /prefix` is supported")
        prefix = args[1].text if args[1].text.startswith("/") else "/" + args[1].text
        prefix = prefix.rstrip("/")
        # Caddy strips only when the path has the prefix. The model has one strip_prefix per
        # route and matchers written after `uri` are relative to the stripped path, so the
        # strip must be certain: every path the enclosing block matches has the prefix.
        full = scope.strip + prefix
        paths = scope.match.paths
        certain = bool(paths) and all(
            (p[:-1] if p.endswith("*") else p).lower().startswith(full.lower()) and "*" not in p[:-1] for p in paths
        )
        if not certain:
            raise fail(
                seg.name,
                f"`uri strip_prefix {prefix}` must be inside a block that only matches paths starting with it "
                f"(e.g. `handle {full}/* {{ uri strip_prefix {prefix} ... }}`), or use `handle_path`",
            )
        return replace(scope, strip=full)

    def _handle_path(self, seg: Segment, scope: Scope, host_specific: bool) -> None:
        args = seg.args
        if len(args) != 1 or not args[0].text.startswith("/"):
            raise fail(args[0] if args else seg.name, "`handle_path` takes exactly one path matcher, e.g. /api/*")
        pattern = args[0].text
        inner = self._scoped(Match(paths=(pattern,)), scope, seg)
        if inner is None:
            return
        strip = pattern[:-1] if pattern.endswith("*") else pattern
        chain = (*scope.chain, (scope.body_group, self._new_id())) if scope.groups_handles else scope.chain
        inner = replace(inner, strip=scope.strip + strip.rstrip("/"), chain=chain)
        mark = len(self.pending)
        body, final_strip = self._body(seg.block or [], inner, keep_order=False, site_level=False, host_specific=host_specific)
        self._close_group(mark, replace(inner, strip=final_strip), seg, body)

    def _new_id(self) -> int:
        self._ids += 1
        return self._ids

    def _close_group(self, mark: int, inner: Scope, seg: Segment, body: int) -> None:
        """Remember a handle block whose own routes do not cover its matcher (see _apply_closures)."""
        if not inner.dead and not any(_covers(p.route, inner.match) for p in self.pending[mark:] if not p.dead):
            self._closures.append((len(self.pending), inner, seg.name, body))

    def _apply_closures(self, host_specific: bool) -> None:
        """Flatten Caddy's handle-group semantics for requests a block matched but did not handle.

        In Caddy such a request continues with the routes after the block, except the
        other blocks of its group(s), and sees the path as the block rewrote it. So
        copies of those later routes, rebased onto the rewritten path and narrowed to
        the block's matcher, go right after the block; if an original later route could
        still catch such a request wrongly (a sibling block, or a pattern written for the
        un-rewritten path), a ``404`` (FerroGate's answer when no route matches) stops
        the request first.
        """
        for index, inner, tok, body in reversed(self._closures):
            inserted: list[PendingRoute] = []
            needs_stop = False
            redundant = True  # every copy equals its original as the flat table already has it
            # Copies run as if written right after the block, in the block's path space.
            lineage = (*inner.lineage, (body, inner.strip))
            for p in self.pending[index:]:
                excluded = _in_other_block(p.chain, inner.chain)
                try:
                    as_written = None if p.dead else inner.match.intersect(_route_match(p.route))
                    again = _reevaluated(p, inner)
                    both = None if excluded or again is None else inner.match.intersect(again[0])
                except UnsupportedIntersection:
                    self.b.warn(p.token, "route cannot be narrowed to an enclosing handle block; left out of its fall-through")
                    needs_stop, redundant = True, False
                    continue
                if both is None or again is None:
                    if as_written is not None:  # the flat table would wrongly let it catch them
                        needs_stop, redundant = True, False
                    continue
                _, rebased_trail, strip = again
                copy = _narrowed(p.route, both, inner, strip)
                if as_written is None or copy != _narrowed(p.route, as_written, inner, p.route.get("strip_prefix", "")):
                    redundant = False
                    if as_written is not None:
                        needs_stop = True  # the route as written would treat the block's requests differently
                # A copy runs only where the block matched: keep the block's matchers too.
                trail = (*inner.trail, *((body, m) for m in rebased_trail))
                inserted.append(PendingRoute(copy, p.token, p.host_specific, inner.chain, lineage, trail))
                p.revived = True
                if _covers(copy, inner.match):
                    needs_stop = False  # this copy answers every request left; nothing after it runs
                    break
            if needs_stop:
                closer = _narrowed({"respond": {"status": 404}}, inner.match, inner, inner.strip)
                inserted.append(PendingRoute(closer, tok, host_specific, inner.chain, lineage, inner.trail))
            if redundant and not needs_stop:
                continue
            self.pending[index:index] = inserted
        self._closures.clear()

    def _respond(self, seg: Segment, cur: Any) -> dict[str, Any]:
        args = cur.rest()
        out: dict[str, Any] = {}
        if len(args) > 2:
            raise fail(args[2], "`respond` takes at most a body and a status")
        if len(args) == 2:
            out["body"] = self.b.text(args[0])
            out["status"] = self._status(args[1])
        elif len(args) == 1:
            if args[0].text.isdigit() and len(args[0].text) == 3 and not args[0].quoted:
                out["status"] = self._status(args[0])
            else:
                out["body"] = self.b.text(args[0])
        for line in seg.block or []:
            if line.name.text == "body" and len(line.args) == 1:
                out["body"] = self.b.text(line.args[0])
            elif line.name.text == "close":
                self.b.warn(line.name, "`respond` `close` is ignored (the connection stays open)")
            else:
                raise fail(line.name, f"unknown subdirective `{line.name.shown}` in respond")
        return out

    @staticmethod
    def _status(tok: Token) -> int:
        if not tok.text.isdigit() or not 100 <= int(tok.text) <= 999:
            raise fail(tok, f"`{tok.shown}` is not an HTTP status code")
        return int(tok.text)

    def _reverse_proxy(self, seg: Segment, cur: Any) -> str:
        upstream: dict[str, Any] = {"urls": []}
        targets = list(cur.rest())
        request_headers: list[dict[str, str]] = []
        response_headers: list[dict[str, str]] = []
        use_tls = False
        health: dict[str, Any] = {}
        for line in seg.block or []:
            name = line.name.text
            try:
                if name == "to":
                    if not line.args:
                        raise fail(line.name, "`to` needs at least one upstream")
                    targets += line.args
                elif name == "lb_policy":
                    policy = self.b.one_arg(line)
                    if policy.text not in _LB_POLICIES:
                        raise fail(policy, f"lb_policy `{policy.shown}` is not supported (supported: {', '.join(_LB_POLICIES)})")
                    upstream["lb_policy"] = policy.text
                elif name in ("header_up", "header_down"):
                    if not line.args:
                        raise fail(line.name, f"`{name}` needs a header field")
                    op = header_op(self.b, line.args, name)
                    (request_headers if name == "header_up" else response_headers).append(op)
                elif name == "transport":
                    use_tls = self._transport(line, upstream) or use_tls
                elif name in ("fail_duration", "max_fails"):
                    tok = self.b.one_arg(line)
                    if name == "max_fails":
                        health["max_fails"] = self.b.scalar(int, tok, name)
                    else:
                        health["cooldown_secs"] = self._duration(tok, name)
                elif name == "flush_interval":
                    self.b.one_arg(line)  # responses are always streamed as they arrive
                else:
                    raise fail(line.name, f"unknown subdirective `{name}` in reverse_proxy")
            except AdaptError as exc:
                self.b.errors.append(exc.diagnostic)
        if not targets:
            raise fail(seg.name, "`reverse_proxy` needs at least one upstream address")
        upstream["urls"] = [self._upstream_url(tok, use_tls) for tok in targets]
        if request_headers:
            upstream["request_headers"] = request_headers
        if response_headers:
            upstream["response_headers"] = response_headers
        if health:
            upstream["health"] = health
        self._upstreams += 1
        name = f"upstream-{self._upstreams}"
        upstream = {"name": name, **upstream}
        self.b.append("upstreams", upstream, seg.name)
        return name

    def _transport(self, line: Segment, upstream: dict[str, Any]) -> bool:
        if len(line.args) != 1 or line.args[0].text != "http":
            raise fail(line.args[0] if line.args else line.name, "only `transport http` is supported")
        use_tls = False
        durations = {"dial_timeout": "connect_timeout_secs", "response_header_timeout": "first_byte_timeout_secs", "keepalive": "keepalive_idle_secs"}
        for sub in line.block or []:
            name = sub.name.text
            try:
                if name in durations:
                    upstream[durations[name]] = self._duration(self.b.one_arg(sub), name)
                elif name == "tls":
                    use_tls = True
                elif name == "tls_trusted_ca_certs":
                    upstream["ca_file"] = self.b.text(self.b.one_arg(sub))
                    use_tls = True
                elif name == "tls_server_name":
                    upstream["tls_server_name"] = self.b.text(self.b.one_arg(sub))
                    use_tls = True
                elif name == "tls_insecure_skip_verify":
                    upstream["tls_insecure_skip_verify"] = True
                    use_tls = True
                elif name == "keepalive_idle_conns":
                    upstream["max_idle_conns"] = self.b.scalar(int, self.b.one_arg(sub), name)
                else:
                    raise fail(sub.name, f"unknown subdirective `{name}` in transport http")
            except AdaptError as exc:
                self.b.errors.append(exc.diagnostic)
        return use_tls

    def _duration(self, tok: Token, name: str) -> float:
        secs = parse_duration(self.b.text(tok))
        if secs is None:
            raise fail(tok, f"{name}: `{tok.shown}` is not a duration (e.g. 30s, 5m, 1h30m)")
        return secs

    def _upstream_url(self, tok: Token, use_tls: bool) -> str:
        text = self.b.text(tok)
        scheme = "https" if use_tls else "http"
        for candidate in ("http://", "https://"):
            if text.startswith(candidate):
                scheme, text = candidate[:-3], text[len(candidate) :]
                if use_tls:
                    scheme = "https"
        if "://" in text:
            raise fail(tok, f"upstream `{tok.shown}`: only http:// and https:// upstreams are supported")
        if "/" in text:
            raise fail(tok, f"upstream `{tok.shown}`: upstream addresses take only scheme, host and port")
        if text.startswith(":"):
            text = "127.0.0.1" + text
        return f"{scheme}://{text}"

    def _emit(self, handler: dict[str, Any], scope: Scope, tok: Token, host_specific: bool) -> None:
        route: dict[str, Any] = {}
        m = scope.match
        if m.hosts:
            route["hosts"] = list(m.hosts)
        if m.paths:
            route["paths"] = list(m.paths)
        if m.methods:
            route["methods"] = list(m.methods)
        if scope.strip:
            route["strip_prefix"] = scope.strip
        if scope.response_headers:
            route["response_headers"] = [dict(h) for h in scope.response_headers]
        route.update(handler)
        self.pending.append(PendingRoute(route, tok, host_specific, scope.chain, scope.lineage, scope.trail, scope.dead))


def _covers(route: dict[str, Any], match: Match) -> bool:
    """True when ``route`` matches everything ``match`` does (an unconditional handler in its group)."""
    return (
        tuple(route.get("paths", ())) == match.paths
        and tuple(route.get("hosts", ())) == match.hosts
        and tuple(route.get("methods", ())) == match.methods
    )


def _route_match(route: dict[str, Any]) -> Match:
    return Match(tuple(route.get("paths", ())), tuple(route.get("hosts", ())), tuple(route.get("methods", ())))


def _reevaluated(route: PendingRoute, block: Scope) -> tuple[Match, list[Match], str] | None:
    """How ``route`` matches when it runs after ``block`` rewrote the path.

    Matchers of the scopes the two share were checked before the rewrite; only those
    written from the meeting body down are checked again, moved from the meeting
    body's path space onto the block's. Returns (match, those matchers, new strip),
    or None when they cannot all match.
    """
    meet_index = 0
    for i, ((body_a, _), (body_b, _)) in enumerate(zip(block.lineage, route.lineage, strict=False)):
        if body_a != body_b:
            break
        meet_index = i
    meet_strip = route.lineage[meet_index][1] if route.lineage else ""
    below = {b for b, _ in route.lineage[meet_index:]}
    moved = [_move(m, meet_strip, block.strip) for b, m in route.trail if b in below]
    match: Match | None = Match()
    for m in moved:
        match = match.intersect(m) if match is not None else None
    strip = block.strip + route.route.get("strip_prefix", "")[len(meet_strip) :]
    return None if match is None else (match, moved, strip)


def _move(match: Match, old: str, new: str) -> Match:
    if old == new:
        return match
    return Match(tuple(new + p[len(old) :] if p.startswith("/") else p for p in match.paths), match.hosts, match.methods)


def _in_other_block(chain: tuple[tuple[int, int], ...], of: tuple[tuple[int, int], ...]) -> bool:
    """True when ``chain`` lies in a different block of a group that ``of`` is in."""
    blocks = dict(of)
    return any(group in blocks and blocks[group] != block for group, block in chain)


def _narrowed(route: dict[str, Any], match: Match, inner: Scope, strip: str) -> dict[str, Any]:
    """``route`` as it runs after the handle block ``inner``: its matcher, rewrite and headers."""
    out = {k: v for k, v in route.items() if k not in ("paths", "hosts", "methods", "strip_prefix", "response_headers")}
    head: dict[str, Any] = {}
    if match.hosts:
        head["hosts"] = list(match.hosts)
    if match.paths:
        head["paths"] = list(match.paths)
    if match.methods:
        head["methods"] = list(match.methods)
    if strip:
        head["strip_prefix"] = strip
    own = list(route.get("response_headers", []))
    headers = [dict(h) for h in inner.response_headers if h not in own] + own
    if headers:
        head["response_headers"] = headers
    return {**head, **out}


def _is_matcher_token(tok: Token) -> bool:
    return tok.text.startswith(("/", "@")) or tok.text == "*"


def _sort_index(name: str) -> int:
    # handle_path is a special case of handle: Caddy sorts the two together (one group).
    return _ORDER_INDEX["handle"] if name == "handle_path" else _ORDER_INDEX.get(name, -1)


def _caddy_order(a: tuple[Segment, Match | None], b: tuple[Segment, Match | None]) -> int:
    """Caddy 2.6 ``sortRoutes``: directive order, then one longer path first, then any matcher."""
    da, db = _sort_index(a[0].name.text), _sort_index(b[0].name.text)
    if da != db:
        return da - db

    def key(item: tuple[Segment, Match | None]) -> tuple[int, bool]:
        m = item[1]
        path = m.paths[0] if m is not None and len(m.paths) == 1 else ""
        return len(path), m is not None and not m.is_empty

    (la, ma), (lb, mb) = key(a), key(b)
    if la == 0 and lb == 0:
        return -1 if (ma and not mb) else (1 if (mb and not ma) else 0)
    return lb - la
