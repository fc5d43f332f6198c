"""Latency at one connection: the client's view and FerroGate's own overhead header."""

from __future__ import annotations

import http.client
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.procs import LOOPBACK
from benchmarks.stats import percentile

OVERHEAD_HEADER = "x-ferrogate-overhead-ms"


def one_connection_latency(port: int, path: str, body: bytes, *, count: int,
                           headers: Sequence[tuple[str, str]] = (),
                           deadline_secs: float = 60.0) -> dict[str, Any]:
    """Send up to ``count`` sequential keep-alive POSTs; stop early at the deadline."""
    hdrs = {"Content-Type": "application/json", **dict(headers)}
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=10)
    client_ms: list[float] = []
    overhead_ms: list[float] = []
    errors = missing_header = 0
    deadline = time.monotonic() + deadline_secs
    try:
        for _ in range(count):
            if time.monotonic() > deadline:
                break
            t0 = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers=hdrs)
                resp = conn.getresponse()
                resp.read()
            except (OSError, http.client.HTTPException):
                errors += 1
                conn.close()
                continue
            client_ms.append((time.perf_counter() - t0) * 1000)
            if resp.status != 200:
                errors += 1
            value = resp.getheader(OVERHEAD_HEADER)
            if value is None:
                missing_header += 1
            else:
                try:
                    overhead_ms.append(float(value))
                except ValueError:
                    missing_header += 1
    finally:
        conn.close()
    return {
        "requests": len(client_ms),
        "errors": errors,
        "client_p50_ms": percentile(client_ms, 50),
        "client_p99_ms": percentile(client_ms, 99),
        "overhead_header_seen": len(overhead_ms),
        "overhead_missing": missing_header,
        "overhead_p50_ms": percentile(overhead_ms, 50),
        "overhead_p99_ms": percentile(overhead_ms, 99),
        "overhead_max_ms": max(overhead_ms) if overhead_ms else None,
    }
