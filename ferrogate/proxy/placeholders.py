"""Caddy-style ``{placeholder}`` templates, compiled once into parts.

A template is parsed when the config is compiled: literal text becomes bytes,
``{env.X}`` is resolved right away, and every request placeholder becomes a
small getter. At request time a template with no getters is just its bytes;
the rest are a join of a few slices. Unknown placeholders are config errors.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Final

from ferrogate._fastpath.api import Request


class ProxyConfigError(ValueError):
    """A route, upstream or header op that cannot be compiled."""


class Vars:
    """Per-request values placeholders may read (besides the request itself)."""

    __slots__ = ("request_id", "scheme", "upstream_hostport")

    def __init__(self, request_id: bytes, scheme: bytes, upstream_hostport: bytes) -> None:
        self.request_id = request_id
        self.scheme = scheme
        self.upstream_hostport = upstream_hostport


Getter = Callable[[Request, Vars], bytes]


def host_without_port(hostport: bytes) -> bytes:
    """``example.com:8080`` → ``example.com``; ``[::1]:80`` → ``[::1]``."""
    if hostport.startswith(b"["):
        end = hostport.find(b"]")
        return hostport[: end + 1] if end > 0 else hostport
    head, sep, tail = hostport.rpartition(b":")
    if sep and tail.isdigit():
        return head
    return hostport


def _hostport(req: Request, _: Vars) -> bytes:
    return req.header(b"host") or b""


def _host(req: Request, _: Vars) -> bytes:
    return host_without_port(req.header(b"host") or b"").lower()


def _uri(req: Request, _: Vars) -> bytes:
    return req.target


def _path(req: Request, _: Vars) -> bytes:
    return req.path


def _query(req: Request, _: Vars) -> bytes:
    return req.query


def _method(req: Request, _: Vars) -> bytes:
    return req.method


def _remote_host(req: Request, _: Vars) -> bytes:
    return req.client[0].encode("ascii") if req.client else b""


def _remote_port(req: Request, _: Vars) -> bytes:
    return b"%d" % req.client[1] if req.client else b""


def _remote(req: Request, _: Vars) -> bytes:
    if not req.client:
        return b""
    ip, port = req.client
    return (f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}").encode("ascii")


def _proto(req: Request, _: Vars) -> bytes:
    return b"HTTP/" + req.http_version.encode("ascii")


def _scheme(_: Request, v: Vars) -> bytes:
    return v.scheme


def _request_id(_: Request, v: Vars) -> bytes:
    return v.request_id


def _upstream_hostport(_: Request, v: Vars) -> bytes:
    return v.upstream_hostport


_GETTERS: Final[dict[str, Getter]] = {
    "http.request.host": _host,
    "host": _host,
    "http.request.hostport": _hostport,
    "hostport": _hostport,
    "http.request.uri": _uri,
    "uri": _uri,
    "http.request.uri.path": _path,
    "path": _path,
    "http.request.uri.query": _query,
    "query": _query,
    "http.request.method": _method,
    "method": _method,
    "http.request.remote.host": _remote_host,
    "remote_host": _remote_host,
    "http.request.remote.port": _remote_port,
    "remote_port": _remote_port,
    "http.request.remote": _remote,
    "remote": _remote,
    "http.request.proto": _proto,
    "http.request.scheme": _scheme,
    "scheme": _scheme,
    "http.request.id": _request_id,
    "http.reverse_proxy.upstream.hostport": _upstream_hostport,
    "upstream_hostport": _upstream_hostport,
}

UPSTREAM_GETTERS: Final = frozenset((_upstream_hostport,))

_HEADER_PREFIXES: Final = ("http.request.header.", "header.")
_PLACEHOLDER: Final = re.compile(r"\{([^{}\s]+)\}")
_TOKEN_NAME: Final = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def _header_getter(name: str) -> Getter:
    key = name.lower().encode("ascii")

    def get(req: Request, _: Vars) -> bytes:
        return req.header(key) or b""

    return get


class Template:
    """A compiled value: literal bytes and getters, joined per request."""

    __slots__ = ("getters", "parts", "static")

    def __init__(self, parts: tuple[bytes | Getter, ...]) -> None:
        self.parts = parts
        self.getters = tuple(p for p in parts if not isinstance(p, bytes))
        self.static: bytes | None = (
            b"".join(p for p in parts if isinstance(p, bytes)) if not self.getters else None
        )

    @property
    def needs_upstream(self) -> bool:
        return any(g in UPSTREAM_GETTERS for g in self.getters)

    def render(self, req: Request, v: Vars) -> bytes:
        if self.static is not None:
            return self.static
        return b"".join(p if isinstance(p, bytes) else p(req, v) for p in self.parts)


def compile_template(text: str, env: Mapping[str, str], *, where: str) -> Template:
    """Parse ``text``; ``{env.X}`` must exist in ``env``; anything unknown is an error."""
    parts: list[bytes | Getter] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(text):
        if m.start() > pos:
            parts.append(_encode(text[pos : m.start()], where))
        name = m.group(1)
        parts.append(_resolve(name, env, where))
        pos = m.end()
    if pos < len(text):
        parts.append(_encode(text[pos:], where))
    merged: list[bytes | Getter] = []
    for p in parts:
        if isinstance(p, bytes) and merged and isinstance(merged[-1], bytes):
            merged[-1] = merged[-1] + p
        else:
            merged.append(p)
    return Template(tuple(merged))


def _resolve(name: str, env: Mapping[str, str], where: str) -> bytes | Getter:
    if name.startswith("env."):
        var = name[4:]
        if var not in env:
            raise ProxyConfigError(f"{where}: environment variable {var} is not set")
        return _encode(env[var], where)
    getter = _GETTERS.get(name)
    if getter is not None:
        return getter
    for prefix in _HEADER_PREFIXES:
        if name.startswith(prefix):
            header = name[len(prefix) :]
            if not _TOKEN_NAME.match(header):
                raise ProxyConfigError(f"{where}: invalid header name in placeholder {{{name}}}")
            return _header_getter(header)
    raise ProxyConfigError(f"{where}: unknown placeholder {{{name}}}")


def _encode(text: str, where: str) -> bytes:
    if "\r" in text or "\n" in text or "\x00" in text:
        raise ProxyConfigError(f"{where}: header values cannot contain CR, LF or NUL")
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise ProxyConfigError(f"{where}: header value is not latin-1 text") from exc


def is_token(name: str) -> bool:
    """A valid header field name (RFC 9110 token)."""
    return bool(_TOKEN_NAME.match(name))
