"""Site blocks -> flat routes and upstreams, with Caddy's ordering semantics.

The directives of a block are sorted as Caddy sorts them (see order.py), except in
``route { }``, which keeps source order. ``handle``/``handle_path`` blocks are one
mutually exclusive group. A request a block matched but did not answer continues, in
Caddy, with the later routes except the group's other blocks: see continuation.py.
Nested blocks are flattened by intersecting matchers (see matchers.py);
``handle_path`` and ``uri strip_prefix`` accumulate a strip prefix, and paths written
inside them are relative to the stripped path, as in Caddy. ``header`` edits
response headers of every handler after it in the same scope.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ferrogate.config.caddyfile.address import SiteAddress, parse_address
from ferrogate.config.caddyfile.continuation import apply_continuations, covers
from ferrogate.config.caddyfile.lexer import Token
from ferrogate.config.caddyfile.matchers import Match, UnsupportedIntersection
from ferrogate.config.caddyfile.order import DIRECTIVE_ORDER, caddy_order
from ferrogate.config.caddyfile.parser import Segment, ServerBlock
from ferrogate.config.caddyfile.proxy import ReverseProxyAdapter, header_op
from ferrogate.config.caddyfile.scope import PendingRoute, Scope
from ferrogate.config.caddyfile.values import AdaptError, Builder, fail

SITE_ONLY = ("log", "tls")


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
        self._proxy = ReverseProxyAdapter(b)
        self.pending: list[PendingRoute] = []
        self.listen: list[tuple[str, Token]] = []
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
            elif name not in DIRECTIVE_ORDER and name not in SITE_ONLY:
                self.b.errors.append(seg.name.diagnostic(f"unknown directive `{name}`"))
            else:
                try:
                    directives.append((seg, self._own_matcher(seg, matchers)))
                except AdaptError as exc:
                    self.b.errors.append(exc.diagnostic)
        if not keep_order:
            directives.sort(key=functools.cmp_to_key(caddy_order))
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
                route["upstream"] = self._proxy(seg, cur.rest())
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
        lineage = (*scope.lineage[:-1], (scope.lineage[-1][0], full)) if scope.lineage else ()
        return replace(scope, strip=full, lineage=lineage)

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
        if not inner.dead and not any(covers(p.route, inner.match) for p in self.pending[mark:] if not p.dead):
            self._closures.append((len(self.pending), inner, seg.name, body))

    def _apply_closures(self, host_specific: bool) -> None:
        apply_continuations(self.pending, self._closures, host_specific, self.b)
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


def _is_matcher_token(tok: Token) -> bool:
    return tok.text.startswith(("/", "@")) or tok.text == "*"
