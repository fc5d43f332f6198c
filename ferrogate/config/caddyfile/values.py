"""Shared state and value parsing for the Caddyfile adapter.

The adapter builds the same plain tree the TOML front end gets from ``tomllib``
(dicts, lists, scalars) and records each entry's source position, so type checks
and cross-reference checks report Caddyfile positions too. :class:`Builder`
carries that tree, the source map and the diagnostics; :meth:`Builder.fill_struct`
maps a block of ``key value...`` lines onto a model struct using the struct's field
types (the subdirective names are the TOML key names).
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Union

import msgspec

from ferrogate.config.caddyfile.lexer import Token
from ferrogate.config.caddyfile.parser import Segment
from ferrogate.config.diagnostics import Diagnostic, ModelPath, SourceMap
from ferrogate.config.fields import struct_fields

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d)")
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?$", re.I)
_SIZE_UNITS = {
    "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4,
    "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3, "TIB": 1024**4,
}  # fmt: skip
_UNIT_SECS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_ENV_REF = re.compile(r"\{env\.([A-Za-z_][A-Za-z0-9_]*)\}")
_TRUE = {"true", "on", "yes"}
# Fields whose value is free text: the rest of the line is the value, as Caddy reads
# `respond` bodies and header values (`openrouter_x_title Example FerroGate`).
FREE_TEXT_FIELDS = frozenset(("openrouter_x_title", "openrouter_http_referer", "message", "reply", "name"))
_FALSE = {"false", "off", "no"}

Special = Callable[[Segment, dict[str, Any], ModelPath], None]


class AdaptError(Exception):
    """Raised by a directive handler; the adapter records it and moves on to the next directive."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(str(diagnostic))
        self.diagnostic = diagnostic


def fail(tok: Token, message: str) -> AdaptError:
    return AdaptError(tok.diagnostic(message))


def parse_duration(text: str) -> float | None:
    """Go/Caddy style durations (``30s``, ``1h30m``, ``250ms``, ``2d``) or plain seconds."""
    try:
        return float(text)
    except ValueError:
        pass
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _UNIT_SECS[m.group(2)]
        pos = m.end()
    return total if pos == len(text) and pos > 0 else None


def _in_field_unit(raw: str, field: str, tok: Token) -> float:
    """A ``_secs`` / ``_ms`` value in the key's own unit: a bare number is already in it
    (``latency_ms 5`` is 5 ms, as in TOML), a duration (``250ms``, ``2s``) is converted."""
    try:
        return float(raw)
    except ValueError:
        pass
    secs = parse_duration(raw)
    if secs is None:
        raise fail(tok, f"{field}: `{tok.shown}` is not a duration (e.g. 30s, 5m, 1h30m)")
    return secs * 1000 if field.endswith("_ms") else secs


def parse_size(text: str) -> int | None:
    """Byte sizes as Caddy reads them: ``32KB`` = 32000, ``32KiB`` = 32768, plain = bytes."""
    m = _SIZE.match(text.strip())
    if not m:
        return None
    unit = (m.group(2) or "B").upper()
    return int(float(m.group(1)) * _SIZE_UNITS[unit])


