"""header_up / header_down edits (set, add, delete), compiled once per route.

Names are lowercased bytes; values are :class:`Template`s. ``delete`` accepts a
trailing ``*`` to remove every header with that prefix (as Caddy's ``-Name*``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import IntEnum

from ferrogate._fastpath.api import Headers, Request
from ferrogate.config.model import HeaderOp
from ferrogate.proxy.placeholders import (
    ProxyConfigError,
    Template,
    Vars,
    compile_template,
    is_token,
)


class OpKind(IntEnum):
    SET = 0
    ADD = 1
    DELETE = 2
    DELETE_PREFIX = 3


# Members as module constants (attribute access on an Enum class is slow on 3.11).
_SET, _ADD, _DELETE, _DELETE_PREFIX = OpKind


class CompiledOp:
    __slots__ = ("kind", "name", "value")

    def __init__(self, kind: OpKind, name: bytes, value: Template | None) -> None:
        self.kind = kind
        self.name = name
        self.value = value


class HeaderOps:
    """An ordered list of edits; empty lists cost one truthiness check."""

    __slots__ = ("needs_upstream", "ops", "static")

    def __init__(self, ops: Sequence[CompiledOp]) -> None:
        self.ops = tuple(ops)
        self.static = all(op.value is None or op.value.static is not None for op in self.ops)
        self.needs_upstream = any(
            op.value is not None and op.value.needs_upstream for op in self.ops
        )

    def __bool__(self) -> bool:
        return bool(self.ops)

    def apply(self, headers: Headers, req: Request, v: Vars) -> Headers:
        """Apply every edit in order; returns the (possibly new) list."""
        for op in self.ops:
            kind = op.kind
            name = op.name
            if kind is _ADD:
                assert op.value is not None
                headers.append((name, op.value.render(req, v)))
            elif kind is _SET:
                assert op.value is not None
                value = op.value.render(req, v)
                headers = [h for h in headers if h[0] != name]
                headers.append((name, value))
            elif kind is _DELETE:
                headers = [h for h in headers if h[0] != name]
            else:
                headers = [h for h in headers if not h[0].startswith(name)]
        return headers

    def apply_static(self, headers: Headers) -> Headers:
        """Apply edits whose values need no request (``static`` is True)."""
        for op in self.ops:
            name = op.name
            if op.kind is _DELETE:
                headers = [h for h in headers if h[0] != name]
            elif op.kind is _DELETE_PREFIX:
                headers = [h for h in headers if not h[0].startswith(name)]
            else:
                assert op.value is not None and op.value.static is not None
                if op.kind is _SET:
                    headers = [h for h in headers if h[0] != name]
                headers.append((name, op.value.static))
        return headers


def compile_ops(ops: Sequence[HeaderOp], env: Mapping[str, str], *, where: str) -> HeaderOps:
    out: list[CompiledOp] = []
    for i, op in enumerate(ops):
        at = f"{where}[{i}] ({op.action} {op.name})"
        name = op.name
        prefix = op.action == "delete" and name.endswith("*")
        bare = name[:-1] if prefix else name
        if not bare or not is_token(bare):
            raise ProxyConfigError(f"{at}: invalid header name {name!r}")
        key = bare.lower().encode("ascii")
        if op.action == "delete":
            out.append(CompiledOp(_DELETE_PREFIX if prefix else _DELETE, key, None))
            continue
        template = compile_template(op.value, env, where=at)
        out.append(CompiledOp(_SET if op.action == "set" else _ADD, key, template))
    return HeaderOps(out)
