"""Edit a JSON request body in place, as bytes: rename the model, ask for usage.

Re-serialising a client's body would reorder nothing with orjson, but it would
reformat numbers and whitespace and costs a full encode; a splice touches only
the bytes that change, so unknown fields reach the upstream byte-for-byte.
Locating a *top-level* key must not be fooled by the same key nested deeper
(a tool schema with a ``model`` property), so when the key occurs more than
once we walk the token stream (strings and brackets, found by one C regex)
tracking depth.
"""

from __future__ import annotations

import re
from typing import Final

import orjson

from ferrogate._fastpath.bytes_search import count, find, rfind

# A JSON string, unrolled: runs of plain characters consumed possessively, one escape
# at a time between them (no alternation per character).
_TOKEN: Final = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"|[{}\[\]]', re.DOTALL)
_STRING: Final = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"', re.DOTALL)
_SCALAR_END: Final = re.compile(rb"[,}\]\s]")
# Text whose string literals hold no bracket: then counting brackets gives the depth.
# Possessive quantifiers: runs are consumed whole and never backtracked (linear time).
_NO_BRACKET_IN_STRINGS: Final = re.compile(rb'(?:[^"]++|"(?:[^"\\{}\[\]]++|\\.)*+")*+')


_COLON: Final = re.compile(rb"[ \t\r\n]*:[ \t\r\n]*")


def _value_start_after_key(body: bytes, key_end: int) -> int | None:
    """Index of the value after a key ending at ``key_end``, or None if no ``:`` follows."""
    m = _COLON.match(body, key_end)
    return m.end() if m is not None else None


def _value_end(body: bytes, start: int) -> int:
    """End (exclusive) of the JSON value starting at ``start``."""
    first = body[start]
    if first == 0x22:  # '"'
        m = _STRING.match(body, start)
        if m is None:
            raise ValueError("unterminated string")
        return m.end()
    if first in b"{[":
        depth = 0
        for m in _TOKEN.finditer(body, start):
            tok = m.group()
            if tok in (b"{", b"["):
                depth += 1
            elif tok in (b"}", b"]"):
                depth -= 1
                if depth == 0:
                    return m.end()
        raise ValueError("unbalanced value")
    m2 = _SCALAR_END.search(body, start)
    return m2.start() if m2 else len(body)


def top_level_span(body: bytes, key: str, *, present: bool = False) -> tuple[int, int] | None:
    """Byte span of the value of top-level ``key`` in a JSON object, or None.

    ``present=True`` says the decoder already saw ``key`` at the top level, which
    allows a fast path when the key occurs only once."""
    needle = b'"' + key.encode() + b'"'
    pos = find(body, needle)
    if pos < 0:
        return None
    if present and find(body, needle, pos + len(needle)) < 0 and not _key_may_be_escaped(body, key):
        # The only literal occurrence, and the key cannot be spelled with escapes
        # elsewhere: it is the top-level key the decoder saw (a string *value*
        # equal to the key is never followed by ':').
        start = _value_start_after_key(body, pos + len(needle))
        if start is not None:
            return start, _value_end(body, start)
        return None
    while pos >= 0:
        if pos == 0 or body[pos - 1] != 0x5C:  # not an escaped quote inside a string
            start = _value_start_after_key(body, pos + len(needle))
            if start is not None and _depth_at(body, pos) == 1:
                return start, _value_end(body, start)
        pos = find(body, needle, pos + 1)
    return None


def _key_may_be_escaped(body: bytes, key: str) -> bool:
    """Could some key in ``body`` be ``key`` written with ``\\uXXXX`` escapes?"""
    return find(body, b"\\u") >= 0


def _bracket_depth(head: bytes) -> int:
    return count(head, b"{") + count(head, b"[") - count(head, b"}") - count(head, b"]")


def _depth_at(body: bytes, pos: int) -> int:
    """Object/array nesting depth at ``pos`` (brackets inside strings do not count)."""
    head = body[:pos]
    # Fast path: counting every bracket is exact unless a string holds one.
    if _bracket_depth(head) == 1 and _NO_BRACKET_IN_STRINGS.fullmatch(head):
        return 1
    return _bracket_depth(_STRING.sub(b'""', head))


def splice_value(body: bytes, key: str, value: bytes, *, present: bool = False) -> bytes | None:
    """``body`` with top-level ``key``'s value replaced by JSON ``value``; None if absent."""
    span = top_level_span(body, key, present=present)
    if span is None:
        return None
    return body[: span[0]] + value + body[span[1] :]


def rename_model(
    body: bytes, provider_model: str, encoded: bytes | None = None, *, current: str | None = None
) -> bytes:
    """Replace the top-level ``model`` value; ``encoded`` is the precomputed JSON string.
    ``current`` is the decoded value the body holds: when it already is ``provider_model``
    (a logical model named after its provider model) the body is returned as is.

    Precondition: ``body`` decoded to an object with a top-level string ``model``."""
    if current == provider_model:
        return body
    value = encoded if encoded is not None else orjson.dumps(provider_model)
    if body.startswith(b'{"model":"'):
        # The shape SDKs send: model first. The key is the top-level one (the first in the
        # object); it is the only one when "model" occurs nowhere else and no key could be
        # spelled with escapes. A body with no backslash at all (the usual case) needs no
        # string scanner: the model's string ends at the next quote.
        if find(body, b"\\") == -1:
            end = find(body, b'"', 10) + 1
            if end > 0 and find(body, b'"model"', end) == -1:
                return b'{"model":' + value + body[end:]
        else:
            m = _STRING.match(body, 9)
            if m is not None and find(body, b'"model"', m.end()) == -1 and find(body, b"\\u") == -1:
                return b'{"model":' + value + body[m.end() :]
    out = splice_value(body, "model", value, present=True)
    if out is not None:
        return out
    # The key was written with escapes (legal, never seen in practice): re-encode.
    doc = orjson.loads(body)
    doc["model"] = provider_model
    return orjson.dumps(doc)


_INCLUDE_USAGE: Final = b'{"include_usage":true}'


def ensure_include_usage(body: bytes) -> bytes:
    """Make ``stream_options.include_usage`` true, touching nothing else."""
    span = top_level_span(body, "stream_options")
    if span is None:
        end = rfind(body.rstrip(), b"}")
        head = body[:end].rstrip()
        sep = b"" if head.endswith(b"{") else b","
        return head + sep + b'"stream_options":' + _INCLUDE_USAGE + body[end:]
    raw = body[span[0] : span[1]]
    current = orjson.loads(raw)
    if isinstance(current, dict):
        current["include_usage"] = True
        new = orjson.dumps(current)
    else:
        new = _INCLUDE_USAGE
    return body[: span[0]] + new + body[span[1] :]
