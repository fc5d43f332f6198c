"""A value valid for a JSON schema, made up deterministically for the offline mock.

Agents and structured-output code (the SDKs' ``parse`` helpers, pydantic models) check
what the model returns against the schema they sent, so the mock's tool arguments and
``json_schema`` answers must validate. Covered: ``type`` (and type lists), ``const``,
``enum``, ``default``, ``properties``/``required``/``minProperties``, ``items``/
``prefixItems``/``minItems``/``maxItems``/``uniqueItems``, string ``minLength``/
``maxLength``/``pattern``/``format``, number bounds (exclusive too) and ``multipleOf``,
``anyOf``/``oneOf``/``allOf``, and local ``$ref`` (``#/$defs/...``, ``#/definitions/...``)
as pydantic writes them. Anything else is ignored, never an error: the mock answers.
"""

from __future__ import annotations

import importlib
import math
import re
from typing import Any

# The stdlib's own regex parser (what ``re.compile`` uses): a pattern's shape, to build a match.
sre: Any = importlib.import_module("re._parser")

_MAX_DEPTH = 12
_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00Z",
    "duration": "P1D",
    "email": "mock@example.com",
    "idn-email": "mock@example.com",
    "hostname": "example.com",
    "idn-hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "uri": "https://example.com/mock",
    "iri": "https://example.com/mock",
    "uri-reference": "/mock",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "json-pointer": "/mock",
    "regex": "mock",
}


def value_for(schema: Any) -> Any:
    """A value that ``schema`` accepts (``schema`` is the root: its ``$defs`` resolve ``$ref``)."""
    return _Maker(schema).make(schema, 0, 0)


