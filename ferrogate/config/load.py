"""Load a config file (TOML or Caddyfile) into a validated :class:`Config`.

The format comes from the file name (``*.toml`` -> TOML; ``Caddyfile`` /
``*.caddyfile`` -> Caddyfile) or, for any other name, from the content.
Whatever the front end, the result goes through the same type conversion and
cross-reference checks, and every problem is raised at once as a ConfigError.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from ferrogate.config.diagnostics import ConfigError, Diagnostic, SourceMap
from ferrogate.config.model import Config
from ferrogate.config.otel_env import otel_settings
from ferrogate.config.unenforced import unenforced_warnings
from ferrogate.config.validate import validate_config

Format = Literal["toml", "caddyfile"]

_ENV_PLACEHOLDER = re.compile(r"\{(?:\$|env\.)([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?\}")
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


def load(
    path: Path | str,
    *,
    env: Mapping[str, str] | None = None,
    text: str | None = None,
    import_root: Path | None = None,
) -> Loaded:
    """Load, convert and validate; raise ConfigError with every problem found.

    ``import_root`` confines Caddyfile ``import`` of files to one directory (used for
    config text that arrives over the network)."""
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

        config, smap, warnings = adapt_caddyfile(text, file, env=env, import_root=import_root)
    problems = validate_config(config, smap, env)
    redact = _placeholder_values(text, env)
    if problems:
        raise ConfigError(sorted((redact(d) for d in problems), key=lambda d: (d.file, d.line, d.column)))
    warnings += unenforced_warnings(config, smap)
    if config.telemetry.otlp_endpoint is not None:
        warnings += [smap.diagnostic(("telemetry", "otlp_endpoint"), w) for w in otel_settings(env).warnings]
    return Loaded(config, fmt, smap, [redact(w) for w in warnings])


def _placeholder_values(text: str, env: Mapping[str, str]) -> Callable[[Diagnostic], Diagnostic]:
    """A function that puts ``{env.NAME}`` back wherever a message quotes a value that came
    from an environment placeholder of this config: such values are often secrets, and a
    message (printed by ``validate``, returned by the admin API, logged on reload) must name
    the variable, never its value."""
    secrets = sorted(
        ((env[name], name) for name in set(_ENV_PLACEHOLDER.findall(text)) if env.get(name)),
        key=lambda pair: -len(pair[0]),
    )

    def redact(diag: Diagnostic) -> Diagnostic:
        message = diag.message
        for value, name in secrets:
            if value in message:
                message = message.replace(value, f"{{env.{name}}}")
        return diag if message is diag.message else replace(diag, message=message)

    return redact


def load_config(path: Path | str, *, env: Mapping[str, str] | None = None) -> Config:
    """The agreed entry point: a validated Config, or ConfigError listing every problem."""
    return load(path, env=env).config
