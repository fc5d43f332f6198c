"""The provider adapter contract: every provider module implements these shapes.

An adapter turns the gateway's canonical request (OpenAI chat/Responses/embeddings
JSON, or Anthropic Messages JSON for /v1/messages) into one upstream call, and the
upstream's answer back into what the client asked for. Streams are translated
incrementally by a :class:`StreamTranslator`, which must give the same output for
any split of the upstream bytes into reads.
"""

from __future__ import annotations

from typing import Protocol

import msgspec

from ferrogate.ai.usage import Usage


class UpstreamCall(msgspec.Struct, kw_only=True):
    """One HTTP request to a provider, ready for the upstream pool."""

    method: bytes = b"POST"
    path: str  # path and query, appended to the provider's base URL
    headers: list[tuple[bytes, bytes]]
    body: bytes


class StreamTranslator(Protocol):
    """Incremental SSE translation from a provider's stream to the client's wire format."""

    def feed(self, data: bytes) -> bytes:
        """Consume raw upstream bytes (any split); return bytes for the client (maybe b"")."""
        ...

    def finish(self) -> bytes:
        """Upstream reached EOF. Return the terminal bytes, or an error event when the
        upstream stream ended without its own terminal event."""
        ...

    @property
    def usage(self) -> Usage | None:
        """Usage seen so far (final once the terminal event has been fed)."""
        ...

    @property
    def complete(self) -> bool:
        """True once the upstream's terminal event has been seen."""
        ...
