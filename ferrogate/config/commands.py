"""``ferrogate validate`` and ``ferrogate adapt``.

Both load the file exactly as ``ferrogate run`` would (same front end, same checks).
Errors go to stderr, one ``file:line:column: message`` per line, and the command
exits 1. Output never contains secret values: the summary counts keys, it does not
print them.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from ferrogate.config.diagnostics import ConfigError, Diagnostic
from ferrogate.config.emit import emit_toml
from ferrogate.config.load import Loaded, load
from ferrogate.config.model import Config


def load_or_report(path: Path) -> Loaded | None:
    try:
        loaded = load(path)
    except ConfigError as exc:
        for diag in exc.diagnostics:
            print(diag, file=sys.stderr)
        count = len(exc.diagnostics)
        print(f"{path}: {count} error{'s' if count != 1 else ''}", file=sys.stderr)
        return None
    _print_warnings(loaded.warnings)
    return loaded


def _print_warnings(warnings: list[Diagnostic]) -> None:
    for w in warnings:
        print(f"{w.file}:{w.line}:{w.column}: warning: {w.message}", file=sys.stderr)


def summary(config: Config) -> list[str]:
    """A few lines saying what was loaded (names and counts, never secrets)."""
    handlers = Counter(
        "proxy" if r.upstream is not None else "respond" if r.respond is not None else "ai_gateway" for r in config.routes
    )
    routes = ", ".join(f"{n} {h}" for h, n in sorted(handlers.items()))
    tls = "off"
    if config.tls.acme.enabled:
        tls = f"acme ({config.tls.acme.challenge}) for {', '.join(config.tls.acme.domains) or 'no domains'}"
    elif config.tls.enabled:
        tls = "certificate files"

    def names(items: list[str]) -> str:
        shown = ", ".join(items[:8]) + (", ..." if len(items) > 8 else "")
        return f"{len(items)}" + (f" ({shown})" if items else "")

    return [
        f"listen:      {', '.join(config.listen)}",
        f"admin:       {config.admin.listen if config.admin.enabled else 'off'}",
        f"tls:         {tls}",
        f"routes:      {len(config.routes)}" + (f" ({routes})" if routes else ""),
        f"upstreams:   {names([u.name for u in config.upstreams])}",
        f"providers:   {names([p.name for p in config.providers])}",
        f"models:      {names([m.name for m in config.models])}",
        f"api keys:    {names([k.id for k in config.api_keys])}",
        f"policies:    {names([p.name for p in config.policies])}",
        f"profiles:    {names([g.id for g in config.gateway_configs])}",
        f"mcp servers: {names([s.name for s in config.mcp_servers])}",
    ]


def validate_command(path: Path) -> int:
    loaded = load_or_report(path)
    if loaded is None:
        return 1
    print(f"{path}: valid {loaded.format} configuration")
    for line in summary(loaded.config):
        print(f"  {line}")
    return 0


def adapt_command(path: Path) -> int:
    loaded = load_or_report(path)
    if loaded is None:
        return 1
    sys.stdout.write(emit_toml(loaded.config, header=f"Adapted from {path} by `ferrogate adapt`."))
    return 0
