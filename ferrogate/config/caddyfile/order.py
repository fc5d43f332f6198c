"""Caddy's directive order: how the directives of a site or ``handle`` block are sorted.

Caddy sorts the directives of a site (and of a ``handle`` block) by its fixed
directive order, and same-named directives by path specificity (one longer path
first, then any matcher, then none); only ``route { }`` keeps source order, and the
caller skips the sort there. ``handle`` and ``handle_path`` sort together as one
group.

The order used is Caddy's, with ``ai_gateway`` placed before ``respond`` so a
catch-all ``respond`` does not shadow the AI routes.
"""

from __future__ import annotations

from ferrogate.config.caddyfile.matchers import Match
from ferrogate.config.caddyfile.parser import Segment

DIRECTIVE_ORDER = ("header", "uri", "handle", "handle_path", "route", "ai_gateway", "respond", "reverse_proxy")
_ORDER_INDEX = {name: i for i, name in enumerate(DIRECTIVE_ORDER)}


def _sort_index(name: str) -> int:
    # handle_path is a special case of handle: Caddy sorts the two together (one group).
    return _ORDER_INDEX["handle"] if name == "handle_path" else _ORDER_INDEX.get(name, -1)


def caddy_order(a: tuple[Segment, Match | None], b: tuple[Segment, Match | None]) -> int:
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
