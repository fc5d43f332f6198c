"""Checks of ``[tls]`` and ``[tls.acme]`` (part of ``validate``)."""

from __future__ import annotations

from collections.abc import Callable

from ferrogate.config.diagnostics import ModelPath
from ferrogate.config.model import Config

Report = Callable[[ModelPath, str], None]


def check_tls(config: Config, err: Report, need_env: Report) -> None:
    tls = config.tls
    acme = tls.acme
    if (tls.cert_path is None) != (tls.key_path is None):
        err(("tls",), "tls needs both `cert_path` and `key_path`")
    if tls.enabled and tls.cert_path is None and not tls.certificates and not acme.enabled:
        err(("tls", "enabled"), "tls is enabled but has neither cert_path/key_path nor acme")
    if not acme.enabled:
        return
    if not acme.domains:
        err(("tls", "acme"), "tls.acme needs at least one domain in `domains`")
    if not tls.enabled:
        err(("tls", "acme", "enabled"), "tls.acme gets the listener's certificate: it needs tls.enabled = true")
    if not acme.terms_agreed:
        err(("tls", "acme", "terms_agreed"), "the CA's terms of service must be agreed to: tls.acme.terms_agreed = true")
    if acme.challenge == "http-01":
        wildcards = [d for d in acme.domains if d.startswith("*.")]
        if wildcards:
            err(("tls", "acme", "domains"), f"a wildcard ({wildcards[0]}) can only be validated with challenge = \"dns-01\"")
        clash = _same_port(acme.http_challenge_listen, config.listen)
        if clash is not None:
            err(("tls", "acme", "http_challenge_listen"),
                f"http_challenge_listen {acme.http_challenge_listen} takes the port of the listener {clash}:"
                " give the HTTP-01 challenge a port of its own (usually 80)")
    if acme.dns_resolver is not None:
        host, _, port = acme.dns_resolver.rpartition(":")
        if not host or not port.isdigit():
            err(("tls", "acme", "dns_resolver"), f"dns_resolver {acme.dns_resolver!r} must be host:port (e.g. 1.1.1.1:53)")
    if acme.challenge == "dns-01":
        if acme.dns_provider is None:
            err(("tls", "acme"), "tls.acme with challenge dns-01 needs `dns_provider`")
        elif acme.dns_provider == "cloudflare":
            dns = acme.dns_config
            if dns is None or (dns.api_token is None and dns.api_token_env is None):
                err(("tls", "acme", "dns_config"), "dns_provider cloudflare needs dns_config.api_token or api_token_env")
            elif dns.api_token_env:
                need_env(("tls", "acme", "dns_config", "api_token_env"), dns.api_token_env)
        elif acme.dns_provider == "hook" and not acme.dns_hook:
            err(("tls", "acme"), "dns_provider hook needs `dns_hook`")


def _same_port(address: str, listeners: list[str]) -> str | None:
    """The public listener ``address`` would collide with (same port, overlapping host)."""
    host, _, port = address.rpartition(":")
    for listener in listeners:
        other_host, _, other_port = listener.rpartition(":")
        if port == other_port and (host == other_host or _any(host) or _any(other_host)):
            return listener
    return None


def _any(host: str) -> bool:
    return host in ("", "0.0.0.0", "[::]", "::", "*")
