"""A worker's running totals of finished AI requests, shown in the admin status.

Fed every request's record by the worker's :class:`RecordQueue`; the heartbeat
carries :meth:`RequestTally.snapshot` to the control process, which shows them
per worker and summed in ``GET /admin/v1/status``. A handful of integer additions
on the event loop: no lock, no I/O.
"""

from __future__ import annotations

from typing import Final

from ferrogate.ipc import RequestCounts
from ferrogate.ipc.request_records import PICO_PER_USD, RECORD_FIELDS, RecordFields

_STATUS: Final = RECORD_FIELDS.index("status")
_ERROR_SOURCE: Final = RECORD_FIELDS.index("error_source")
_STREAM: Final = RECORD_FIELDS.index("stream")
_INPUT: Final = RECORD_FIELDS.index("input_tokens")
_OUTPUT: Final = RECORD_FIELDS.index("output_tokens")
_COST: Final = RECORD_FIELDS.index("cost_pico")


class RequestTally:
    """Counts since the worker started: requests, errors, streams, tokens and cost."""

    __slots__ = (
        "completion_tokens",
        "cost_pico",
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
        self.cost_pico = 0

    def count(self, record: RecordFields) -> None:
        """Add one record. The fields are read into typed locals: added as they come (values of
        a tuple of Any), each sum was a generic addition of boxed integers."""
        self.requests += 1
        status: int = record[_STATUS]
        if status >= 400:
            self.errors += 1
            source = record[_ERROR_SOURCE]
            if source == "upstream":
                self.upstream_errors += 1
            elif source == "internal":
                self.internal_errors += 1
        if record[_STREAM]:
            self.streamed += 1
        prompt: int = record[_INPUT]
        completion: int = record[_OUTPUT]
        cost: int = record[_COST]
        self.prompt_tokens += prompt
        self.completion_tokens += completion
        self.cost_pico += cost

    def snapshot(self) -> RequestCounts:
        return RequestCounts(
            requests=self.requests,
            errors=self.errors,
            upstream_errors=self.upstream_errors,
            internal_errors=self.internal_errors,
            streamed=self.streamed,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            cost=self.cost_pico / PICO_PER_USD,
        )
