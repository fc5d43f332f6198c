"""What happens to a request that a ``handle``/``route`` block matched but did not answer.

In Caddy it continues with the routes after the block, except the other blocks of the
block's group(s), and it sees the path as the block rewrote it (``handle_path``, ``uri
strip_prefix``). The model's route table is flat and first-match, so that continuation is
written out: copies of the later routes, with matchers moved onto the rewritten path and
narrowed to the block, right after the block; then, where an original later route would
answer such a request differently, a ``404`` route (FerroGate's answer when nothing
matches) in front of it. tests/config/test_config_caddy_oracle.py checks the result
against ``caddy adapt``.
"""

from __future__ import annotations

from typing import Any

from ferrogate.config.caddyfile.lexer import Token
from ferrogate.config.caddyfile.matchers import Match, UnsupportedIntersection
from ferrogate.config.caddyfile.scope import PendingRoute, Scope
from ferrogate.config.caddyfile.values import Builder


def apply_continuations(
    pending: list[PendingRoute], closures: list[tuple[int, Scope, Token, int]], host_specific: bool, b: Builder
) -> None:
    """Insert each block's continuation (see the module docstring); ``closures`` are (index, block, token, body id)."""
    for index, inner, tok, body in reversed(closures):
        inserted: list[PendingRoute] = []
        needs_stop = False
        redundant = True  # every copy equals its original as the flat table already has it
        # Copies run as if written right after the block, in the block's path space.
        lineage = (*inner.lineage, (body, inner.strip))
        for p in pending[index:]:
            excluded = _in_other_block(p.chain, inner.chain)
            try:
                as_written = None if p.dead else inner.match.intersect(_route_match(p.route))
                again = _reevaluated(p, inner)
                both = None if excluded or again is None else inner.match.intersect(again[0])
            except UnsupportedIntersection:
                b.warn(p.token, "route cannot be narrowed to an enclosing handle block; left out of its fall-through")
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
            if covers(copy, inner.match):
                needs_stop = False  # this copy answers every request left; nothing after it runs
                break
        if needs_stop:
            closer = _narrowed({"respond": {"status": 404}}, inner.match, inner, inner.strip)
            inserted.append(PendingRoute(closer, tok, host_specific, inner.chain, lineage, inner.trail))
        if redundant and not needs_stop:
            continue
        pending[index:index] = inserted


def covers(route: dict[str, Any], match: Match) -> bool:
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
    # The block was entered when the meeting body had stripped ``meet_strip``; anything the
    # body stripped after that (``uri``) applies to the block's requests on top of its own.
    meet_strip = block.lineage[meet_index][1] if block.lineage else ""
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
