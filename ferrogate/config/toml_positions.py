"""Where each key of a TOML document was written.

``tomllib`` returns plain values without positions, but config errors must point at
``file:line:column``. This scanner walks the (already syntax-checked) text once and
records the position of every key, table header and array element under the same
path the data tree uses: ``[[models]]`` / ``[[models.fallbacks]]`` headers get array
indexes, dotted keys and inline tables nest, array elements get their index.
It is deliberately lenient: tomllib has already rejected invalid syntax.
"""

from __future__ import annotations

import bisect
import re

from ferrogate.config.diagnostics import ModelPath, SourceMap

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}


def scan_toml_positions(text: str, file: str) -> SourceMap:
    smap = SourceMap(file)
    _Scanner(text, smap).run()
    return smap


class _Scanner:
    __slots__ = ("_aot", "_line_starts", "i", "smap", "text")

    def __init__(self, text: str, smap: SourceMap) -> None:
        self.text = text
        self.smap = smap
        self.i = 0
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self._aot: dict[ModelPath, int] = {}

    # ------------------------------------------------------------------ helpers

    def _mark(self, path: ModelPath, at: int) -> None:
        line = bisect.bisect_right(self._line_starts, at)
        self.smap.add(path, line, at - self._line_starts[line - 1] + 1)

    def _peek(self, s: str) -> bool:
        return self.text.startswith(s, self.i)

    def _skip_inline_ws(self) -> None:
        while self.i < len(self.text) and self.text[self.i] in " \t":
            self.i += 1

    def _skip_all(self) -> None:
        """Skip whitespace, newlines and comments."""
        n = len(self.text)
        while self.i < n:
            c = self.text[self.i]
            if c in " \t\r\n":
                self.i += 1
            elif c == "#":
                end = self.text.find("\n", self.i)
                self.i = n if end < 0 else end
            else:
                return

    # ------------------------------------------------------------------ document

    def run(self) -> None:
        current: ModelPath = ()
        n = len(self.text)
        while True:
            self._skip_all()
            if self.i >= n:
                return
            if self._peek("[["):
                self.i += 2
                current = self._header(is_array=True)
            elif self._peek("["):
                self.i += 1
                current = self._header(is_array=False)
            else:
                self._key_value(current)
            end = self.text.find("\n", self.i)
            self.i = n if end < 0 else end

    def _header(self, *, is_array: bool) -> ModelPath:
        self._skip_inline_ws()
        parts = self._key()
        path: ModelPath = ()
        for j, (name, at) in enumerate(parts):
            path = (*path, name)
            last = j == len(parts) - 1
            if last and is_array:
                count = self._aot.get(path, 0)
                self._aot[path] = count + 1
                self._mark(path, at)
                path = (*path, count)
            elif path in self._aot:
                path = (*path, self._aot[path] - 1)
            self._mark(path, at)
        return path

    def _key(self) -> list[tuple[str, int]]:
        parts: list[tuple[str, int]] = []
        while True:
            self._skip_inline_ws()
            at = self.i
            if self._peek('"'):
                parts.append((self._basic_string(), at))
            elif self._peek("'"):
                end = self.text.find("'", self.i + 1)
                parts.append((self.text[self.i + 1 : end], at))
                self.i = end + 1
            else:
                m = _BARE.match(self.text, self.i)
                if m is None:
                    return parts
                parts.append((m.group(), at))
                self.i = m.end()
            self._skip_inline_ws()
            if not self._peek("."):
                return parts
            self.i += 1

    def _key_value(self, base: ModelPath) -> None:
        parts = self._key()
        path = base
        for name, at in parts:
            path = (*path, name)
            self._mark(path, at)
        self._skip_inline_ws()
        if self._peek("="):
            self.i += 1
            self._skip_inline_ws()
            self._value(path)

    # ------------------------------------------------------------------ values

    def _value(self, path: ModelPath) -> None:
        text = self.text
        if self._peek('"""') or self._peek("'''"):
            quote = text[self.i : self.i + 3]
            j = self.i + 3
            while True:
                k = text.find(quote, j)
                if k < 0:
                    self.i = len(text)
                    return
                if quote == '"""' and _escaped(text, k):
                    j = k + 1
                    continue
                self.i = k + 3
                while self._peek(quote[0]):
                    self.i += 1
                return
        if self._peek('"'):
            self._basic_string()
        elif self._peek("'"):
            end = text.find("'", self.i + 1)
            self.i = len(text) if end < 0 else end + 1
        elif self._peek("["):
            self._array(path)
        elif self._peek("{"):
            self._inline_table(path)
        else:
            m = re.compile(r"[^,\]}\n#]*").match(text, self.i)
            assert m is not None
            self.i = m.end()

    def _array(self, path: ModelPath) -> None:
        self.i += 1
        index = 0
        while True:
            self._skip_all()
            if self.i >= len(self.text) or self._peek("]"):
                self.i += 1
                return
            self._mark((*path, index), self.i)
            self._value((*path, index))
            self._skip_all()
            if self._peek(","):
                self.i += 1
                index += 1

    def _inline_table(self, path: ModelPath) -> None:
        self.i += 1
        while True:
            self._skip_all()
            if self.i >= len(self.text) or self._peek("}"):
                self.i += 1
                return
            before = self.i
            self._key_value(path)
            self._skip_all()
            if self._peek(",") or self.i == before:
                self.i += 1

    def _basic_string(self) -> str:
        """Consume a "basic" string starting at the quote; return its decoded value."""
        text = self.text
        out: list[str] = []
        j = self.i + 1
        while j < len(text) and text[j] != '"':
            if text[j] == "\\" and j + 1 < len(text):
                nxt = text[j + 1]
                if nxt in _ESCAPES:
                    out.append(_ESCAPES[nxt])
                    j += 2
                    continue
                if nxt in "uU":
                    width = 4 if nxt == "u" else 8
                    try:
                        out.append(chr(int(text[j + 2 : j + 2 + width], 16)))
                    except ValueError:
                        pass
                    j += 2 + width
                    continue
            out.append(text[j])
            j += 1
        self.i = j + 1
        return "".join(out)


def _escaped(text: str, k: int) -> bool:
    backslashes = 0
    while k - 1 - backslashes >= 0 and text[k - 1 - backslashes] == "\\":
        backslashes += 1
    return backslashes % 2 == 1
