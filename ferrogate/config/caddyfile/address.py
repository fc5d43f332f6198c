"""Site addresses (the keys of a server block) -> what to listen on and which host to match."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ferrogate.config.caddyfile.lexer import Token
from ferrogate.config.caddyfile.values import fail


@dataclass(frozen=True, slots=True)
class SiteAddress:
    """One site address: the listen address, the host to match (``None`` for any) and
    the path prefix it was written with, and whether the site serves TLS."""

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
