"""Bytecodes executed per request, by function: a deterministic measure of Python work.

Timings on a shared 2-core box swing by 2x between runs; the number of bytecodes a
request executes does not, so a hot-path change can be judged by it alone.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

import uvloop


def count_opcodes(serve: Callable[[int], Awaitable[object]], requests: int) -> Counter[str]:
    """Bytecodes executed by each function while ``serve(requests)`` runs."""
    counts: Counter[str] = Counter()

    def tracer(frame: FrameType, event: str, arg: object) -> Any:
        frame.f_trace_opcodes = True
        frame.f_trace_lines = False
        code = frame.f_code
        key = f"{code.co_filename.rpartition('/')[2]}:{code.co_firstlineno}:{code.co_name}"

        def local(frame: FrameType, event: str, arg: object) -> Any:
            if event == "opcode":
                counts[key] += 1
            return local

        return local

    async def traced() -> None:
        sys.settrace(tracer)
        try:
            await serve(requests)
        finally:
            sys.settrace(None)

    uvloop.run(traced())
    return counts


def print_opcodes(label: str, serve: Callable[[int], Awaitable[object]], requests: int,
                  warmup: int, top: int = 40) -> None:
    """Per-request bytecodes: the difference of two runs (N and 2N requests), so set-up
    and warm-up costs cancel out."""
    uvloop.run(_consume(serve(warmup)))  # warm caches and lazy imports
    small = count_opcodes(serve, requests)
    large = count_opcodes(serve, 2 * requests)
    per = {k: (large[k] - small.get(k, 0)) / requests for k in large}
    print(f"{label}: {sum(per.values()):.0f} bytecodes per request")
    for key, n in sorted(per.items(), key=lambda kv: -kv[1])[:top]:
        if n >= 0.5:
            print(f"{n:8.1f}  {key}")


async def _consume(aw: Awaitable[object]) -> None:
    await aw
