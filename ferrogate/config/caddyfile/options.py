"""Global options and the site-level ``tls`` and ``log`` directives.

Caddy global options that have a FerroGate meaning: ``admin ADDR|off``,
``grace_period``, ``servers { timeouts { read_header idle read_body }
max_header_size protocols }``, ``debug``, ``log { level }``, and the ACME ones
(``email``, ``acme_ca``, ``acme_ca_root``, ``acme_dns``, ``storage file_system``,
``renew_interval``). Sections without a Caddy spelling go in a ``ferrogate { }``
global block whose sub-blocks are the TOML tables with their TOML keys:
``ferrogate { reliability {...} telemetry {...} limits {...} cluster {...}
storage {...} metering {...} admin {...} cache {...} }``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ferrogate.config.caddyfile.address import SiteAddress
from ferrogate.config.caddyfile.lexer import Token
from ferrogate.config.caddyfile.parser import Segment
from ferrogate.config.caddyfile.values import AdaptError, Builder, fail, parse_duration, parse_size
from ferrogate.config.model import (
    Admin,
    Agentic,
    Cache,
    Cluster,
    Governance,
    Limits,
    Metering,
    Reliability,
    Storage,
    Telemetry,
)

FERROGATE_SECTIONS: dict[str, type[msgspec.Struct]] = {
    "admin": Admin,
    "limits": Limits,
    "telemetry": Telemetry,
    "metering": Metering,
    "storage": Storage,
    "cache": Cache,
    "governance": Governance,
    "agentic": Agentic,
    "reliability": Reliability,
    "cluster": Cluster,
}
_LOG_LEVELS = {"debug": "debug", "info": "info", "warn": "warning", "warning": "warning", "error": "error"}
_SERVER_TIMEOUTS = {"read_header": "header_timeout_secs", "idle": "idle_timeout_secs", "read_body": "body_timeout_secs"}


def _duration(b: Builder, tok: Token, what: str) -> float:
    secs = parse_duration(b.text(tok))
    if secs is None:
        raise fail(tok, f"{what}: `{tok.shown}` is not a duration (e.g. 30s, 5m, 1h30m)")
    return secs


def _set(b: Builder, section: str, key: str, value: Any, tok: Token, sub: str | None = None) -> None:
    table = b.section(section, tok)
    path: tuple[str, ...] = (section,)
    if sub is not None:
        table = table.setdefault(sub, {})
        path = (section, sub)
        b.mark(path, tok)
    table[key] = value
    b.mark((*path, key), tok)


class Options:
    def __init__(self, b: Builder) -> None:
        self.b = b
        self.acme_hosts: list[str] = []

    # ------------------------------------------------------------------ global options block

    def global_block(self, segments: list[Segment]) -> None:
        for seg in segments:
            try:
                handler = getattr(self, f"_opt_{seg.name.text}", None)
                if handler is None:
                    raise fail(seg.name, f"unknown global option `{seg.name.shown}`")
                handler(seg)
            except AdaptError as exc:
                self.b.errors.append(exc.diagnostic)

    def _opt_admin(self, seg: Segment) -> None:
        self.b.no_block(seg)
        tok = self.b.one_arg(seg)
        if tok.text == "off":
            _set(self.b, "admin", "enabled", False, tok)
        else:
            addr = tok.text.removeprefix("tcp/")
            _set(self.b, "admin", "listen", addr, tok)

    def _opt_grace_period(self, seg: Segment) -> None:
        tok = self.b.one_arg(seg)
        _set(self.b, "reliability", "graceful_shutdown_grace_period_secs", _duration(self.b, tok, "grace_period"), tok)

    def _opt_debug(self, seg: Segment) -> None:
        self.b.no_block(seg)
        _set(self.b, "telemetry", "log_level", "debug", seg.name)

    def _opt_log(self, seg: Segment) -> None:
        for line in seg.block or []:
            if line.name.text == "level":
                tok = self.b.one_arg(line)
                level = _LOG_LEVELS.get(tok.text.lower())
                if level is None:
                    raise fail(tok, f"log level `{tok.shown}` is not one of DEBUG, INFO, WARN, ERROR")
                _set(self.b, "telemetry", "log_level", level, tok)
            elif line.name.text not in ("output", "format"):
                raise fail(line.name, f"unknown subdirective `{line.name.shown}` in log")

    def _opt_servers(self, seg: Segment) -> None:
        if seg.args:
            raise fail(seg.args[0], "per-listener `servers` options are not supported; use `servers { ... }`")
        for line in seg.block or []:
            name = line.name.text
            try:
                if name == "timeouts":
                    for sub in line.block or []:
                        key = _SERVER_TIMEOUTS.get(sub.name.text)
                        if key is None:
                            raise fail(sub.name, f"server timeout `{sub.name.shown}` is not supported (supported: {', '.join(_SERVER_TIMEOUTS)})")
                        tok = self.b.one_arg(sub)
                        _set(self.b, "limits", key, _duration(self.b, tok, sub.name.text), tok)
                elif name == "max_header_size":
                    tok = self.b.one_arg(line)
                    size = parse_size(tok.text)
                    if size is None:
                        raise fail(tok, f"max_header_size: `{tok.shown}` is not a size (e.g. 32KB)")
                    _set(self.b, "limits", "max_header_bytes", size, tok)
                elif name == "protocols":
                    if not line.args:
                        raise fail(line.name, "`protocols` needs at least one of h1 h2")
                    _set(self.b, "tls", "http2", any(t.text == "h2" for t in line.args), line.name)
                else:
                    raise fail(line.name, f"unknown server option `{name}`")
            except AdaptError as exc:
                self.b.errors.append(exc.diagnostic)

    def _opt_email(self, seg: Segment) -> None:
        tok = self.b.one_arg(seg)
        _set(self.b, "tls", "email", self.b.text(tok), tok, sub="acme")

    def _opt_acme_ca(self, seg: Segment) -> None:
        tok = self.b.one_arg(seg)
        _set(self.b, "tls", "directory_url", self.b.text(tok), tok, sub="acme")

    def _opt_acme_ca_root(self, seg: Segment) -> None:
        tok = self.b.one_arg(seg)
        _set(self.b, "tls", "ca_file", self.b.text(tok), tok, sub="acme")

    def _opt_acme_dns(self, seg: Segment) -> None:
        self._dns(seg)

    def _opt_renew_interval(self, seg: Segment) -> None:
        tok = self.b.one_arg(seg)
        _set(self.b, "tls", "renewal_check_interval_secs", int(_duration(self.b, tok, "renew_interval")), tok, sub="acme")

    def _opt_storage(self, seg: Segment) -> None:
        if not seg.args or seg.args[0].text != "file_system":
            raise fail(seg.args[0] if seg.args else seg.name, "only `storage file_system` is supported")
        root: Token | None = seg.args[1] if len(seg.args) == 2 else None
        for line in seg.block or []:
            if line.name.text != "root":
                raise fail(line.name, f"unknown subdirective `{line.name.shown}` in storage file_system")
            root = self.b.one_arg(line)
        if root is None:
            raise fail(seg.name, "`storage file_system` needs a root directory")
        _set(self.b, "tls", "storage_dir", self.b.text(root), root, sub="acme")

    def _opt_ferrogate(self, seg: Segment) -> None:
        for line in seg.block or []:
            struct = FERROGATE_SECTIONS.get(line.name.text)
            try:
                if struct is None:
                    raise fail(line.name, f"unknown section `{line.name.shown}` in ferrogate options (expected one of: {', '.join(FERROGATE_SECTIONS)})")
                if line.args:
                    raise fail(line.args[0], f"`{line.name.shown}` takes a block")
            except AdaptError as exc:
                self.b.errors.append(exc.diagnostic)
                continue
            table = self.b.section(line.name.text, line.name)
            self.b.fill_struct(struct, line.block or [], table, (line.name.text,), line.name.text)

    # ------------------------------------------------------------------ site-level directives

    def log(self, seg: Segment) -> None:
        mode = "all"
        for line in seg.block or []:
            name = line.name.text
            if name == "output":
                tok = self.b.one_arg(line) if len(line.args) == 1 else (line.args[0] if line.args else line.name)
                if tok.text == "discard":
                    mode = "off"
                elif tok.text not in ("stdout", "stderr"):
                    raise fail(tok, "log output must be stdout, stderr or discard")
            elif name == "format":
                if not line.args or line.args[0].text not in ("json", "console"):
                    raise fail(line.args[0] if line.args else line.name, "log format must be json or console")
            elif name == "level":
                tok = self.b.one_arg(line)
                if tok.text.lower() not in _LOG_LEVELS:
                    raise fail(tok, f"log level `{tok.shown}` is not one of DEBUG, INFO, WARN, ERROR")
                if tok.text.lower() == "error":
                    mode = "error"
            else:
                raise fail(line.name, f"unknown subdirective `{name}` in log")
        if seg.args:
            raise fail(seg.args[0], "named loggers are not supported; use `log { ... }`")
        _set(self.b, "telemetry", "access_log", mode, seg.name)

    def tls(self, seg: Segment, addresses: list[SiteAddress]) -> None:
        args = seg.args
        hosts = [a.host for a in addresses if a.host and "*" not in a.host]
        use_acme = False
        if len(args) == 2:
            _set(self.b, "tls", "cert_path", self.b.text(args[0]), args[0])
            _set(self.b, "tls", "key_path", self.b.text(args[1]), args[1])
        elif len(args) == 1 and "@" in args[0].text:
            _set(self.b, "tls", "email", self.b.text(args[0]), args[0], sub="acme")
            use_acme = True
        elif args:
            raise fail(args[0], "expected `tls CERT KEY`, `tls EMAIL` or a `tls { ... }` block")
        for line in seg.block or []:
            try:
                use_acme = self._tls_line(line) or use_acme
            except AdaptError as exc:
                self.b.errors.append(exc.diagnostic)
        _set(self.b, "tls", "enabled", True, seg.name)
        if use_acme:
            _set(self.b, "tls", "enabled", True, seg.name, sub="acme")
            _set(self.b, "tls", "terms_agreed", True, seg.name, sub="acme")
            for host in hosts:
                if host not in self.acme_hosts:
                    self.acme_hosts.append(host)
            _set(self.b, "tls", "domains", list(self.acme_hosts), seg.name, sub="acme")

    def _tls_line(self, line: Segment) -> bool:
        name = line.name.text
        acme_keys = {
            "ca": "directory_url",
            "ca_root": "ca_file",
            "storage": "storage_dir",
            "http_challenge_listen": "http_challenge_listen",
        }
        durations = {
            "propagation_delay": "dns_propagation_delay_secs",
            "renewal_window": "renewal_window_secs",
            "renewal_check_interval": "renewal_check_interval_secs",
            "renewal_retry_interval": "renewal_retry_interval_secs",
            # The original FerroGate's spellings (seconds, as in TOML).
            "renewal_window_secs": "renewal_window_secs",
            "renewal_check_interval_secs": "renewal_check_interval_secs",
            "renewal_retry_interval_secs": "renewal_retry_interval_secs",
            "dns_propagation_delay_secs": "dns_propagation_delay_secs",
        }
        if name == "issuer":
            if not line.args or line.args[0].text != "acme":
                raise fail(line.args[0] if line.args else line.name, "only `issuer acme` is supported")
            if len(line.args) == 2:
                _set(self.b, "tls", "directory_url", self.b.text(line.args[1]), line.args[1], sub="acme")
            for sub in line.block or []:
                try:
                    if sub.name.text == "dir":
                        tok = self.b.one_arg(sub)
                        _set(self.b, "tls", "directory_url", self.b.text(tok), tok, sub="acme")
                    elif sub.name.text == "email":
                        tok = self.b.one_arg(sub)
                        _set(self.b, "tls", "email", self.b.text(tok), tok, sub="acme")
                    elif sub.name.text == "trusted_roots":
                        tok = self.b.one_arg(sub)
                        _set(self.b, "tls", "ca_file", self.b.text(tok), tok, sub="acme")
                    elif sub.name.text in ("dns", "propagation_delay", "resolvers"):
                        self._tls_line(sub)
                    else:
                        raise fail(sub.name, f"unknown subdirective `{sub.name.shown}` in issuer acme")
                except AdaptError as exc:
                    self.b.errors.append(exc.diagnostic)
            return True
        if name == "dns":
            self._dns(line)
        elif name in acme_keys:
            tok = self.b.one_arg(line)
            _set(self.b, "tls", acme_keys[name], self.b.text(tok), tok, sub="acme")
        elif name in durations:
            tok = self.b.one_arg(line)
            secs = _duration(self.b, tok, name)
            key = durations[name]
            _set(self.b, "tls", key, secs if key == "dns_propagation_delay_secs" else int(secs), tok, sub="acme")
        elif name == "resolvers":
            if not line.args:
                raise fail(line.name, "resolvers needs an address (e.g. 1.1.1.1)")
            tok = line.args[0]  # the first is asked; Caddy's list form is accepted
            address = self.b.text(tok)
            _set(self.b, "tls", "dns_resolver", address if ":" in address.rsplit("]", 1)[-1] else address + ":53",
                 tok, sub="acme")
        elif name == "auto_graceful_reload":
            tok = self.b.one_arg(line)
            _set(self.b, "tls", "auto_graceful_reload", self.b.scalar(bool, tok, name), tok, sub="acme")
        elif name == "protocols":
            _set(self.b, "tls", "http2", any(t.text == "h2" for t in line.args), line.name)
            return False
        else:
            raise fail(line.name, f"unknown subdirective `{name}` in tls")
        return True

    def _dns(self, line: Segment) -> None:
        if not line.args:
            raise fail(line.name, "`dns` needs a provider: cloudflare or hook")
        provider = line.args[0]
        acme = self.b.section("tls", line.name).setdefault("acme", {})
        self.b.mark(("tls", "acme"), line.name)
        if provider.text == "hook":
            if len(line.args) != 2:
                raise fail(provider, "expected `dns hook /path/to/program`")
            _set(self.b, "tls", "dns_provider", "hook", provider, sub="acme")
            _set(self.b, "tls", "dns_hook", self.b.text(line.args[1]), line.args[1], sub="acme")
        elif provider.text == "cloudflare":
            dns: dict[str, Any] = acme.setdefault("dns_config", {})
            path = ("tls", "acme", "dns_config")
            self.b.mark(path, provider)
            _set(self.b, "tls", "dns_provider", "cloudflare", provider, sub="acme")
            if len(line.args) == 2:
                self.b.secret(line.args[1], dns, "api_token", "api_token_env", path)
            elif len(line.args) > 2:
                raise fail(line.args[2], "expected `dns cloudflare [TOKEN]`")
            for sub in line.block or []:
                try:
                    if sub.name.text == "api_token":
                        self.b.secret(self.b.one_arg(sub), dns, "api_token", "api_token_env", path)
                    elif sub.name.text in ("zone_name", "api_base_url"):
                        tok = self.b.one_arg(sub)
                        dns[sub.name.text] = self.b.text(tok)
                        self.b.mark((*path, sub.name.text), tok)
                    else:
                        raise fail(sub.name, f"unknown subdirective `{sub.name.shown}` in dns cloudflare")
                except AdaptError as exc:
                    self.b.errors.append(exc.diagnostic)
        else:
            raise fail(provider, f"dns provider `{provider.shown}` is not supported (supported: cloudflare, hook)")
        _set(self.b, "tls", "challenge", "dns-01", line.name, sub="acme")
