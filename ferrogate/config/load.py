"""Load a config file (TOML or Caddyfile) into a validated :class:`Config`.

The format comes from the file name (``*.toml`` -> TOML; ``Caddyfile`` /
``*.caddyfile`` -> Caddyfile) or, for any other name, from the content.
Whatever the front end, the result goes through the same type conversion and
cross-reference checks, and every problem is raised at once as a ConfigError.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ferrogate.config.diagnostics import ConfigError, Diagnostic, SourceMap
from ferrogate.config.model import Config
from ferrogate.config.validate import validate_config

Format = Literal["toml", "caddyfile"]

_TOML_LINE = re.compile(r"^\s*(\[\[?[A-Za-z0-9_.\"' -]+\]\]?|[A-Za-z0-9_\"'.-]+\s*=)")


@dataclass(frozen=True, slots=True)
class Loaded:
    """A loaded config plus what the loader learnt on the way (for CLI and reload reports)."""

    config: Config
    format: Format
    source_map: SourceMap
    warnings: list[Diagnostic] = field(default_factory=list)


def detect_format(path: Path, text: str) -> Format:
    name = path.name.lower()
    if name.endswith(".toml"):
        return "toml"
    if name == "caddyfile" or name.endswith(".caddyfile") or name.startswith("caddyfile"):
        return "caddyfile"
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        return "toml" if _TOML_LINE.match(line) else "caddyfile"
    return "caddyfile"


def load(path: Path | str, *, env: Mapping[str, str] | None = None, text: str | None = None) -> Loaded:
    """Load, convert and validate; raise ConfigError with every problem found."""
    path = Path(path)
    env = os.environ if env is None else env
    file = str(path)
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError([Diagnostic(file, 1, 1, f"cannot read config: {exc.strerror or exc}")]) from None
        except UnicodeDecodeError:
            raise ConfigError([Diagnostic(file, 1, 1, "config is not valid UTF-8")]) from None
    text = text.removeprefix("\ufeff")  # editors on Windows like to add a BOM
    fmt = detect_format(path, text)
    warnings: list[Diagnostic] = []
    if fmt == "toml":
        from ferrogate.config.toml import parse_toml

        config, smap = parse_toml(text, file)
    else:
        from ferrogate.config.caddyfile.adapter import adapt_caddyfile

        config, smap, warnings = adapt_caddyfile(text, file, env=env)
    problems = validate_config(config, smap, env)
    if problems:
        raise ConfigError(sorted(problems, key=lambda d: (d.file, d.line, d.column)))
    return Loaded(config, fmt, smap, warnings)


def load_config(path: Path | str, *, env: Mapping[str, str] | None = None) -> Config:
    """The agreed entry point: a validated Config, or ConfigError listing every problem."""
    return load(path, env=env).config
