"""The provider adapter contract: every provider module implements these shapes.

An adapter turns the client's request (a :class:`ClientRequest`: the raw body as
received plus the few decoded fields the gateway needs) into one upstream call,
and the upstream's answer back into what the client asked for. Streams are
translated incrementally by a :class:`StreamTranslator`, which must give the
same output for any split of the upstream bytes into reads.

How the pipeline uses an adapter (``ferrogate/pipeline/dispatch.py``, ``relay.py``):

1. ``adapter.check(req)`` before any I/O: raise
   ``ferrogate.errors.bad_request(..., param=FIELD)`` for a field this provider
   cannot honour (e.g. ``previous_response_id`` on a chat-only upstream).
2. ``adapter.build_call(req, provider_model)`` → :class:`UpstreamCall` (path,
   headers incl. credentials, body). OpenAI-wire adapters byte-splice the model
   name (``ferrogate.ai.splice``); translating adapters build a new body.
3. The call goes through ``adapter.transport`` when it is not None (the built-in
   ``mock`` provider answers in-process), else through the worker's ``PoolSet``
   at ``adapter.origin`` (``ferrogate.pipeline.dispatch.send_call``).
4. A non-2xx answer: ``adapter.classify_error(status, headers, body)`` →
   :class:`UpstreamFailure`; its ``kind`` (:class:`ErrorKind`) decides retry /
   fallback / return.
5. A 2xx answer, not streamed: ``adapter.translate_response(req, body)`` →
   (client body, usage). A streamed one: ``adapter.stream_translator(req)``;
   the relay feeds every upstream read to ``feed()``, writes what it returns,
   and calls ``finish()`` at upstream EOF. ``complete`` tells the relay whether
   the upstream's terminal event was seen (else the stream failed).
   ``emit_error(req, err)`` renders a failure after the stream started in the
   client's wire format (OpenAI ``data: {"error":..}`` or Anthropic
   ``event: error``) — the relay writes it and closes.

``req.endpoint`` is what the *client* speaks: CHAT/RESPONSES/EMBEDDINGS are
OpenAI's wire format, MESSAGES is Anthropic's (``/v1/messages``). For MESSAGES
the pipeline serves the request through
``ferrogate.ai.translate.messages.wrap(adapter)``, an adapter taking Anthropic
Messages in on top of a chat adapter. For RESPONSES on an adapter whose
``native_responses`` is False (and whose model does not list the ``responses``
capability), it uses ``ferrogate.ai.translate.responses.wrap(adapter)`` the
same way.

``Usage`` extraction: the translator/``translate_response`` report the usage
they saw (``None`` when the upstream gave none; the pipeline then estimates).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from enum import StrEnum
from typing import Final, Protocol

import msgspec

from ferrogate.ai.providers.calls import ClientRequest as ClientRequest
from ferrogate.ai.providers.calls import UpstreamCall as UpstreamCall
from ferrogate.ai.providers.endpoint import Endpoint as Endpoint
from ferrogate.ai.usage import Usage
from ferrogate.errors import GatewayError

# W3C trace context headers: a traced attempt sends its own, never the client's or a config's.
TRACE_HEADERS: Final = (b"traceparent", b"tracestate")


class ErrorKind(StrEnum):
    """The taxonomy that decides what the dispatcher does with a failed attempt."""

    RATE_LIMITED = "rate_limited"  # retry same (after Retry-After), then fall back
    QUOTA_EXHAUSTED = "quota_exhausted"  # fall back (retrying cannot help)
    AUTH = "auth"  # fall back (provider credential problem; client sees 502)
    CONTEXT_LENGTH = "context_length"  # fall back (a larger window may fit)
    CONTENT_POLICY = "content_policy"  # return to client
    INVALID_REQUEST = "invalid_request"  # return to client
    UPSTREAM_TRANSIENT = "upstream_transient"  # retry same, then fall back
    TIMEOUT = "timeout"  # retry same, then fall back


class UpstreamFailure(msgspec.Struct, kw_only=True):
    """One failed attempt, classified."""

    kind: ErrorKind
    status: int  # upstream status (0 when no response arrived)
    message: str
    code: str | None = None
    param: str | None = None
    retry_after: float | None = None  # seconds, from Retry-After / retry-after-ms


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


class UpstreamResponseLike(Protocol):
    """The part of ``ferrogate._fastpath.pool.UpstreamResponse`` the pipeline uses."""

    status: int
    headers: list[tuple[bytes, bytes]]

    async def read(self, max_bytes: int) -> bytes: ...

    def chunks(self) -> AsyncIterator[bytes]: ...

    def close(self) -> None: ...


class Transport(Protocol):
    """An in-process stand-in for the upstream pool (the ``mock`` provider)."""

    async def send(self, call: UpstreamCall, provider_model: str) -> UpstreamResponseLike: ...


class ProviderAdapter(Protocol):
    """One configured provider. Built once at config compile time; immutable."""

    name: str  # provider name from config
    kind: str  # config kind ("openai", "anthropic", ...)
    origin: str  # scheme://host[:port] for the pool; "" when ``transport`` is set
    base_path: str  # path prefix from base_url, e.g. "/v1"
    transport: Transport | None
    native_responses: bool  # speaks POST /responses itself
    endpoints: frozenset[Endpoint]  # what build_call accepts

    def check(self, req: ClientRequest) -> None:
        """Raise a 400 GatewayError naming the field this provider cannot honour."""
        ...

    def build_call(self, req: ClientRequest, provider_model: str) -> UpstreamCall: ...

    def translate_response(self, req: ClientRequest, body: bytes) -> tuple[bytes, Usage | None]:
        """A 2xx non-streamed upstream body → (client body, usage)."""
        ...

    def stream_translator(self, req: ClientRequest) -> StreamTranslator: ...

    def classify_error(
        self, status: int, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> UpstreamFailure: ...

    def emit_error(self, req: ClientRequest, err: GatewayError) -> bytes:
        """A failure after the stream began, as the client's SSE error event."""
        ...
