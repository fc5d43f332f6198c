"""Config -> TOML text (what ``ferrogate adapt`` prints).

A small purpose-built emitter: values equal to the model's defaults are left out
so the output reads like a hand-written file, and everything else is written so
that loading the text gives back an equal :class:`Config` (prices as decimal
strings, floats via ``repr``). Top-level sections become ``[tables]``, top-level
lists of structs ``[[arrays]]``; structs nested inside an array element become
inline tables (one per line inside multi-line arrays).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import msgspec

from ferrogate.config.fields import struct_fields
from ferrogate.config.model import Config

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def emit_toml(config: Config, *, header: str | None = None) -> str:
    lines: list[str] = []
    if header:
        lines += [f"# {line}" if line else "#" for line in header.splitlines()]
        lines.append("")
    _table(config, (), lines, top=True)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n"


def _changed(obj: msgspec.Struct) -> list[tuple[str, Any]]:
    """(name, value) for each field that differs from its default (required ones always)."""
    out: list[tuple[str, Any]] = []
    for f in struct_fields(type(obj)).values():
        value = getattr(obj, f.name)
        if f.default is not msgspec.NODEFAULT:
            default = f.default
        elif f.default_factory is not msgspec.NODEFAULT:
            default = f.default_factory()
        else:
            out.append((f.encode_name, value))
            continue
        if value == default and type(value) is type(default):
            continue
        if value is None:
            raise ValueError(f"cannot express `{f.name} = None` in TOML (its default is {default!r})")
        out.append((f.encode_name, value))
    return out


def _table(obj: msgspec.Struct, path: tuple[str, ...], lines: list[str], *, top: bool = False) -> None:
    """Write ``obj``'s changed fields; ``path`` names the table (empty for the root)."""
    in_array = len(path) == 1 and path[0] in _ARRAYS
    scalars: list[tuple[str, Any]] = []
    sub_tables: list[tuple[str, msgspec.Struct]] = []
    arrays: list[tuple[str, list[msgspec.Struct]]] = []
    for name, value in _changed(obj):
        if isinstance(value, msgspec.Struct) and not in_array:
            sub_tables.append((name, value))
        elif top and isinstance(value, list) and value and all(isinstance(v, msgspec.Struct) for v in value):
            arrays.append((name, value))
        else:
            scalars.append((name, value))
    if path and (scalars or in_array):
        lines.append(f"[[{path[0]}]]" if in_array else "[" + ".".join(_key(p) for p in path) + "]")
    lines += [f"{_key(name)} = {_value(value)}" for name, value in scalars]
    if scalars or in_array:
        lines.append("")
    for name, value in sub_tables:
        _table(value, (*path, name), lines)
    for name, items in arrays:
        for item in items:
            _table(item, (name,), lines)


# Top-level lists of structs, written as ``[[name]]`` arrays of tables.
_ARRAYS = frozenset(f.encode_name for f in msgspec.structs.fields(Config) if f.encode_name != "listen" and "list[" in str(f.type))


def _key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else _string(name)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Decimal):
        return _string(str(value))
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, msgspec.Struct):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in _changed(value)) + " }" if _changed(value) else "{}"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_key(str(k))} = {_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        if value and all(isinstance(v, msgspec.Struct) for v in value):
            return "[\n" + "".join(f"  {_value(v)},\n" for v in value) + "]"
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot emit {type(value).__name__} as TOML")


def _string(text: str) -> str:
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)
