"""Request matchers compiled from route config: path, host and method.

Semantics follow Caddy: path patterns are matched case-insensitively;
``/v1/*`` matches ``/v1/`` and below (not ``/v1``), ``/foo*`` matches any path
starting with ``/foo``, ``*.txt`` any path ending in ``.txt``, ``*`` every
path, and other ``*`` globs match segments. Host matching ignores case and
port; ``*.example.com`` matches exactly one extra label.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ferrogate.proxy.placeholders import ProxyConfigError, host_without_port


class PathMatcher:
    """Any-of a set of path patterns; ``match`` takes the lowercased path."""

    __slots__ = ("any", "exact", "globs", "prefixes", "suffixes")

    def __init__(self, patterns: Sequence[str], *, where: str) -> None:
        exact: set[bytes] = set()
        prefixes: list[bytes] = []
        suffixes: list[bytes] = []
        globs: list[re.Pattern[bytes]] = []
        self.any = False
        for raw in patterns:
            p = raw.lower()
            if p == "*":
                self.any = True
            elif "*" not in p:
                if not p.startswith("/"):
                    raise ProxyConfigError(f"{where}: path pattern {raw!r} must start with '/'")
                exact.add(p.encode())
            elif p.endswith("*") and p.count("*") == 1:
                prefixes.append(p[:-1].encode())
            elif p.startswith("*") and p.count("*") == 1:
                suffixes.append(p[1:].encode())
            else:
                rx = "".join(
                    "[^/]*" if part == "*" else re.escape(part) for part in re.split(r"(\*)", p)
                )
                globs.append(re.compile(rx.encode() + b"\\Z"))
        self.exact = frozenset(exact)
        self.prefixes = tuple(prefixes)
        self.suffixes = tuple(suffixes)
        self.globs = tuple(globs)

    def match(self, path: bytes) -> bool:
        if self.any or path in self.exact:
            return True
        if self.prefixes and path.startswith(self.prefixes):
            return True
        if self.suffixes and path.endswith(self.suffixes):
            return True
        return any(g.match(path) for g in self.globs)


class HostMatcher:
    """Any-of a set of host names (``match`` takes the Host header value as sent)."""

    __slots__ = ("exact", "wildcards")

    def __init__(self, hosts: Sequence[str], *, where: str) -> None:
        exact: set[bytes] = set()
        wildcards: list[bytes] = []
        for raw in hosts:
            h = host_without_port(
                raw.strip().lower().encode("idna" if not raw.isascii() else "ascii")
            )
            if not h:
                raise ProxyConfigError(f"{where}: empty host matcher")
            if h.startswith(b"*."):
                wildcards.append(h[1:])
            else:
                exact.add(h)
        self.exact = frozenset(exact)
        self.wildcards = tuple(wildcards)

    def match(self, host_header: bytes | None) -> bool:
        if not host_header:
            return False
        host = host_without_port(host_header).lower()
        if host.endswith(b"."):
            host = host[:-1]
        if host in self.exact:
            return True
        for suffix in self.wildcards:
            if (
                host.endswith(suffix)
                and b"." not in host[: -len(suffix)]
                and len(host) > len(suffix)
            ):
                return True
        return False


def compile_methods(methods: Sequence[str]) -> frozenset[bytes] | None:
    """Upper-cased method names, or None for "any method"."""
    if not methods:
        return None
    return frozenset(m.strip().upper().encode("ascii") for m in methods)
