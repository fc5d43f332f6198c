"""Plain data tree -> :class:`Config`, reporting every type error with its source position.

Both front ends build a tree of dicts/lists/scalars plus a :class:`SourceMap`, then
call :func:`convert_config`. ``msgspec.convert`` stops at the first error, so the
tree is first walked field by field against the model's struct types: unknown and
missing keys are reported for every table, and each leaf is converted on its own,
so one run reports all problems. Only when the walk found nothing is the whole
tree converted in one call (which then cannot fail for a reason not yet reported).
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from typing import Any, Union

import msgspec

from ferrogate.config.diagnostics import Diagnostic, ModelPath, SourceMap, format_path
from ferrogate.config.fields import struct_fields
from ferrogate.config.model import Config

_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[\.\.\.\]")


def convert_config(data: dict[str, Any], smap: SourceMap) -> tuple[Config | None, list[Diagnostic]]:
    """Convert a plain tree into a Config; on any problem return ``None`` and all diagnostics."""
    out: list[Diagnostic] = []
    _check_struct(data, Config, (), smap, out)
    if out:
        return None, out
    try:
        return msgspec.convert(data, Config), []
    except msgspec.ValidationError as exc:  # pragma: no cover - the walk should have caught it
        return None, [_diagnostic_from(exc, Config, (), smap)]


def _struct_of(tp: Any) -> type[msgspec.Struct] | None:
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return tp
    if _is_union(tp):
        structs = [a for a in typing.get_args(tp) if isinstance(a, type) and issubclass(a, msgspec.Struct)]
        if len(structs) == 1:
            return structs[0]
    return None


def _is_union(tp: Any) -> bool:
    origin = typing.get_origin(tp)
    return origin is Union or origin is types.UnionType


def _list_item_of(tp: Any) -> Any | None:
    if _is_union(tp):
        lists = [a for a in typing.get_args(tp) if typing.get_origin(a) is list]
        if len(lists) != 1:
            return None
        tp = lists[0]
    if typing.get_origin(tp) is list:
        return typing.get_args(tp)[0]
    return None


def _check(value: Any, tp: Any, path: ModelPath, smap: SourceMap, out: list[Diagnostic]) -> None:
    struct = _struct_of(tp)
    if struct is not None and isinstance(value, dict):
        _check_struct(value, struct, path, smap, out)
        return
    item = _list_item_of(tp)
    if item is not None and _struct_of(item) is not None and isinstance(value, list):
        for i, element in enumerate(value):
            _check(element, item, (*path, i), smap, out)
        return
    try:
        msgspec.convert(value, tp)
    except msgspec.ValidationError as exc:
        out.append(_diagnostic_from(exc, tp, path, smap))


def _check_struct(
    data: dict[str, Any], struct: type[msgspec.Struct], path: ModelPath, smap: SourceMap, out: list[Diagnostic]
) -> None:
    fields = struct_fields(struct)
    where = format_path(path) if path else "the top level"
    for key in data:
        if key not in fields:
            hint = difflib.get_close_matches(key, list(fields), n=1)
            suggestion = f" (did you mean `{hint[0]}`?)" if hint else ""
            out.append(smap.diagnostic((*path, key), f"unknown key `{key}` in {where}{suggestion}"))
    for name, info in fields.items():
        if info.required and name not in data:
            out.append(smap.diagnostic(path, f"missing required key `{name}` in {where}"))
    for key, value in data.items():
        if key in fields:
            _check(value, fields[key].type, (*path, key), smap, out)


def _diagnostic_from(exc: msgspec.ValidationError, tp: Any, path: ModelPath, smap: SourceMap) -> Diagnostic:
    match = _AT.match(str(exc))
    assert match is not None
    message = match.group("msg")
    sub: list[str | int] = []
    for part in _PART.finditer(match.group("path") or ""):
        if part.group(1) is not None:
            sub.append(part.group(1))
        elif part.group(2) is not None:
            sub.append(int(part.group(2)))
        else:
            break
    full = (*path, *sub)
    leaf = _leaf_type(tp, sub)
    if message.startswith("Invalid enum value") and typing.get_origin(leaf) is typing.Literal:
        choices = ", ".join(str(c) for c in typing.get_args(leaf))
        message = f"{message.replace('Invalid enum value', 'invalid value')}; expected one of: {choices}"
    elif message.startswith("Expected"):
        message = "expected" + message[len("Expected") :]
    return smap.diagnostic(full, f"{format_path(full)}: {message}")


def _leaf_type(tp: Any, sub: list[str | int]) -> Any:
    for part in sub:
        if _is_union(tp):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return None
            tp = args[0]
        struct = _struct_of(tp)
        if struct is not None and isinstance(part, str):
            info = struct_fields(struct).get(part)
            tp = None if info is None else info.type
        elif typing.get_origin(tp) is list and isinstance(part, int):
            tp = typing.get_args(tp)[0]
        else:
            return None
    if _is_union(tp):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp
