"""Phase (chat completions, before dispatch): the automatic tool loop, for a request that
asked for it (``ctx.tool_loop``, set by parse from ``x-ferrogate-tools: auto``).

Its own compiled module: every chat request passes through this test, and the loop
itself (:mod:`ferrogate.pipeline.tool_loop`) is plain Python, entered only when asked.
"""

from __future__ import annotations

from collections.abc import Awaitable

from ferrogate.pipeline.context import RequestContext
from ferrogate.pipeline.runtime import AiRuntime
from ferrogate.pipeline.tool_loop import ToolLoop


def tool_loop(rt: AiRuntime, ctx: RequestContext) -> Awaitable[None] | None:
    if not ctx.tool_loop:
        return None
    return ToolLoop(rt, ctx).run()
