"""Config errors with source positions, shared by both front ends.

Every problem found while loading a config becomes a :class:`Diagnostic` that
points at ``file:line:column``. Loading collects all of them and raises one
:class:`ConfigError`, so an operator fixes a file in one pass instead of one
error per run. Messages name keys and environment variables, never secret values.

A :class:`SourceMap` remembers where each model path (``("models", 2,
"fallbacks", 0, "priority")``) came from, for TOML and the Caddyfile alike, so
that type checks and cross-reference checks can point at the offending entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

ModelPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Position:
    file: str
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Diagnostic:
    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class ConfigError(Exception):
    """One or more config problems; ``str()`` is one ``file:line:column: message`` per line."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics: list[Diagnostic] = list(diagnostics)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(d) for d in self.diagnostics)


def format_path(path: ModelPath) -> str:
    """``("models", 2, "fallbacks", 0, "priority")`` -> ``models[2].fallbacks[0].priority``."""
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        else:
            out.append(("." if out else "") + part)
    return "".join(out) or "(root)"


class SourceMap:
    """Model path -> where it was written. Lookups fall back to the nearest enclosing entry."""

    __slots__ = ("_positions", "file")

    def __init__(self, file: str) -> None:
        self.file = file
        self._positions: dict[ModelPath, Position] = {}

    def add(self, path: ModelPath, line: int, column: int, file: str | None = None) -> None:
        """Record the first place a path was written (later mentions do not move it)."""
        self._positions.setdefault(path, Position(file or self.file, line, column))

    def set(self, path: ModelPath, position: Position) -> None:
        self._positions[path] = position

    def get(self, path: ModelPath) -> Position | None:
        return self._positions.get(path)

    def position(self, path: ModelPath) -> Position:
        for end in range(len(path), -1, -1):
            found = self._positions.get(path[:end])
            if found is not None:
                return found
        return Position(self.file, 1, 1)

    def diagnostic(self, path: ModelPath, message: str) -> Diagnostic:
        pos = self.position(path)
        return Diagnostic(pos.file, pos.line, pos.column, message)

    def paths(self) -> Sequence[ModelPath]:
        return list(self._positions)
