"""Building OpenAI ``chat.completion.chunk`` events cheaply.

The envelope around each delta is pre-encoded once per stream, so a text delta
costs one ``orjson.dumps`` of the delta and two byte joins.
"""

from __future__ import annotations

import orjson

from ferrogate.ai.translate.common import Json


class ChunkWriter:
    """Encodes chunks for one stream (fixed id, created, model)."""

    __slots__ = ("_head", "_usage_head")

    def __init__(self, chunk_id: str, created: int, model: str) -> None:
        env = orjson.dumps(
            {"id": chunk_id, "object": "chat.completion.chunk", "created": created, "model": model}
        )
        self._head = b"data: " + env[:-1] + b',"choices":[{"index":0,"delta":'
        self._usage_head = b"data: " + env[:-1] + b',"choices":[],"usage":'

    def delta(self, delta: Json) -> bytes:
        return self._head + orjson.dumps(delta) + b',"logprobs":null,"finish_reason":null}]}\n\n'

    def content(self, text: str) -> bytes:
        return (
            self._head
            + b'{"content":'
            + orjson.dumps(text)
            + b'},"logprobs":null,"finish_reason":null}]}\n\n'
        )

    def content_raw(self, json_string: bytes) -> bytes:
        """A content delta from text that is already an encoded JSON string literal."""
        return (
            self._head
            + b'{"content":'
            + json_string
            + b'},"logprobs":null,"finish_reason":null}]}\n\n'
        )

    def finish(self, reason: str) -> bytes:
        return self._head + b'{},"logprobs":null,"finish_reason":"' + reason.encode() + b'"}]}\n\n'

    def usage(self, usage: Json) -> bytes:
        return self._usage_head + orjson.dumps(usage) + b"}\n\n"
