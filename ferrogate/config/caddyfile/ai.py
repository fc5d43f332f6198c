"""The ``ai_gateway { ... }`` directive: providers, models, keys, policies, MCP servers, cache.

Subdirective names are the TOML key names of the model (``input_price_per_1m``,
``request_limit_per_minute``...), so one reference serves both formats. The
Caddyfile-only spellings are the entry headers (``provider NAME [KIND]``,
``model LOGICAL -> PROVIDER:MODEL``, ``fallback PROVIDER:MODEL``, ``api_key ID``,
``policy NAME``, ``mcp_server NAME``, ``gateway_config ID``) and secrets:
``api_key {env.X}`` in a provider becomes ``api_key_env = "X"`` so the secret never
enters the model (or ``adapt`` output), and an MCP ``header NAME {env.X}`` becomes
``value_env``. Definitions from several ``ai_gateway`` blocks are merged.
"""

from __future__ import annotations

import re
from typing import Any

from ferrogate.config.caddyfile.lexer import Token
from ferrogate.config.caddyfile.parser import Segment
from ferrogate.config.caddyfile.values import AdaptError, Builder, fail
from ferrogate.config.diagnostics import ModelPath
from ferrogate.config.model import (
    ApiKey,
    Cache,
    Fallback,
    GatewayProfile,
    McpServer,
    Model,
    Policy,
    Provider,
    Tenant,
)

# A token that is one `{$NAME}` or `{$NAME:default}` placeholder and nothing else.
_WHOLE_PLACEHOLDER = re.compile(r"\{\$([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?\}")

ENTRIES = ("provider", "model", "api_key", "tenant", "policy", "mcp_server", "gateway_config", "cache")


