"""Caddyfile lexer: text -> tokens with file, line and column.

Follows Caddy's lexical rules: tokens are separated by whitespace; ``"double
quoted"`` tokens may contain whitespace and ``\\"`` (other backslashes are kept);
```backtick``` tokens are raw; outside quotes a backslash escapes the next
character and a backslash before a newline continues the line; ``#`` starts a
comment only at the start of a token; ``{`` and ``}`` are ordinary tokens that the
parser treats as block delimiters when they stand alone and unquoted.

Environment placeholders ``{$NAME}`` and ``{$NAME:default}`` are substituted here,
as Caddy does when it adapts the file. A missing variable without a default is a
diagnostic naming the variable (its value would never be printed anyway).
``{env.NAME}`` is left for the adapter, which resolves it at load time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ferrogate.config.diagnostics import Diagnostic

_ENV_PLACEHOLDER = re.compile(r"\{\$([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")


@dataclass(frozen=True, slots=True)
class Token:
    file: str
    line: int
    column: int
    text: str
    quoted: bool = False
    # Lines joined by a trailing backslash share one logical line (the parser groups by it).
    logical_line: int = 0
    # The text as written, when a {$NAME} placeholder was substituted: messages show this,
    # never the substituted value (which may be a secret).
    source: str | None = None

    @property
    def shown(self) -> str:
        return self.text if self.source is None else self.source

    @property
    def is_open(self) -> bool:
        return self.text == "{" and not self.quoted

    @property
    def is_close(self) -> bool:
        return self.text == "}" and not self.quoted

    def diagnostic(self, message: str) -> Diagnostic:
        return Diagnostic(self.file, self.line, self.column, message)


def tokenize(text: str, file: str, env: Mapping[str, str]) -> tuple[list[Token], list[Diagnostic]]:
    """Split ``text`` into tokens; return them with any lexical diagnostics."""
    lexer = _Lexer(text, file, env)
    lexer.run()
    return lexer.tokens, lexer.diagnostics


class _Lexer:
    def __init__(self, text: str, file: str, env: Mapping[str, str]) -> None:
        self.text = text.replace("\r\n", "\n")
        self.file = file
        self.env = env
        self.tokens: list[Token] = []
        self.diagnostics: list[Diagnostic] = []

    def run(self) -> None:
        text = self.text
        n = len(text)
        i = 0
        line, col = 1, 1
        logical = 1
        while i < n:
            ch = text[i]
            if ch == "\n":
                i, line, col, logical = i + 1, line + 1, 1, logical + 1
                continue
            if ch in " \t\r\f\v":
                i, col = i + 1, col + 1
                continue
            if ch == "\\" and i + 1 < n and text[i + 1] == "\n":
                i, line, col = i + 2, line + 1, 1  # line continuation: same logical line
                continue
            if ch == "#":
                end = text.find("\n", i)
                consumed = (n if end < 0 else end) - i
                i, col = i + consumed, col + consumed
                continue
            start_line, start_col = line, col
            if ch == '"' or ch == "`":
                value, i, line, col, ok = self._quoted(i, line, col, ch)
                if not ok:
                    self.diagnostics.append(
                        Diagnostic(self.file, start_line, start_col, f"unterminated {'quoted' if ch == chr(34) else 'backtick'} string")
                    )
                self._emit(start_line, start_col, value, True, logical)
                continue
            buf: list[str] = []
            escaped = False
            while i < n:
                ch = text[i]
                if ch in " \t\r\n\f\v":
                    break
                if ch == "\\" and i + 1 < n:
                    nxt = text[i + 1]
                    if nxt == "\n":
                        break
                    buf.append(nxt)
                    escaped = True
                    i, col = i + 2, col + 2
                    continue
                buf.append(ch)
                i, col = i + 1, col + 1
            # An escaped brace (\{) is text, never a block delimiter: mark it like a quoted token.
            self._emit(start_line, start_col, "".join(buf), escaped, logical)

    def _quoted(self, i: int, line: int, col: int, quote: str) -> tuple[str, int, int, int, bool]:
        text = self.text
        n = len(text)
        i, col = i + 1, col + 1
        buf: list[str] = []
        while i < n:
            ch = text[i]
            if quote == '"' and ch == "\\" and i + 1 < n and text[i + 1] in '"\\':
                # Caddy unescapes \" ; we also fold \\ so a literal backslash can end a string.
                buf.append(text[i + 1])
                i, col = i + 2, col + 2
                continue
            if ch == quote:
                return "".join(buf), i + 1, line, col + 1, True
            if ch == "\n":
                line, col = line + 1, 1
            else:
                col += 1
            buf.append(ch)
            i += 1
        return "".join(buf), i, line, col, False

    def _emit(self, line: int, col: int, value: str, quoted: bool, logical: int) -> None:
        source = None
        if "{$" in value:
            source, value = value, self._substitute(value, line, col)
        self.tokens.append(Token(self.file, line, col, value, quoted, logical, source))

    def _substitute(self, value: str, line: int, col: int) -> str:
        def replace(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            found = self.env.get(name)
            if found is not None:
                return found
            if default is not None:
                return default
            self.diagnostics.append(
                Diagnostic(self.file, line, col, f"environment variable `{name}` is not set (write {{${name}:default}} to give a default)")
            )
            return ""

        return _ENV_PLACEHOLDER.sub(replace, value)
