"""Request matchers as the Caddyfile adapter composes them.

The model's routes are flat (each one: matchers + one terminal handler), while a
Caddyfile nests ``handle``/``route`` blocks. Nesting is flattened by intersecting
the enclosing matchers with the inner ones: path patterns (exact ``/a`` or prefix
``/a/*``), hosts and methods. An empty intersection means the inner directive can
never run; the adapter warns and drops it.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Match:
    paths: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()

    def intersect(self, other: Match) -> Match | None:
        paths = _intersect(self.paths, other.paths, _path_pair)
        hosts = _intersect(self.hosts, other.hosts, _host_pair)
        methods = _intersect(self.methods, other.methods, lambda a, b: a if a == b else None)
        if paths is None or hosts is None or methods is None:
            return None
        return Match(paths, hosts, methods)

    def under_prefix(self, prefix: str) -> Match:
        """Paths as written inside a block whose path was stripped of ``prefix`` (handle_path)."""
        if not prefix:
            return self
        return Match(tuple(prefix + p if p.startswith("/") else p for p in self.paths), self.hosts, self.methods)

    @property
    def single_path(self) -> str | None:
        """The one path pattern, when that is all this matcher checks (Caddy sorts by it)."""
        if len(self.paths) == 1 and not self.hosts and not self.methods:
            return self.paths[0]
        return None

    @property
    def is_empty(self) -> bool:
        return not (self.paths or self.hosts or self.methods)


def _intersect(a: tuple[str, ...], b: tuple[str, ...], pair: object) -> tuple[str, ...] | None:
    if not a:
        return b
    if not b:
        return a
    out: list[str] = []
    for x in a:
        for y in b:
            both = pair(x, y)  # type: ignore[operator]
            if both is not None and both not in out:
                out.append(both)
    return tuple(out) if out else None


class UnsupportedIntersection(ValueError):
    """Two glob patterns whose intersection is not one pattern (the adapter reports it)."""


def _is_simple(p: str) -> bool:
    return "*" not in p[:-1]


def _path_pair(a: str, b: str) -> str | None:
    if a == "*":
        return b
    if b == "*":
        return a
    if not (_is_simple(a) and _is_simple(b)):
        glob, other = (a, b) if not _is_simple(a) else (b, a)
        if other.endswith("*") and glob.startswith(other[:-1]):
            return glob
        raise UnsupportedIntersection(f"cannot combine path matchers `{a}` and `{b}`; write one pattern")
    a_prefix, b_prefix = a.endswith("*"), b.endswith("*")
    if a_prefix and b_prefix:
        if b[:-1].startswith(a[:-1]):
            return b
        if a[:-1].startswith(b[:-1]):
            return a
        return None
    if a_prefix:
        return b if b.startswith(a[:-1]) else None
    if b_prefix:
        return a if a.startswith(b[:-1]) else None
    return a if a == b else None


def _host_pair(a: str, b: str) -> str | None:
    a, b = a.lower(), b.lower()
    if a == b or fnmatch.fnmatchcase(a, b):
        return a
    if fnmatch.fnmatchcase(b, a):
        return b
    return None
