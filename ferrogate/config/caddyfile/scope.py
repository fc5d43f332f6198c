"""Adapter state carried while walking nested Caddyfile blocks, and routes waiting to be ordered."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ferrogate.config.caddyfile.lexer import Token
from ferrogate.config.caddyfile.matchers import Match


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
