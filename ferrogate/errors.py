"""The gateway's error tree and the one place that renders error responses.

Every phase raises :class:`GatewayError` (or a subclass); nothing else writes an
error body. An error knows the status the client should see and where it came
from (client, upstream, internal: what the request's record counts it as).
Whether a failed attempt is retried is not the error's to say: the dispatcher
decides from the failure's kind (``ferrogate.ai.taxonomy``), and the pool
replays only a reused connection that broke before any response byte
(``UpstreamError.retry_safe``).
"""

from __future__ import annotations

from enum import StrEnum
from urllib.parse import urlsplit, urlunsplit

import orjson


class ErrorSource(StrEnum):
    CLIENT = "client"
    UPSTREAM = "upstream"
    INTERNAL = "internal"


class ErrorFlavor(StrEnum):
    """Wire shape of an error: OpenAI's everywhere (the admin API too), Anthropic's on
    /v1/messages, and the Responses API's own event inside a /v1/responses stream."""

    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    RESPONSES = "responses"


# OpenAI error `type` values by status, used when a raiser does not pick one.
_DEFAULT_TYPE: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    409: "conflict_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
    431: "invalid_request_error",
    500: "server_error",
    502: "upstream_error",
    503: "service_unavailable_error",
    504: "timeout_error",
}

# Anthropic's error types for the same statuses (their API documents these).
_ANTHROPIC_TYPE: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "api_error",
    529: "overloaded_error",
}


class GatewayError(Exception):
    """An error that ends a request with a well-formed response."""

    __slots__ = ("code", "headers", "message", "param", "source", "status", "type")

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        type: str | None = None,
        param: str | None = None,
        source: ErrorSource = ErrorSource.CLIENT,
        headers: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.type = type or _DEFAULT_TYPE.get(status, "server_error" if status >= 500 else "invalid_request_error")
        self.param = param
        self.source = source
        self.headers = headers

    def __repr__(self) -> str:
        return f"GatewayError({self.status}, {self.code!r}, {self.message!r})"


def bad_request(message: str, *, param: str | None = None, code: str | None = None) -> GatewayError:
    return GatewayError(400, message, param=param, code=code or "invalid_request")


def error_body(err: GatewayError, flavor: ErrorFlavor = ErrorFlavor.OPENAI) -> bytes:
    """The JSON body for ``err`` in the requested wire flavor."""
    if flavor is ErrorFlavor.ANTHROPIC:
        return orjson.dumps(
            {
                "type": "error",
                "error": {
                    "type": _ANTHROPIC_TYPE.get(err.status, "api_error"),
                    "message": err.message,
                },
            }
        )
    return orjson.dumps(
        {
            "error": {
                "message": err.message,
                "type": err.type,
                "code": err.code,
                "param": err.param,
            }
        }
    )


def render(
    err: GatewayError, flavor: ErrorFlavor = ErrorFlavor.OPENAI
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers and body of the error response for ``err``."""
    body = error_body(err, flavor)
    headers = [(b"content-type", b"application/json"), *err.headers]
    return err.status, headers, body


def sse_error_event(err: GatewayError, flavor: ErrorFlavor = ErrorFlavor.OPENAI, sequence_number: int = 0) -> bytes:
    """An error as one SSE event, for failures after a stream has started.

    ``sequence_number`` numbers a Responses event (the SDK raises on its ``error`` member)."""
    if flavor is ErrorFlavor.RESPONSES:
        payload = {
            "type": "error",
            "code": err.code,
            "message": err.message,
            "param": err.param,
            "sequence_number": sequence_number,
            "error": {"type": err.type, "code": err.code, "message": err.message, "param": err.param},
        }
        return b"event: error\ndata: " + orjson.dumps(payload) + b"\n\n"
    body = error_body(err, flavor)
    if flavor is ErrorFlavor.ANTHROPIC:
        return b"event: error\ndata: " + body + b"\n\n"
    return b"data: " + body + b"\n\n"


def shown_url(url: str) -> str:
    """``url`` as a message may show it: without any ``user:password@`` it carries."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))
