"""The two values that cross the adapter boundary on every request: the client's request
as the pipeline decoded it, and the HTTP request an adapter makes of it.

Compiled classes, not msgspec Structs: every phase reads their fields, and a compiled
module reads a compiled class's field directly where a Struct's costs a generic attribute
lookup (about 150 instructions; a chat request read some thirty).
"""

from __future__ import annotations

from ferrogate.ai.providers.endpoint import Endpoint


class ClientRequest:
    """What the pipeline hands an adapter: the raw body plus the decoded fields."""

    def __init__(
        self,
        *,
        endpoint: Endpoint,
        body: bytes,
        model: str,
        stream: bool = False,
        client_wants_usage: bool = False,
        head: object = None,
        headers: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        self.endpoint = endpoint
        self.body = body  # exactly as the client sent it
        self.model = model  # logical model name the client asked for
        self.stream = stream
        self.client_wants_usage = client_wants_usage  # stream_options.include_usage was true
        self.head = head  # the decoded struct from ferrogate.ai.schemas (ChatHead, ResponsesHead, ...)
        # Client headers the provider must see (only ``anthropic-beta`` on /v1/messages; never
        # credentials), as (lowercased name, value) pairs.
        self.headers = headers

    def __repr__(self) -> str:
        return (f"ClientRequest(endpoint={self.endpoint!r}, model={self.model!r}, stream={self.stream!r}, "
                f"body={len(self.body)} bytes)")


class UpstreamCall:
    """One HTTP request to a provider, ready for the upstream pool."""

    def __init__(
        self,
        *,
        method: bytes = b"POST",
        path: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        stream: bool = False,
        head: bytes = b"",
    ) -> None:
        self.method = method
        self.path = path  # path and query, appended to the provider's base URL
        self.headers = headers
        self.body = body
        self.stream = stream  # the upstream will answer with SSE
        # The request line and header lines above, serialized once per (endpoint, model) by an
        # adapter whose headers never vary (pool.head_prefix; the pool adds the Content-Length);
        # empty: the pool serializes them. Never holds a TRACE_HEADERS line: tracing appends its
        # traceparent to it without looking (trace_context.with_traceparent).
        self.head = head

    def __repr__(self) -> str:
        # No headers: they carry the provider's credentials.
        return (f"UpstreamCall(method={self.method!r}, path={self.path!r}, stream={self.stream!r}, "
                f"body={len(self.body)} bytes)")
