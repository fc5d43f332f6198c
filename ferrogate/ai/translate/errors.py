"""Provider error bodies → the AI path's error taxonomy (as data).

The taxonomy kinds are the AI path's: rate_limited, quota_exhausted, auth,
context_length, content_policy, invalid_request, upstream_transient, timeout.
A provider error is classified from its type/status string first and refined by
well-known message phrases (e.g. Anthropic says "prompt is too long" inside an
invalid_request_error).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
import orjson

from ferrogate.ai.providers.base import ErrorKind as FailureKind
from ferrogate.ai.providers.base import UpstreamFailure
from ferrogate.ai.taxonomy import parse_retry_after

ErrorKind = Literal[
    "rate_limited",
    "quota_exhausted",
    "auth",
    "context_length",
    "content_policy",
    "invalid_request",
    "upstream_transient",
    "timeout",
]

ANTHROPIC_ERROR_KINDS: dict[str, ErrorKind] = {
    "overloaded_error": "upstream_transient",
    "api_error": "upstream_transient",
    "rate_limit_error": "rate_limited",
    "billing_error": "quota_exhausted",
    "invalid_request_error": "invalid_request",
    "request_too_large": "invalid_request",
    "not_found_error": "invalid_request",
    "authentication_error": "auth",
    "permission_error": "auth",
    "timeout_error": "timeout",
}

GEMINI_STATUS_KINDS: dict[str, ErrorKind] = {
    "RESOURCE_EXHAUSTED": "rate_limited",
    "INVALID_ARGUMENT": "invalid_request",
    "FAILED_PRECONDITION": "invalid_request",
    "OUT_OF_RANGE": "invalid_request",
    "NOT_FOUND": "invalid_request",
    "PERMISSION_DENIED": "auth",
    "UNAUTHENTICATED": "auth",
    "UNAVAILABLE": "upstream_transient",
    "INTERNAL": "upstream_transient",
    "UNKNOWN": "upstream_transient",
    "ABORTED": "upstream_transient",
    "DEADLINE_EXCEEDED": "timeout",
    "CANCELLED": "upstream_transient",
}

# message phrases that refine a coarse kind (lower-cased substring → kind)
_CONTEXT_PHRASES = (
    "prompt is too long",
    "context length",
    "context window",
    "maximum number of tokens",
    "input token count",
    "too many tokens",
)
_QUOTA_PHRASES = (
    "credit balance",
    "billing",
    "perday",
    "per day",
    "quota exceeded for quota metric",
)
_POLICY_PHRASES = ("content policy", "safety", "blocked")
_AUTH_PHRASES = ("api key not valid", "invalid api key", "invalid x-api-key")

_STATUS_KINDS: dict[int, ErrorKind] = {
    400: "invalid_request",
    401: "auth",
    403: "auth",
    404: "invalid_request",
    408: "timeout",
    413: "invalid_request",
    422: "invalid_request",
    429: "rate_limited",
    500: "upstream_transient",
    502: "upstream_transient",
    503: "upstream_transient",
    504: "timeout",
    529: "upstream_transient",
}


class ProviderError(msgspec.Struct, frozen=True, kw_only=True):
    """A provider's error, classified. ``raw_type`` is the provider's own type or status."""

    kind: ErrorKind
    status: int
    message: str
    raw_type: str


def _refine(kind: ErrorKind, message: str) -> ErrorKind:
    low = message.lower()
    if kind == "invalid_request":
        if any(p in low for p in _CONTEXT_PHRASES):
            return "context_length"
        if any(p in low for p in _AUTH_PHRASES):
            return "auth"
        if any(p in low for p in _POLICY_PHRASES):
            return "content_policy"
    if kind in ("rate_limited", "invalid_request") and any(p in low for p in _QUOTA_PHRASES):
        return "quota_exhausted"
    return kind


def classify_anthropic(status: int, body: bytes) -> ProviderError:
    """Classify an Anthropic error response (``{"type":"error","error":{"type","message"}}``)."""
    err = _error_object(body)
    raw = str(err.get("type") or "")
    message = str(err.get("message") or f"upstream returned HTTP {status}")
    kind = ANTHROPIC_ERROR_KINDS.get(raw) or _STATUS_KINDS.get(status, "upstream_transient")
    if raw == "request_too_large" or status == 413:
        kind = "invalid_request"
    return ProviderError(kind=_refine(kind, message), status=status, message=message, raw_type=raw)


def classify_gemini(status: int, body: bytes) -> ProviderError:
    """Classify a Gemini error (``{"error":{"code","message","status","details"}}``)."""
    err = _error_object(body)
    raw = str(err.get("status") or "")
    message = str(err.get("message") or f"upstream returned HTTP {status}")
    kind = GEMINI_STATUS_KINDS.get(raw) or _STATUS_KINDS.get(status, "upstream_transient")
    if raw == "RESOURCE_EXHAUSTED":
        for detail in err.get("details") or ():
            for v in (detail or {}).get("violations") or ():
                if "perday" in str((v or {}).get("quotaId", "")).lower():
                    kind = "quota_exhausted"
    return ProviderError(kind=_refine(kind, message), status=status, message=message, raw_type=raw)


def upstream_failure(err: ProviderError, headers: list[tuple[bytes, bytes]]) -> UpstreamFailure:
    """A classified provider error as the adapter contract reports it (Retry-After included)."""
    return UpstreamFailure(
        kind=FailureKind(err.kind),
        status=err.status,
        message=err.message,
        code=err.raw_type or None,
        retry_after=parse_retry_after(headers),
    )


def _error_object(body: bytes) -> dict[str, Any]:
    try:
        obj = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        return {"message": body[:200].decode("utf-8", "replace")}
    if isinstance(obj, list) and obj:  # Gemini sometimes wraps errors in a list
        obj = obj[0]
    if not isinstance(obj, dict):
        return {}
    err = obj.get("error")
    return err if isinstance(err, dict) else {}


# Anthropic error types → the HTTP status Anthropic answers them with (an in-stream
# ``error`` event carries only the type).
_ANTHROPIC_TYPE_STATUS: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}

_KIND_STATUS: dict[str, int] = {
    "rate_limited": 429,
    "quota_exhausted": 429,
    "auth": 401,
    "context_length": 400,
    "content_policy": 400,
    "invalid_request": 400,
    "upstream_transient": 502,
    "timeout": 504,
}


def classify_stream_error(event: bytes) -> ProviderError | None:
    """Classify an SSE error event a stream translator held back (an Anthropic ``error``
    event, or the OpenAI/Anthropic-shaped event a translator made of a provider's error),
    so a stream that failed before any output keeps its real reason. None when ``event``
    carries no error object."""
    data = b""
    for line in event.splitlines():
        if line.startswith(b"data:"):
            data = line[5:].strip()
    err = _error_object(data) if data else {}
    if not err or "message" not in err:
        return None
    message = str(err.get("message") or "upstream stream failed")
    raw = str(err.get("type") or err.get("status") or "")
    code = err.get("code")
    if isinstance(code, str) and (
        code in ANTHROPIC_ERROR_KINDS or code in GEMINI_STATUS_KINDS or not raw
    ):
        raw = code  # a translator keeps the provider's own type in ``code``
    kind = ANTHROPIC_ERROR_KINDS.get(raw) or GEMINI_STATUS_KINDS.get(raw) or "upstream_transient"
    kind = _refine(kind, message)
    status = _ANTHROPIC_TYPE_STATUS.get(raw) or _KIND_STATUS[kind]
    return ProviderError(kind=kind, status=status, message=message, raw_type=raw)
