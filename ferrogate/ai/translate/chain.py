"""Two stream translators in series (provider → OpenAI chunks → client's format).

The outer translator decides completeness; usage comes from the inner one (it saw
the provider's own numbers) and falls back to the outer one's.
"""

from __future__ import annotations

from typing import Protocol

from ferrogate.ai.usage import Usage


class _Stream(Protocol):
    def feed(self, data: bytes) -> bytes: ...

    def finish(self) -> bytes: ...

    @property
    def usage(self) -> Usage | None: ...

    @property
    def complete(self) -> bool: ...


class ChainedStream:
    """``outer(inner(bytes))`` with the StreamTranslator interface."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, inner: _Stream, outer: _Stream) -> None:
        self._inner = inner
        self._outer = outer

    @property
    def usage(self) -> Usage | None:
        return self._inner.usage or self._outer.usage

    @property
    def complete(self) -> bool:
        return self._outer.complete

    @property
    def early_error(self) -> bytes:
        """The error held back because the stream failed before any content (inner's own, if any)."""
        return getattr(self._inner, "early_error", b"") or getattr(self._outer, "early_error", b"")

    def feed(self, data: bytes) -> bytes:
        mid = self._inner.feed(data)
        return self._outer.feed(mid) if mid else b""

    def finish(self) -> bytes:
        mid = self._inner.finish()
        out = self._outer.feed(mid) if mid else b""
        return out + self._outer.finish()
