"""Many concurrent SSE streams through one target, each checked for its terminal event.

All connections are opened first and the requests sent only once every connection is up,
so the target really holds ``count`` streams at once. Raw asyncio sockets keep the client
cheap (no HTTP library per stream).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.httpwire import last_event, response_body
from benchmarks.procs import LOOPBACK, raw_request
from benchmarks.stats import percentile

OPENAI_TERMINAL = b"data: [DONE]"


@dataclass(frozen=True, slots=True)
class StreamOutcome:
    ok: bool
    reason: str
    seconds: float


def ends_with_terminal(body: bytes, terminal: bytes = OPENAI_TERMINAL) -> bool:
    """True when the stream's last event starts with ``terminal`` (``data: [DONE]``,
    ``event: message_stop``)."""
    return last_event(body).startswith(terminal)


async def _open(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(LOOPBACK, port)


async def _finish(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], request: bytes,
                  terminal: bytes) -> StreamOutcome:
    reader, writer = conn
    t0 = time.monotonic()
    try:
        writer.write(request)
        await writer.drain()
        raw = await reader.read(-1)  # the request says Connection: close
        status, body = response_body(raw)
        if status != 200:
            return StreamOutcome(False, f"HTTP {status}", time.monotonic() - t0)
        if not ends_with_terminal(body, terminal):
            return StreamOutcome(False, "no terminal event", time.monotonic() - t0)
        return StreamOutcome(True, "ok", time.monotonic() - t0)
    except (OSError, ValueError, IndexError) as exc:
        return StreamOutcome(False, type(exc).__name__, time.monotonic() - t0)
    finally:
        writer.close()


async def _run(port: int, request: bytes, count: int, terminal: bytes,
               timeout_secs: float) -> list[StreamOutcome]:
    opened = await asyncio.gather(*(_open(port) for _ in range(count)), return_exceptions=True)
    conns = [c for c in opened if not isinstance(c, BaseException)]
    failed = [StreamOutcome(False, f"connect: {type(c).__name__}", 0.0)
              for c in opened if isinstance(c, BaseException)]
    tasks = [asyncio.ensure_future(_finish(c, request, terminal)) for c in conns]
    done, pending = await asyncio.wait(tasks, timeout=timeout_secs) if tasks else (set(), set())
    for task in pending:
        task.cancel()
    for conn in conns:  # connections whose task was cancelled
        conn[1].close()
    return failed + [t.result() for t in done] + [
        StreamOutcome(False, "stalled past the deadline", timeout_secs) for _ in pending]


def concurrent_streams(port: int, path: str, body: bytes, *, count: int,
                       headers: Sequence[tuple[str, str]] = (), timeout_secs: float = 60.0,
                       terminal: bytes = OPENAI_TERMINAL) -> dict[str, Any]:
    """Run ``count`` simultaneous streams; summarise successes, failures and durations."""
    request = raw_request("POST", path, body=body, headers=headers)
    t0 = time.monotonic()
    outcomes = asyncio.run(_run(port, request, count, terminal, timeout_secs))
    wall = time.monotonic() - t0
    times = [o.seconds for o in outcomes if o.ok]
    return {
        "count": count,
        "ok": sum(o.ok for o in outcomes),
        "failures": dict(Counter(o.reason for o in outcomes if not o.ok)),
        "wall_s": round(wall, 3),
        "stream_p50_s": percentile(times, 50),
        "stream_p99_s": percentile(times, 99),
        "stream_max_s": max(times) if times else None,
    }
