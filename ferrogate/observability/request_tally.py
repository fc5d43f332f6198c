"""A worker's running totals of finished AI requests, shown in the admin status.

The AI pipeline hands each finished request to the worker's observer
(``WorkerState.observer``). Until metering records usage and cost for real, the
observer is a :class:`RequestTally`: it adds the request to per-worker totals,
and the worker's heartbeat carries :meth:`RequestTally.snapshot` to the control
process, which shows them per worker and summed in ``GET /admin/v1/status``.
Counting is a handful of integer additions on the event loop: no lock, no I/O.
"""

from __future__ import annotations

from typing import Protocol

from ferrogate.errors import ErrorSource
from ferrogate.ipc import RequestCounts


class TokenUsage(Protocol):
    """The token counts of a request's usage (``ferrogate.ai.usage.Usage`` has them)."""

    @property
    def prompt_tokens(self) -> int: ...

    @property
    def completion_tokens(self) -> int: ...


class RequestError(Protocol):
    """Where a request's error came from (``ferrogate.errors.GatewayError`` has it)."""

    @property
    def source(self) -> ErrorSource: ...


class FinishedRequest(Protocol):
    """What the tally reads of a finished AI request (the pipeline's request context)."""

    @property
    def status(self) -> int: ...

    @property
    def stream(self) -> bool: ...

    @property
    def usage(self) -> TokenUsage | None: ...

    @property
    def cost(self) -> float | None: ...

    @property
    def error(self) -> RequestError | None: ...


class RequestTally:
    """Counts since the worker started: requests, errors, streams, tokens and cost."""

    __slots__ = (
        "completion_tokens",
        "cost",
        "errors",
        "internal_errors",
        "prompt_tokens",
        "requests",
        "streamed",
        "upstream_errors",
    )

    def __init__(self) -> None:
        self.requests = 0
        self.errors = 0
        self.upstream_errors = 0
        self.internal_errors = 0
        self.streamed = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cost = 0.0

    def __call__(self, request: FinishedRequest) -> None:
        self.requests += 1
        if request.status >= 400:
            self.errors += 1
            error = request.error
            if error is not None:
                source = error.source
                if source is ErrorSource.UPSTREAM:
                    self.upstream_errors += 1
                elif source is ErrorSource.INTERNAL:
                    self.internal_errors += 1
        if request.stream:
            self.streamed += 1
        usage = request.usage
        if usage is not None:
            self.prompt_tokens += usage.prompt_tokens
            self.completion_tokens += usage.completion_tokens
        if request.cost is not None:
            self.cost += request.cost

    def snapshot(self) -> RequestCounts:
        return RequestCounts(
            requests=self.requests,
            errors=self.errors,
            upstream_errors=self.upstream_errors,
            internal_errors=self.internal_errors,
            streamed=self.streamed,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            cost=self.cost,
        )
