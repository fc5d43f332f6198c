"""Upstream failures as :class:`GatewayError` subclasses.

Each error says *where* in the exchange it happened (``phase``) and whether the
connection was a reused pooled one (``reused``). Those two facts decide whether
a retry is provably safe (Pingora's ``RetryType::ReusedOnly``): only a reused
connection that failed before any response byte arrived may be retried, and
only with a replayable body. Bodies are rendered by ``ferrogate.errors.render``.
"""

from __future__ import annotations

from typing import Literal

from ferrogate.errors import ErrorSource, GatewayError

Phase = Literal["connect", "tls", "write", "first_byte", "headers", "body", "total", "idle"]

# Phases in which no response byte has been received yet.
_BEFORE_RESPONSE: frozenset[str] = frozenset(("connect", "tls", "write", "first_byte"))


class UpstreamError(GatewayError):
    """Base for failures talking to an upstream."""

    __slots__ = ("phase", "reused")

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str,
        phase: Phase,
        reused: bool = False,
    ) -> None:
        super().__init__(status, message, code=code, source=ErrorSource.UPSTREAM)
        self.phase: Phase = phase
        self.reused = reused

    @property
    def before_response(self) -> bool:
        """True when the upstream had not sent a single response byte."""
        return self.phase in _BEFORE_RESPONSE

    @property
    def retry_safe(self) -> bool:
        """A reused pooled connection that broke before any response byte.

        The upstream either never saw the request or closed the idle connection
        as we wrote it, so replaying the request on a fresh connection cannot
        duplicate work. Timeouts are never safe: the upstream may be working.
        """
        return self.reused and self.phase in ("write", "first_byte")


class UpstreamConnectError(UpstreamError):
    """Refused, reset, unreachable, TLS failure: 502."""

    __slots__ = ()

    def __init__(self, message: str, *, phase: Phase = "connect", reused: bool = False) -> None:
        super().__init__(502, message, code="upstream_connect_error", phase=phase, reused=reused)


class UpstreamProtocolError(UpstreamError):
    """The upstream spoke broken HTTP or closed mid-response: 502."""

    __slots__ = ()

    def __init__(self, message: str, *, phase: Phase = "first_byte", reused: bool = False) -> None:
        super().__init__(502, message, code="upstream_protocol_error", phase=phase, reused=reused)


class UpstreamBodyTooLarge(UpstreamError):
    """A buffered read exceeded the caller's ``max_bytes``: 502."""

    __slots__ = ()

    def __init__(self, max_bytes: int) -> None:
        super().__init__(
            502,
            f"upstream response body exceeds {max_bytes} bytes",
            code="upstream_response_too_large",
            phase="body",
        )


class UpstreamTimeout(UpstreamError):
    """Connect, first-byte, total or idle deadline passed: 504.

    Never replayed by the pool, even on a reused connection before any response byte:
    the upstream may be working on the request. Whether to try again (the same
    provider or the next) is the dispatcher's decision (``ferrogate.ai.taxonomy``)."""

    __slots__ = ()

    @property
    def retry_safe(self) -> bool:
        return False

    def __init__(self, phase: Phase, *, reused: bool = False, secs: float | None = None) -> None:
        what = {
            "connect": "connecting to the upstream",
            "tls": "the TLS handshake with the upstream",
            "first_byte": "waiting for the upstream's response",
            "total": "the upstream exchange",
            "idle": "waiting for more of the upstream's response",
        }.get(phase, "the upstream")
        limit = f" ({secs:g}s)" if secs is not None else ""
        super().__init__(
            504, f"timed out {what}{limit}", code="upstream_timeout", phase=phase, reused=reused
        )