class AiAdapter:
    def __init__(self, b: Builder) -> None:
        self.b = b

    def __call__(self, seg: Segment) -> None:
        for line in seg.block or []:
            name = line.name.text
            try:
                handler = getattr(self, f"_{name}", None) if name in ENTRIES else None
                if handler is None:
                    raise fail(line.name, f"unknown subdirective `{name}` in ai_gateway (expected one of: {', '.join(ENTRIES)})")
                handler(line)
            except AdaptError as exc:
                self.b.errors.append(exc.diagnostic)

    # ------------------------------------------------------------------ entries

    def _named(self, line: Segment, what: str) -> Token:
        if not line.args:
            raise fail(line.name, f"`{line.name.shown}` needs a {what}")
        return line.args[0]

    def _provider(self, line: Segment) -> None:
        name = self._named(line, "name")
        if len(line.args) > 2:
            raise fail(line.args[2], "`provider NAME [KIND]` takes at most two arguments")
        item: dict[str, Any] = {"name": self.b.text(name)}
        _, path = self.b.append("providers", item, line.name)
        if len(line.args) == 2:
            item["kind"] = line.args[1].text
            self.b.mark((*path, "kind"), line.args[1])

        def api_key(seg: Segment, target: dict[str, Any], p: ModelPath) -> None:
            self.b.secret(self.b.one_arg(seg), target, "api_key", "api_key_env", p)

        self.b.fill_struct(Provider, line.block or [], item, path, f"provider `{name.shown}`", {"api_key": api_key})

    def _split_target(self, tok: Token) -> tuple[str, str]:
        provider, sep, model = self.b.text(tok).partition(":")
        if not sep or not provider or not model:
            raise fail(tok, f"`{tok.shown}` must be PROVIDER:MODEL")
        return provider, model

    def _model(self, line: Segment) -> None:
        args = list(line.args)
        if len(args) == 3 and args[1].text == "->":
            args.pop(1)
        if len(args) != 2:
            raise fail(line.name, "expected `model LOGICAL -> PROVIDER:MODEL`")
        provider, provider_model = self._split_target(args[1])
        item: dict[str, Any] = {"name": self.b.text(args[0]), "provider": provider, "provider_model": provider_model}
        _, path = self.b.append("models", item, line.name)
        self.b.mark((*path, "provider"), args[1])
        self.b.mark((*path, "provider_model"), args[1])

        def fallback(seg: Segment, target: dict[str, Any], p: ModelPath) -> None:
            if len(seg.args) != 1:
                raise fail(seg.name, "expected `fallback PROVIDER:MODEL`")
            fb_provider, fb_model = self._split_target(seg.args[0])
            fallbacks = target.setdefault("fallbacks", [])
            fb: dict[str, Any] = {"provider": fb_provider, "provider_model": fb_model}
            fallbacks.append(fb)
            fb_path = (*p, "fallbacks", len(fallbacks) - 1)
            self.b.mark((*p, "fallbacks"), seg.name)
            self.b.mark(fb_path, seg.name)
            self.b.mark((*fb_path, "provider"), seg.args[0])
            self.b.fill_struct(Fallback, seg.block or [], fb, fb_path, f"fallback `{seg.args[0].shown}`")

        self.b.fill_struct(Model, line.block or [], item, path, f"model `{args[0].shown}`", {"fallback": fallback})

    def _api_key(self, line: Segment) -> None:
        key_id = self._named(line, "key id")
        self._extra_args(line, 1)
        item: dict[str, Any] = {"id": self.b.text(key_id)}
        _, path = self.b.append("api_keys", item, line.name)

        def key(seg: Segment, target: dict[str, Any], p: ModelPath) -> None:
            # `key {$NAME}` / `key {env.NAME}` keep the variable's name, not the secret, so
            # `adapt` prints `key_env = "NAME"`; `{$NAME:default}` with NAME unset keeps the default.
            tok = self.b.one_arg(seg)
            m = _WHOLE_PLACEHOLDER.fullmatch(tok.source or "")
            if m is not None and m.group(1) in self.b.env:
                target["key_env"] = m.group(1)
                self.b.mark((*p, "key_env"), tok)
            else:
                self.b.secret(tok, target, "key", "key_env", p)

        self.b.fill_struct(ApiKey, line.block or [], item, path, f"api_key `{key_id.shown}`", {"key": key})

    def _policy(self, line: Segment) -> None:
        name = self._named(line, "name")
        self._extra_args(line, 1)
        item: dict[str, Any] = {"name": self.b.text(name)}
        _, path = self.b.append("policies", item, line.name)
        self.b.fill_struct(Policy, line.block or [], item, path, f"policy `{name.shown}`")

    def _tenant(self, line: Segment) -> None:
        tid = self._named(line, "id")
        self._extra_args(line, 1)
        item: dict[str, Any] = {"id": self.b.text(tid)}
        _, path = self.b.append("tenants", item, line.name)
        self.b.fill_struct(Tenant, line.block or [], item, path, f"tenant `{tid.shown}`")

    def _gateway_config(self, line: Segment) -> None:
        gid = self._named(line, "id")
        self._extra_args(line, 1)
        item: dict[str, Any] = {"id": self.b.text(gid)}
        _, path = self.b.append("gateway_configs", item, line.name)
        self.b.fill_struct(GatewayProfile, line.block or [], item, path, f"gateway_config `{gid.shown}`")

    def _mcp_server(self, line: Segment) -> None:
        name = self._named(line, "name")
        self._extra_args(line, 1)
        item: dict[str, Any] = {"name": self.b.text(name)}
        _, path = self.b.append("mcp_servers", item, line.name)

        def header(seg: Segment, target: dict[str, Any], p: ModelPath) -> None:
            if len(seg.args) != 2:
                raise fail(seg.name, "expected `header NAME VALUE` (VALUE may be {env.NAME})")
            headers = target.setdefault("headers", [])
            h: dict[str, Any] = {"name": self.b.text(seg.args[0])}
            headers.append(h)
            h_path = (*p, "headers", len(headers) - 1)
            self.b.mark((*p, "headers"), seg.name)
            self.b.mark(h_path, seg.name)
            self.b.secret(seg.args[1], h, "value", "value_env", h_path)

        self.b.fill_struct(McpServer, line.block or [], item, path, f"mcp_server `{name.shown}`", {"header": header})

    def _cache(self, line: Segment) -> None:
        self._extra_args(line, 0)
        section = self.b.section("cache", line.name)
        section.setdefault("enabled", True)
        self.b.fill_struct(Cache, line.block or [], section, ("cache",), "cache")

    def _extra_args(self, line: Segment, allowed: int) -> None:
        if len(line.args) > allowed:
            raise fail(line.args[allowed], f"unexpected argument `{line.args[allowed].shown}` to `{line.name.shown}`")