def _strip_optional(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin is Union or origin is types.UnionType:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _is_struct(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


class Builder:
    """The tree under construction plus positions, diagnostics and warnings."""

    def __init__(self, file: str, env: Mapping[str, str]) -> None:
        self.tree: dict[str, Any] = {}
        self.smap = SourceMap(file)
        self.env = env
        self.errors: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []

    # ------------------------------------------------------------------ bookkeeping

    def mark(self, path: ModelPath, tok: Token) -> None:
        self.smap.add(path, tok.line, tok.column, tok.file)

    def warn(self, tok: Token, message: str) -> None:
        self.warnings.append(tok.diagnostic(message))

    def section(self, name: str, tok: Token) -> dict[str, Any]:
        """A top-level table (``admin``, ``limits``...), created on first use."""
        self.mark((name,), tok)
        return typing.cast(dict[str, Any], self.tree.setdefault(name, {}))

    def append(self, name: str, item: dict[str, Any], tok: Token) -> tuple[int, ModelPath]:
        """Append to a top-level array of tables; return the index and the item's path."""
        items = self.tree.setdefault(name, [])
        items.append(item)
        path = (name, len(items) - 1)
        self.mark((name,), tok)
        self.mark(path, tok)
        return len(items) - 1, path

    # ------------------------------------------------------------------ scalar values

    def text(self, tok: Token) -> str:
        """A token's text with ``{env.NAME}`` resolved now; a missing variable is an error."""
        if "{env." not in tok.text:
            return tok.text

        def replace(m: re.Match[str]) -> str:
            value = self.env.get(m.group(1))
            if value is None:
                raise fail(tok, f"environment variable `{m.group(1)}` is not set")
            return value

        return _ENV_REF.sub(replace, tok.text)

    def text_keeping_env(self, tok: Token) -> str:
        """A token's text with ``{env.NAME}`` kept as written (checked to exist now): for
        values resolved again at run time, such as header values, so a secret never
        enters the model or ``adapt`` output."""
        for m in _ENV_REF.finditer(tok.text):
            if m.group(1) not in self.env:
                raise fail(tok, f"environment variable `{m.group(1)}` is not set")
        return tok.text

    @staticmethod
    def env_ref(tok: Token) -> str | None:
        """``NAME`` when the token is exactly ``{env.NAME}`` (used to keep secrets out of the model)."""
        m = _ENV_REF.fullmatch(tok.text)
        return m.group(1) if m else None

    def secret(self, tok: Token, target: dict[str, Any], literal_key: str, env_key: str, path: ModelPath) -> None:
        """Store ``{env.NAME}`` as a reference (``env_key``), anything else as a literal."""
        name = self.env_ref(tok)
        if name is not None:
            if name not in self.env:
                raise fail(tok, f"environment variable `{name}` is not set")
            target[env_key] = name
            self.mark((*path, env_key), tok)
        else:
            target[literal_key] = self.text(tok)
            self.mark((*path, literal_key), tok)

    def one_arg(self, seg: Segment) -> Token:
        if len(seg.args) != 1:
            raise fail(seg.name, f"`{seg.name.shown}` takes exactly one value, got {len(seg.args)}")
        return seg.args[0]

    def no_block(self, seg: Segment) -> None:
        if seg.block is not None:
            assert seg.open_token is not None
            raise fail(seg.open_token, f"`{seg.name.shown}` does not take a block")

    def scalar(self, tp: Any, tok: Token, field: str) -> Any:
        """Convert one token to a field's type; field-name suffixes pick the unit."""
        tp = _strip_optional(tp)
        raw = self.text(tok)
        if tp is bool:
            low = raw.lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise fail(tok, f"{field}: `{tok.shown}` is not a boolean (true/false, on/off)")
        if tp is int:
            if field.endswith("_bytes"):
                size = parse_size(raw)
                if size is None:
                    raise fail(tok, f"{field}: `{tok.shown}` is not a size (e.g. 32KB, 10MiB)")
                return size
            if field.endswith(("_secs", "_ms")):
                value = _in_field_unit(raw, field, tok)
                if value != int(value):
                    raise fail(tok, f"{field}: `{tok.shown}` must be a whole number of {'milliseconds' if field.endswith('_ms') else 'seconds'}")
                return int(value)
            try:
                return int(raw)
            except ValueError:
                raise fail(tok, f"{field}: `{tok.shown}` is not an integer") from None
        if tp is float:
            if field.endswith(("_secs", "_ms")):
                return _in_field_unit(raw, field, tok)
            try:
                return float(raw)
            except ValueError:
                raise fail(tok, f"{field}: `{tok.shown}` is not a number") from None
        if tp is Decimal:
            try:
                Decimal(raw)
            except InvalidOperation:
                raise fail(tok, f"{field}: `{tok.shown}` is not a decimal number") from None
            return raw
        return raw  # str and Literal[...] (checked with a position by the converter)

    # ------------------------------------------------------------------ struct blocks

    def fill_struct(
        self,
        struct: type[msgspec.Struct],
        segments: list[Segment],
        target: dict[str, Any],
        path: ModelPath,
        context: str,
        special: Mapping[str, Special] | None = None,
    ) -> None:
        """Map ``key value...`` lines onto ``struct``'s fields; errors are collected per line."""
        fields = {name: f.type for name, f in struct_fields(struct).items()}
        for seg in segments:
            name = seg.name.text
            try:
                if special and name in special:
                    special[name](seg, target, path)
                    continue
                if name not in fields:
                    known = list(fields) + list(special or ())
                    hint = difflib.get_close_matches(name, known, n=1)
                    suggestion = f" (did you mean `{hint[0]}`?)" if hint else ""
                    raise fail(seg.name, f"unknown subdirective `{name}` in {context}{suggestion}")
                self.mark((*path, name), seg.name)
                target[name] = self.field_value(fields[name], seg, (*path, name), target.get(name))
            except AdaptError as exc:
                self.errors.append(exc.diagnostic)

    def field_value(self, tp: Any, seg: Segment, path: ModelPath, existing: Any) -> Any:
        field = str(path[-1])
        tp = _strip_optional(tp)
        if _is_struct(tp):
            if seg.args:
                raise fail(seg.args[0], f"`{field}` takes a block, not arguments")
            sub: dict[str, Any] = existing if isinstance(existing, dict) else {}
            self.fill_struct(tp, seg.block or [], sub, path, field)
            return sub
        origin = typing.get_origin(tp)
        if origin is dict:
            mapping: dict[str, Any] = existing if isinstance(existing, dict) else {}
            pairs = ([seg.args] if seg.args else []) + [line.tokens for line in seg.block or []]
            for toks in pairs:
                if len(toks) != 2:
                    raise fail(toks[0], f"`{field}` entries are `NAME VALUE` pairs")
                mapping[self.text(toks[0])] = self.text(toks[1])
                self.mark((*path, toks[0].text), toks[0])
            return mapping
        self.no_block(seg)
        if origin is list:
            (item_tp,) = typing.get_args(tp)
            if _is_struct(item_tp):
                raise fail(seg.name, f"`{field}` is not supported here")
            if not seg.args:
                raise fail(seg.name, f"`{field}` needs at least one value")
            items: list[Any] = existing if isinstance(existing, list) else []
            for tok in seg.args:
                self.mark((*path, len(items)), tok)
                items.append(self.scalar(item_tp, tok, field))
            return items
        if tp is bool and not seg.args:
            return True
        if tp is str and field in FREE_TEXT_FIELDS and len(seg.args) > 1:
            return " ".join(self.text(tok) for tok in seg.args)
        return self.scalar(tp, self.one_arg(seg), field)
