"""TOML front end: ``tomllib`` -> plain tree -> :class:`Config`, with positions for errors."""

from __future__ import annotations

import re
import tomllib
from typing import Any

from ferrogate.config.convert import convert_config
from ferrogate.config.diagnostics import ConfigError, Diagnostic, SourceMap
from ferrogate.config.model import Config
from ferrogate.config.toml_positions import scan_toml_positions

_TOML_POS = re.compile(r"^(?P<msg>.*?)\s*\(at line (?P<line>\d+), column (?P<col>\d+)\)\s*$", re.S)
_TOML_EOF = re.compile(r"^(?P<msg>.*?)\s*\(at end of document\)\s*$", re.S)


def parse_toml_tree(text: str, file: str) -> tuple[dict[str, Any], SourceMap]:
    """Parse TOML text into a plain tree plus a source map; raise ConfigError on a syntax error."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_syntax_diagnostic(str(exc), text, file)]) from None
    return data, scan_toml_positions(text, file)


def parse_toml(text: str, file: str) -> tuple[Config, SourceMap]:
    """Parse and type-check TOML text. Every type error is collected into one ConfigError."""
    data, smap = parse_toml_tree(text, file)
    normalize_tree(data)
    config, diagnostics = convert_config(data, smap)
    if config is None:
        raise ConfigError(sorted(diagnostics, key=lambda d: (d.line, d.column)))
    return config, smap


def normalize_tree(data: dict[str, Any]) -> None:
    """Accept the documented shorthands: ``listen`` may be one string instead of a list."""
    if isinstance(data.get("listen"), str):
        data["listen"] = [data["listen"]]
    tls = data.get("tls")
    if isinstance(tls, dict):
        acme = tls.get("acme")
        if isinstance(acme, dict) and isinstance(acme.get("domains"), str):
            acme["domains"] = [acme["domains"]]


def _syntax_diagnostic(message: str, text: str, file: str) -> Diagnostic:
    m = _TOML_POS.match(message)
    if m:
        return Diagnostic(file, int(m.group("line")), int(m.group("col")), f"TOML syntax: {m.group('msg')}")
    m = _TOML_EOF.match(message)
    if m:
        lines = text.split("\n")
        return Diagnostic(file, len(lines), len(lines[-1]) + 1, f"TOML syntax: {m.group('msg')}")
    return Diagnostic(file, 1, 1, f"TOML syntax: {message}")
