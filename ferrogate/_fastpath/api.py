"""The contract between the fast-path HTTP/1.1 server and the application.

The server (``http1.py``) parses a request and hands the application one
:class:`Exchange` per request: a request/response pair with flow control in
both directions. The application is any callable ``handler(exchange)`` that
returns an awaitable; the server runs it as a task, keeps pipelined requests
in order, and cancels the task if the client disconnects before the response
has finished (so upstream work stops at once).

If the handler raises :class:`ferrogate.errors.GatewayError` before it has
started the response, the server sends the rendered error. Any other error
before start becomes a 500; after start the connection is closed, since the
client has already seen a status line.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

from ferrogate.errors import ErrorFlavor, GatewayError

Headers = list[tuple[bytes, bytes]]
"""Header list as (name, value) byte pairs. Request names are lowercased."""


class Request(Protocol):
    method: bytes  # b"GET"
    target: bytes  # raw request-target as received, e.g. b"/v1/models?x=1"
    path: bytes  # target without the query
    query: bytes  # bytes after "?", or b""
    headers: Headers  # lowercased names, in received order
    http_version: str  # "1.1" or "1.0"
    keep_alive: bool  # what the client asked for, after the server's own policy
    client: tuple[str, int] | None
    content_length: int | None  # None when chunked or absent
    chunked: bool

    def header(self, name: bytes) -> bytes | None:
        """First value of a header (``name`` lowercased), or None."""
        ...

    def release_headers(self) -> None:
        """Drop the headers: nothing will read them again (a long stream whose head is out)."""
        ...


class Exchange(Protocol):
    """One request and its response on a connection."""

    @property
    def request(self) -> Request:
        """The request head (read-only here: the server's exchange holds its own kind)."""
        ...

    received_at: float  # loop.time() when the request head was complete
    # Set by handlers for the access log (plain attribute stores, read only when it is on).
    log_request_id: bytes | None
    log_upstream: object  # an upstream URL, or (provider, provider model)
    log_key_id: str | None
    body_bytes: int  # response body bytes written so far

    def take_body(self) -> bytes | None:
        """The whole request body if it has already arrived intact, else None."""
        ...

    async def read_body(self) -> bytes:
        """The whole request body (within the configured limit; over it → 413)."""
        ...

    def body_chunks(self) -> AsyncIterator[bytes]:
        """The request body chunk by chunk; reading pauses while the app lags."""
        ...

    def start_response(self, status: int, headers: Headers | bytes, content_length: int | None = None) -> None:
        """Send the status line and headers (a list, or a block built by
        :mod:`ferrogate._fastpath.head`); chunked framing when ``content_length`` is None
        (HTTP/1.1) or close-delimited (HTTP/1.0). The server adds Date/Server/Connection.

        The server owns framing: content-length, transfer-encoding, connection, keep-alive,
        date and server headers passed here are dropped (an app ``connection: close`` makes
        the connection close after this response). Writes beyond ``content_length`` raise."""
        ...

    def write(self, data: bytes) -> None:
        """Queue body bytes (framed as needed). Call :meth:`drain` to honour backpressure."""
        ...

    async def drain(self) -> None:
        """Wait while the client's transport is paused (its buffer above the high-water mark)."""
        ...

    @property
    def writing_paused(self) -> bool:
        """The client's transport is paused: :meth:`drain` would wait (a relay pushed to from a
        read callback stops taking bytes then)."""
        ...

    def end(self) -> None:
        """Finish the response (terminal chunk when chunked)."""
        ...

    def respond(self, status: int, headers: Headers | bytes, body: bytes) -> None:
        """Send a complete response in one write (sets Content-Length); ``headers`` as for
        :meth:`start_response`."""
        ...

    def fail(
        self,
        err: GatewayError,
        flavor: ErrorFlavor = ErrorFlavor.OPENAI,
        extra: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        """Answer with the error response for ``err`` (the one way handlers send errors)."""
        ...

    @property
    def started(self) -> bool: ...

    @property
    def disconnected(self) -> bool: ...


Handler = Callable[[Exchange], Awaitable[None]]
