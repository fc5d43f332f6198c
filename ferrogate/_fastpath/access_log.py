"""Access log: one JSON object per request on stdout, written off the event loop.

``telemetry.access_log``: ``off``; ``error`` (5xx answers, and requests whose
client went away before an answer); ``sampled`` (every error plus
``access_log_sample_rate`` percent of the rest); ``all``. Error lines are
limited to ``access_log_error_rate_limit_per_sec`` a second; the next line after a
limited second says how many were left out (``suppressed``).

A line holds the time, request id, method, path (never the query string: some
APIs carry credentials there), status, body bytes sent, duration, the upstream
(proxy) or provider/model (AI), the virtual key's id (never the key), and the
worker slot. Lines are formatted on the loop but written by a writer thread, so
a slow stdout (a full pipe) never stalls requests: past ``MAX_PENDING_BYTES``
waiting to be written, lines are dropped and counted.
"""

from __future__ import annotations

import os
import queue
import random
import threading
import time
from datetime import UTC, datetime
from typing import Protocol

import orjson

from ferrogate._fastpath.api import Request
from ferrogate.config.model import Telemetry


class FinishedExchange(Protocol):
    """What a log line reads of a finished exchange (``exchange.HttpExchange`` has it)."""

    @property
    def request(self) -> Request: ...

    status: int
    body_bytes: int
    log_request_id: bytes | None
    log_upstream: object
    log_key_id: str | None

MAX_PENDING_BYTES = 4 * 1024 * 1024


class AccessLog:
    __slots__ = (
        "_dropped",
        "_error_limit",
        "_errors_in_window",
        "_fd",
        "_lock",
        "_pending_bytes",
        "_queue",
        "_rate",
        "_rng",
        "_suppressed",
        "_thread",
        "_window",
        "mode",
        "slot",
    )

    def __init__(self, telemetry: Telemetry, *, slot: int | None = None, fd: int = 1) -> None:
        self.mode = telemetry.access_log
        self.slot = slot
        self._rate = telemetry.access_log_sample_rate
        self._error_limit = telemetry.access_log_error_rate_limit_per_sec
        self._rng = random.Random()
        self._fd = fd
        self._window = 0
        self._errors_in_window = 0
        self._suppressed = 0
        self._dropped = 0
        self._pending_bytes = 0
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._write_lines, name="access-log", daemon=True)
        self._thread.start()

    @classmethod
    def from_config(cls, telemetry: Telemetry, *, slot: int | None = None) -> AccessLog | None:
        return None if telemetry.access_log == "off" else cls(telemetry, slot=slot)

    def record(self, exchange: FinishedExchange, now: float, duration_secs: float) -> None:
        """Called once per finished (or abandoned) exchange."""
        status = exchange.status
        error = status >= 500 or status == 0
        mode = self.mode
        if not error and (mode == "error" or (mode == "sampled" and self._rng.random() * 100.0 >= self._rate)):
            return
        suppressed = 0
        if error and self._error_limit > 0:
            second = int(now)
            if second != self._window:
                self._window, self._errors_in_window = second, 0
            self._errors_in_window += 1
            if self._errors_in_window > self._error_limit:
                self._suppressed += 1
                return
            suppressed, self._suppressed = self._suppressed, 0
        self._emit(exchange, status, duration_secs, suppressed)

    def _emit(self, exchange: FinishedExchange, status: int, duration_secs: float, suppressed: int) -> None:
        req = exchange.request
        line: dict[str, object] = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "request_id": _text(exchange.log_request_id or req.header(b"x-request-id")),
            "method": req.method.decode("latin-1"),
            "path": req.path.decode("latin-1"),
            "status": status or None,
            "bytes": exchange.body_bytes,
            "duration_ms": round(duration_secs * 1000.0, 3),
        }
        upstream = exchange.log_upstream
        if isinstance(upstream, tuple):
            line["provider"], line["model"] = upstream
        elif upstream is not None:
            line["upstream"] = upstream
        if exchange.log_key_id is not None:
            line["key_id"] = exchange.log_key_id
        if self.slot is not None:
            line["slot"] = self.slot
        if suppressed:
            line["suppressed"] = suppressed
        if status == 0:
            line["client_closed"] = True
        data = orjson.dumps(line) + b"\n"
        with self._lock:
            if self._pending_bytes + len(data) > MAX_PENDING_BYTES:
                self._dropped += 1
                return
            self._pending_bytes += len(data)
        self._queue.put(data)

    @property
    def dropped(self) -> int:
        """Lines left out because stdout could not keep up."""
        return self._dropped

    def close(self) -> None:
        """Write what is queued and stop the writer (at worker exit)."""
        self._queue.put(None)
        self._thread.join(timeout=2.0)

    def _write_lines(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            parts = [item]
            while len(parts) < 256:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._write(b"".join(parts))
                    return
                parts.append(more)
            self._write(b"".join(parts))

    def _write(self, data: bytes) -> None:
        size = len(data)
        view = memoryview(data)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError:
            time.sleep(0.1)  # stdout closed or failing: these lines are lost, keep going
        with self._lock:
            self._pending_bytes -= size


def _text(value: bytes | None) -> str | None:
    return value.decode("latin-1") if value is not None else None