class _Maker:
    """Holds the root schema so that ``$ref`` pointers resolve against it."""

    __slots__ = ("_root",)

    def __init__(self, root: Any) -> None:
        self._root = root

    def make(self, schema: Any, depth: int, variant: int) -> Any:
        """``variant`` picks a different value for each item of a ``uniqueItems`` array."""
        if schema is True or schema == {}:
            return "mock" if variant == 0 else f"mock{variant}"
        if not isinstance(schema, dict) or depth > _MAX_DEPTH:
            return None
        schema = self._flatten(schema, depth)
        if "const" in schema:
            return schema["const"]
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            return enum[variant % len(enum)]
        if "default" in schema and variant == 0:
            return schema["default"]
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                return self.make(_pick(options, deep=depth > _MAX_DEPTH // 2), depth + 1, variant)
        kind = _kind(schema)
        if kind == "object":
            return self._object(schema, depth, variant)
        if kind == "array":
            return self._array(schema, depth, variant)
        if kind == "string":
            return _string(schema, variant)
        if kind == "integer":
            return _number(schema, variant, integer=True)
        if kind == "number":
            return _number(schema, variant, integer=False)
        if kind == "boolean":
            return variant % 2 == 0
        if kind == "null":
            return None
        return "mock" if variant == 0 else f"mock{variant}"

    def _flatten(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        """Resolve ``$ref`` and merge ``allOf`` into one schema (later keys add to earlier)."""
        ref = schema.get("$ref")
        if isinstance(ref, str):
            target = self._resolve(ref)
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            if isinstance(target, dict) and depth <= _MAX_DEPTH:
                schema = _merge(self._flatten(target, depth + 1), rest)
        parts = schema.get("allOf")
        if isinstance(parts, list) and parts:
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            for part in parts:
                if isinstance(part, dict):
                    merged = _merge(merged, self._flatten(part, depth + 1))
            schema = merged
        return schema

    def _resolve(self, ref: str) -> Any:
        if not ref.startswith("#"):
            return None
        node = self._root
        for raw in ref[1:].split("/")[1:]:
            key = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict):
                node = node.get(key)
            elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
                node = node[int(key)]
            else:
                return None
        return node

    def _object(self, schema: dict[str, Any], depth: int, variant: int) -> dict[str, Any]:
        props = schema.get("properties")
        props = props if isinstance(props, dict) else {}
        required = [n for n in schema.get("required") or () if isinstance(n, str)]
        names = required or list(props)
        wanted = int(schema.get("minProperties") or 0)
        for extra in props:
            if len(names) >= wanted:
                break
            if extra not in names:
                names.append(extra)
        out = {name: self.make(props.get(name, True), depth + 1, variant) for name in names}
        filler = schema.get("additionalProperties", True)
        while len(out) < wanted and filler is not False:
            out[f"mock{len(out)}"] = self.make(filler, depth + 1, variant)
        return out

    def _array(self, schema: dict[str, Any], depth: int, variant: int) -> list[Any]:
        prefix = schema.get("prefixItems")
        prefix = prefix if isinstance(prefix, list) else []
        items = schema.get("items", True)
        low = int(schema.get("minItems") or 0)
        high = schema.get("maxItems")
        # A model lists at least one item; deep in a recursive schema, no more than it must.
        count = max(low, len(prefix), 0 if depth > _MAX_DEPTH // 2 else 1)
        if isinstance(high, int):
            count = min(count, high)
        if items is False:
            count = min(count, len(prefix))
        unique = bool(schema.get("uniqueItems"))
        out = []
        for i in range(count):
            item_schema = prefix[i] if i < len(prefix) else items
            out.append(self.make(item_schema, depth + 1, i + variant if unique else variant))
        return out


def _kind(schema: dict[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if isinstance(k, str)]
        return next((k for k in kinds if k != "null"), "null" if kinds else None)
    if isinstance(kind, str):
        return kind
    if "properties" in schema or "required" in schema or "additionalProperties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    if any(k in schema for k in ("minLength", "maxLength", "pattern", "format")):
        return "string"
    if any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")):
        return "number"
    return None


def _pick(options: list[Any], *, deep: bool) -> Any:
    """``Optional[X]`` comes as ``anyOf: [X, null]``: a model fills the field, so the mock does;
    deep in a recursive schema, null ends the recursion."""
    for option in options:
        if (isinstance(option, dict) and option.get("type") == "null") == deep:
            return option
    return options[0]


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if key == "properties" and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        elif key == "required" and isinstance(value, list) and isinstance(out.get(key), list):
            out[key] = list(dict.fromkeys([*out[key], *value]))
        else:
            out[key] = value
    return out


def _string(schema: dict[str, Any], variant: int) -> str:
    low = int(schema.get("minLength") or 0)
    high = schema.get("maxLength")
    pattern = schema.get("pattern")
    fmt = schema.get("format")
    if isinstance(pattern, str):
        text = _matching(pattern, variant)
    elif isinstance(fmt, str) and fmt in _FORMATS and variant == 0:
        return _FORMATS[fmt]
    else:
        text = "mock" if variant == 0 else f"mock{variant}"
    if len(text) < low:
        text += "x" * (low - len(text))
    if isinstance(high, int) and len(text) > high:
        suffix = str(variant) if variant else ""
        text = (text[: max(0, high - len(suffix))] + suffix)[:high]
    return text


def _matching(pattern: str, variant: int) -> str:
    """A string the (search-semantics) ``pattern`` matches, built from its parsed shape."""
    try:
        text = _build(sre.parse(pattern), variant)
    except (re.error, ValueError, TypeError, IndexError, RecursionError):
        return "mock"
    try:
        ok = re.search(pattern, text) is not None
    except re.error:
        ok = False
    return text if ok else "mock"


_CATEGORY_CHAR = {
    sre.CATEGORY_DIGIT: "0",
    sre.CATEGORY_NOT_DIGIT: "a",
    sre.CATEGORY_WORD: "a",
    sre.CATEGORY_NOT_WORD: "-",
    sre.CATEGORY_SPACE: " ",
    sre.CATEGORY_NOT_SPACE: "a",
}


def _build(parsed: Any, variant: int) -> str:
    out = []
    for op, arg in parsed:
        if op is sre.LITERAL:
            out.append(chr(arg))
        elif op is sre.NOT_LITERAL:
            out.append("a" if chr(arg) != "a" else "b")
        elif op is sre.ANY:
            out.append("a")
        elif op is sre.IN:
            out.append(_in_set(arg, variant))
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            low, high, sub = arg
            count = max(low, 1) if high >= 1 else 0
            out.append("".join(_build(sub, variant) for _ in range(count)))
        elif op is sre.SUBPATTERN:
            out.append(_build(arg[-1], variant))
        elif op is sre.ATOMIC_GROUP:
            out.append(_build(arg, variant))
        elif op is sre.BRANCH:
            out.append(_build(arg[1][0], variant))
        elif op is sre.CATEGORY:
            out.append(_CATEGORY_CHAR.get(arg, "a"))
        elif op is sre.AT or op in (sre.ASSERT, sre.ASSERT_NOT):
            continue
        else:
            raise ValueError(f"unsupported regex node {op}")
    return "".join(out)


def _in_set(items: list[tuple[Any, Any]], variant: int) -> str:
    if items and items[0][0] is sre.NEGATE:
        excluded = items[1:]
        for candidate in "a0-_ A":
            if not any(_set_has(op, arg, candidate) for op, arg in excluded):
                return candidate
        raise ValueError("negated set excludes every candidate")
    choices: list[str] = []
    for op, arg in items:
        if op is sre.LITERAL:
            choices.append(chr(arg))
        elif op is sre.RANGE:
            choices.append(chr(arg[0]))
        elif op is sre.CATEGORY:
            choices.append(_CATEGORY_CHAR.get(arg, "a"))
    if not choices:
        raise ValueError("empty character set")
    return choices[variant % len(choices)]


def _set_has(op: Any, arg: Any, ch: str) -> bool:
    if op is sre.LITERAL:
        return chr(arg) == ch
    if op is sre.RANGE:
        return bool(arg[0] <= ord(ch) <= arg[1])
    if op is sre.CATEGORY:
        return {
            sre.CATEGORY_DIGIT: ch.isdigit(),
            sre.CATEGORY_NOT_DIGIT: not ch.isdigit(),
            sre.CATEGORY_WORD: ch.isalnum() or ch == "_",
            sre.CATEGORY_NOT_WORD: not (ch.isalnum() or ch == "_"),
            sre.CATEGORY_SPACE: ch.isspace(),
            sre.CATEGORY_NOT_SPACE: not ch.isspace(),
        }.get(arg, False)
    return False


def _number(schema: dict[str, Any], variant: int, *, integer: bool) -> int | float:
    """The smallest value >= 1 (+ variant) inside the bounds, on ``multipleOf``'s grid."""
    lo, lo_open = _bound(schema, "minimum", "exclusiveMinimum")
    hi, hi_open = _bound(schema, "maximum", "exclusiveMaximum")
    step = schema.get("multipleOf")
    step = step if isinstance(step, (int, float)) and not isinstance(step, bool) and step > 0 else None
    if integer:
        step = step if step is not None and float(step).is_integer() else 1
    start: float = 1 + variant if lo is None else lo + variant
    if hi is not None and start > hi:
        start = hi
    if step is not None:
        value = math.ceil(start / step) * step
        if lo_open and lo is not None and value <= lo:
            value += step
        if hi is not None and (value > hi or (hi_open and value >= hi)):
            value = math.floor(hi / step) * step
            if hi_open and value >= hi:
                value -= step
    else:
        value = start
        if lo_open and lo is not None and value <= lo:
            value = lo + 1 if hi is None or lo + 1 < hi else (lo + hi) / 2
        if hi_open and hi is not None and value >= hi:
            value = hi - 1 if lo is None or hi - 1 > lo else (lo + hi) / 2
    return int(value) if integer else float(value)


def _bound(schema: dict[str, Any], inclusive: str, exclusive: str) -> tuple[float | None, bool]:
    """A bound and whether it is open; draft-4's boolean ``exclusiveMinimum`` too."""
    exc = schema.get(exclusive)
    inc = schema.get(inclusive)
    if isinstance(exc, (int, float)) and not isinstance(exc, bool):
        if isinstance(inc, (int, float)) and not isinstance(inc, bool):
            tighter = max(inc, exc) if inclusive == "minimum" else min(inc, exc)
            return float(tighter), tighter == exc
        return float(exc), True
    if isinstance(inc, (int, float)) and not isinstance(inc, bool):
        return float(inc), exc is True
    return None, False
