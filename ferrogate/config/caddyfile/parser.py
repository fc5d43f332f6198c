"""Caddyfile parser: tokens -> server blocks of segments (Caddy's structure).

A Caddyfile is an optional global options block (a block with no addresses,
first in the file) followed by server blocks: one or more addresses, then a
``{ ... }`` body (braces may be omitted when the file holds a single site).
A body is a list of *segments*: one logical line (a directive and its
arguments), optionally ending in ``{`` with a nested list of segments. The
adapter walks segments with :class:`Cursor`, the equivalent of Caddy's dispenser.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ferrogate.config.caddyfile.lexer import Token
from ferrogate.config.diagnostics import Diagnostic


@dataclass(slots=True)
class Segment:
    """One directive line: ``tokens[0]`` is the name, the rest its arguments."""

    tokens: list[Token]
    block: list[Segment] | None = None
    open_token: Token | None = None

    @property
    def name(self) -> Token:
        return self.tokens[0]

    @property
    def args(self) -> list[Token]:
        return self.tokens[1:]

    def cursor(self) -> Cursor:
        return Cursor(self)


@dataclass(slots=True)
class ServerBlock:
    start: Token
    keys: list[Token]
    segments: list[Segment] = field(default_factory=list)
    is_global: bool = False


class Cursor:
    """Walks a segment's arguments; errors point at the token (or the directive) concerned."""

    __slots__ = ("_i", "segment")

    def __init__(self, segment: Segment) -> None:
        self.segment = segment
        self._i = 1

    def peek(self) -> Token | None:
        toks = self.segment.tokens
        return toks[self._i] if self._i < len(toks) else None

    def next(self) -> Token | None:
        tok = self.peek()
        if tok is not None:
            self._i += 1
        return tok

    def rest(self) -> list[Token]:
        out = self.segment.tokens[self._i :]
        self._i = len(self.segment.tokens)
        return out

    @property
    def remaining(self) -> int:
        return len(self.segment.tokens) - self._i


class ParseError(Exception):
    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(str(diagnostic))
        self.diagnostic = diagnostic


def parse_tokens(tokens: list[Token]) -> tuple[list[ServerBlock], list[Diagnostic]]:
    """Group tokens into server blocks; structural errors (braces, addresses) are diagnostics."""
    parser = _Parser(tokens)
    try:
        blocks = parser.run()
    except ParseError as exc:
        return [], [exc.diagnostic]
    return blocks, []


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.toks = tokens
        self.i = 0

    def _peek(self) -> Token | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def run(self) -> list[ServerBlock]:
        blocks: list[ServerBlock] = []
        first = self._peek()
        if first is not None and first.is_open:
            self.i += 1
            blocks.append(ServerBlock(first, [], self._block_body(first), is_global=True))
        while (tok := self._peek()) is not None:
            if tok.is_close:
                raise ParseError(tok.diagnostic("unexpected `}` (no block is open)"))
            keys = self._addresses()
            if not keys:
                raise ParseError(tok.diagnostic("expected a site address before `{`"))
            block = ServerBlock(keys[0], keys)
            nxt = self._peek()
            if nxt is not None and nxt.is_open:
                self.i += 1
                self._expect_line_end(nxt)
                block.segments = self._block_body(nxt)
            elif not blocks or (len(blocks) == 1 and blocks[0].is_global):
                # A single site may omit its braces: the rest of the file is its body.
                block.segments = self._segments_until_eof()
                if any(b for b in blocks if not b.is_global):
                    raise ParseError(tok.diagnostic("site block without braces must be the only site"))
            else:
                raise ParseError(tok.diagnostic("expected `{` after the site address(es)"))
            blocks.append(block)
        return blocks

    def _addresses(self) -> list[Token]:
        """Site addresses: one logical line, or several lines joined by trailing commas."""
        keys: list[Token] = []
        while (tok := self._peek()) is not None and not tok.is_open:
            line = tok.logical_line
            continued = False
            while (tok := self._peek()) is not None and tok.logical_line == line and not tok.is_open:
                if tok.is_close:
                    raise ParseError(tok.diagnostic("unexpected `}` in site addresses"))
                self.i += 1
                col = tok.column
                for part in tok.text.split(","):
                    if part:
                        keys.append(Token(tok.file, tok.line, col, part, tok.quoted, tok.logical_line))
                    col += len(part) + 1
                continued = tok.text.endswith(",")
            if not continued:
                break
        return keys

    def _expect_line_end(self, opener: Token) -> None:
        nxt = self._peek()
        if nxt is not None and nxt.logical_line == opener.logical_line and not nxt.is_close:
            raise ParseError(nxt.diagnostic("unexpected token after `{` on the same line"))

    def _segments_until_eof(self) -> list[Segment]:
        segments: list[Segment] = []
        while self._peek() is not None:
            tok = self._peek()
            assert tok is not None
            if tok.is_close:
                raise ParseError(tok.diagnostic("unexpected `}` (no block is open)"))
            segments.append(self._segment())
        return segments

    def _block_body(self, opener: Token) -> list[Segment]:
        segments: list[Segment] = []
        while True:
            tok = self._peek()
            if tok is None:
                raise ParseError(opener.diagnostic("block opened here is never closed (missing `}`)"))
            if tok.is_close:
                self.i += 1
                return segments
            segments.append(self._segment())

    def _segment(self) -> Segment:
        first = self._peek()
        assert first is not None
        line = first.logical_line
        tokens: list[Token] = []
        while (tok := self._peek()) is not None and tok.logical_line == line:
            if tok.is_close:
                break
            self.i += 1
            if tok.is_open:
                if not tokens:
                    raise ParseError(tok.diagnostic("unexpected `{` (a block needs a directive before it)"))
                self._expect_line_end(tok)
                return Segment(tokens, self._block_body(tok), tok)
            tokens.append(tok)
        return Segment(tokens)
