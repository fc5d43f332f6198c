"""Caddyfile -> :class:`Config` plus warnings (Caddy's ``Adapter.Adapt`` shape).

Lexing, parsing and each directive report their problems as diagnostics and the
adapter carries on, so one run lists every error. The result is the same plain
tree the TOML front end produces, converted and type-checked by the same code.

Listeners come from the site addresses (``:8080`` -> ``:8080``; ``host:port`` ->
``:port`` plus a host matcher; an IP address is bound as written). The model has
one route table shared by all listeners, so routes of host-specific sites come
first, then those of catch-all sites (Caddy also prefers the more specific site).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ferrogate.config.caddyfile.ai import AiAdapter
from ferrogate.config.caddyfile.imports import expand_imports
from ferrogate.config.caddyfile.lexer import tokenize
from ferrogate.config.caddyfile.options import Options
from ferrogate.config.caddyfile.parser import parse_tokens
from ferrogate.config.caddyfile.site import SiteAdapter
from ferrogate.config.caddyfile.values import Builder
from ferrogate.config.convert import convert_config
from ferrogate.config.diagnostics import ConfigError, Diagnostic, SourceMap
from ferrogate.config.model import Config


def _sorted(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    return sorted(diagnostics, key=lambda d: (d.file, d.line, d.column))


def adapt_caddyfile(
    text: str, file: str, *, env: Mapping[str, str], import_root: Path | None = None
) -> tuple[Config, SourceMap, list[Diagnostic]]:
    """Adapt Caddyfile text; raise ConfigError listing every problem found."""
    tokens, lex_errors = tokenize(text, file, env)
    tokens, import_errors = expand_imports(tokens, env, import_root=import_root)
    lex_errors += import_errors
    blocks, parse_errors = parse_tokens(tokens)
    if parse_errors:
        raise ConfigError(_sorted(lex_errors + parse_errors))
    b = Builder(file, env)
    b.errors.extend(lex_errors)
    options = Options(b)
    site = SiteAdapter(b, AiAdapter(b), options.tls, options.log)
    for block in blocks:
        if block.is_global:
            options.global_block(block.segments)
        else:
            site.site(block)
    if site.listen:
        b.tree["listen"] = [addr for addr, _ in site.listen]
        b.mark(("listen",), site.listen[0][1])
        for i, (_, tok) in enumerate(site.listen):
            b.mark(("listen", i), tok)
    every = {addr for addr, _ in site.listen}
    for start, listens in site.site_listens:
        if listens != every:
            b.warn(start, "this site's routes are also served on the other sites' listeners (the route table is shared)")
    ordered = [p for p in site.pending if p.host_specific] + [p for p in site.pending if not p.host_specific]
    for pending in ordered:
        b.append("routes", pending.route, pending.token)
    if b.errors:
        raise ConfigError(_sorted(b.errors))
    config, diagnostics = convert_config(b.tree, b.smap)
    if config is None:
        raise ConfigError(_sorted(diagnostics))
    return config, b.smap, b.warnings
