"""Classify failed attempts and decide what the dispatcher does next.

One table, so retries and fallback behave the same for every provider:

=================== ============================== ==================
kind                action                          client status
=================== ============================== ==================
rate_limited        retry same (Retry-After ≤ cap)  429
                    else fall back
quota_exhausted     fall back                       429
auth                fall back                       502 (provider credential
                                                    problem, not the client's)
context_length      fall back (bigger window)       400
content_policy      return                          400
invalid_request     return                          upstream 4xx
upstream_transient  retry same with backoff,        502 / 503
                    then fall back
timeout             retry same, then fall back      504
=================== ============================== ==================

These are the dispatcher's decisions, bounded by ``provider_dispatch_max_retries``
and the dispatch deadline. Below them the pool replays a request on its own only
when a reused connection broke before any response byte (the upstream never saw
it); a timeout is never replayed there, so a timed-out attempt is retried only
here, once per configured retry.
"""

from __future__ import annotations

import email.utils
import time
from enum import IntEnum

import orjson

from ferrogate._fastpath.upstream_errors import UpstreamError, UpstreamTimeout
from ferrogate.ai.providers.base import ErrorKind, UpstreamFailure
from ferrogate.errors import ErrorSource, GatewayError


class Action(IntEnum):
    RETRY_SAME = 1
    FALL_BACK = 2
    RETURN = 3


_ACTION: dict[ErrorKind, Action] = {
    ErrorKind.RATE_LIMITED: Action.RETRY_SAME,
    ErrorKind.QUOTA_EXHAUSTED: Action.FALL_BACK,
    ErrorKind.AUTH: Action.FALL_BACK,
    ErrorKind.CONTEXT_LENGTH: Action.FALL_BACK,
    ErrorKind.CONTENT_POLICY: Action.RETURN,
    ErrorKind.INVALID_REQUEST: Action.RETURN,
    ErrorKind.UPSTREAM_TRANSIENT: Action.RETRY_SAME,
    ErrorKind.TIMEOUT: Action.RETRY_SAME,
}

# Failures that say something about the provider's health (the client's own
# mistakes must not open a breaker).
BREAKER_KINDS: frozenset[ErrorKind] = frozenset(
    {
        ErrorKind.RATE_LIMITED,
        ErrorKind.QUOTA_EXHAUSTED,
        ErrorKind.AUTH,
        ErrorKind.UPSTREAM_TRANSIENT,
        ErrorKind.TIMEOUT,
    }
)


def action_for(kind: ErrorKind) -> Action:
    return _ACTION[kind]


def parse_retry_after(headers: list[tuple[bytes, bytes]]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` (preferred) or ``retry-after``."""
    plain: bytes | None = None
    for name, value in headers:
        lname = name.lower()
        if lname == b"retry-after-ms":
            try:
                return max(0.0, float(value) / 1000.0)
            except ValueError:
                continue
        if lname == b"retry-after":
            plain = value
    if plain is None:
        return None
    try:
        return max(0.0, float(plain))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(plain.decode("latin-1"))
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_fields(body: bytes) -> tuple[str, str | None, str | None, str | None]:
    """(message, code, type, param) from an OpenAI-style (or bare) error body."""
    try:
        doc = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        doc = None
    err = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(err, dict):
        msg = err.get("message")
        code = err.get("code")
        etype = err.get("type")
        param = err.get("param")
        return (
            msg if isinstance(msg, str) and msg else "upstream error",
            str(code) if code is not None else None,
            etype if isinstance(etype, str) else None,
            param if isinstance(param, str) else None,
        )
    if isinstance(err, str):
        return err, None, None, None
    text = body[:200].decode("utf-8", "replace").strip()
    return text or "upstream error", None, None, None


def classify_openai_error(
    status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> UpstreamFailure:
    """Classify an OpenAI-wire error response."""
    message, code, etype, param = _error_fields(body)
    markers = f"{code or ''} {etype or ''}".lower()
    lowered = message.lower()
    if status == 429:
        kind = (
            ErrorKind.QUOTA_EXHAUSTED
            if "insufficient_quota" in markers or "quota" in lowered
            else ErrorKind.RATE_LIMITED
        )
    elif status in (401, 403):
        kind = ErrorKind.AUTH
    elif status in (408, 504):
        kind = ErrorKind.TIMEOUT
    elif status >= 500 or status == 409:
        kind = ErrorKind.UPSTREAM_TRANSIENT
    elif "context_length" in markers or "maximum context length" in lowered or "too many tokens" in lowered:
        kind = ErrorKind.CONTEXT_LENGTH
    elif "content_filter" in markers or "content_policy" in markers or "content management policy" in lowered:
        kind = ErrorKind.CONTENT_POLICY
    else:
        kind = ErrorKind.INVALID_REQUEST
    return UpstreamFailure(
        kind=kind,
        status=status,
        message=message,
        code=code,
        param=param,
        retry_after=parse_retry_after(headers),
    )


def failure_from_exception(exc: UpstreamError) -> UpstreamFailure:
    """A transport failure (no HTTP answer) in the table's terms: a timeout, or transient."""
    kind = ErrorKind.TIMEOUT if isinstance(exc, UpstreamTimeout) else ErrorKind.UPSTREAM_TRANSIENT
    return UpstreamFailure(kind=kind, status=0, message=exc.message, code=exc.code)


def client_error(failure: UpstreamFailure, provider: str) -> GatewayError:
    """The error the client sees for the last failed attempt."""
    kind = failure.kind
    if kind in (ErrorKind.RATE_LIMITED, ErrorKind.QUOTA_EXHAUSTED):
        status = 429
    elif kind is ErrorKind.AUTH:
        status = 502
    elif kind is ErrorKind.TIMEOUT:
        status = 504
    elif kind is ErrorKind.UPSTREAM_TRANSIENT:
        status = failure.status if failure.status in (502, 503) else 502
    elif 400 <= failure.status < 500:
        status = failure.status
    else:
        status = 400
    message = failure.message
    if kind is ErrorKind.AUTH:
        message = f"provider {provider!r} rejected the gateway's credentials (upstream {failure.status})"
    headers: tuple[tuple[bytes, bytes], ...] = ()
    if status == 429 and failure.retry_after is not None:
        headers = ((b"retry-after", str(max(1, round(failure.retry_after))).encode()),)
    return GatewayError(
        status,
        message,
        code=failure.code or kind.value,
        param=failure.param,
        source=ErrorSource.UPSTREAM,
        headers=headers,
    )
