"""The automatic tool loop (Agentic Lite): a chat request sent with ``x-ferrogate-tools: auto``.

Before each model call the worker's request hooks run (the built-in one offers the MCP
tools the key may run, after the client's own tools). When the model answers with calls,
all of them to tools in their server's ``tools_to_auto_execute`` (and no more than
``[agentic].max_tool_calls_per_step``), the gateway runs them one after another, appends
the assistant message and one ``tool`` message per call, and calls the model again, up
to ``[agentic].max_steps`` model calls. Any other answer goes back to the client as the
model gave it: text, or calls the client runs itself (its own tools, or MCP tools not
marked auto-execute, which it may run through ``/v1/tools/execute``).

Each tool call is a request of its own for governance: policy, the key's request limits,
a record with the tool as model, metrics and an audit event, exactly as
``/v1/tools/execute``. A failed call (refused, server down, timeout, invalid arguments)
becomes the tool message's text, so the model can recover. The model calls are one
request: fallback per call, their usage summed into the answer's ``usage`` and the
record, each priced at the rates of the provider that answered it.

A streamed request: model calls are made unstreamed; the response starts after the
first one answers, each tool call is reported as an SSE comment as it finishes
(``: tool_call {json}``, which SSE clients skip), and the final answer is sent as chunk
events. Every loop is one tool session (``x-ferrogate-tool-session``), whose steps,
model calls included, ``GET /admin/v1/tool-sessions/{id}`` shows.
"""

from __future__ import annotations

import os
from time import perf_counter
from typing import Any

import orjson

from ferrogate import ipc
from ferrogate.ai.providers.base import ClientRequest, Endpoint
from ferrogate.ai.translate.chat_replay import replay_chat_answer
from ferrogate.ai.usage import Usage
from ferrogate.errors import ErrorSource, GatewayError
from ferrogate.mcp.model import CatalogTool
from ferrogate.pipeline.account import account
from ferrogate.pipeline.context import RequestContext
from ferrogate.pipeline.dispatch import Dispatcher
from ferrogate.pipeline.parse import decode_body
from ferrogate.pipeline.relay import JSON_LINES, SSE_LINES, Dispatched, gateway_lines
from ferrogate.pipeline.request_hooks import ModelCall
from ferrogate.pipeline.runtime import AiRuntime
from ferrogate.pipeline.tool_desk import ToolDesk
from ferrogate.pipeline.tools import arguments_json, run_tool, visible_tools

_EXECUTE_SCOPE = "tools.execute"


class ToolLoop:
    __slots__ = ("auto", "body", "ctx", "desk", "include_usage", "last", "offered", "rt", "session_id", "steps",
                 "stream", "tool_calls")

    def __init__(self, rt: AiRuntime, ctx: RequestContext) -> None:
        desk = rt.tools
        if desk is None:
            raise GatewayError(
                400,
                "x-ferrogate-tools: auto runs MCP tools, and this gateway has no [[mcp_servers]]",
                code="tools_unavailable",
                param="x-ferrogate-tools",
            )
        key = ctx.api_key
        if key is not None and _EXECUTE_SCOPE not in key.scopes and "*" not in key.scopes:
            raise GatewayError(
                403,
                f"API key {key.id!r} lacks the scope {_EXECUTE_SCOPE!r} (x-ferrogate-tools: auto runs tools)",
                code="insufficient_scope",
            )
        req = ctx.request
        assert req is not None
        self.rt = rt
        self.ctx = ctx
        self.desk: ToolDesk = desk
        self.offered: list[CatalogTool] = [t for t in visible_tools(rt, key) if t.executable]
        self.auto = {t.name for t in self.offered if t.auto_execute}
        body = orjson.loads(req.body)  # parse decoded it: a JSON object
        body["stream"] = False
        body.pop("stream_options", None)
        self.body: dict[str, Any] = body
        self.stream = req.stream
        self.include_usage = req.client_wants_usage
        self.session_id = "ts_" + os.urandom(12).hex()
        self.steps = 0  # model calls made
        self.tool_calls = 0  # tool calls run
        self.last: Dispatched | None = None

    async def run(self) -> None:
        ctx = self.ctx
        limits = self.desk.agentic
        started = False
        req: ClientRequest | None = None
        try:
            while True:
                req, answer = await self._model_call()
                if self.stream and not started:
                    self._start()
                    started = True
                calls = _tool_calls(answer)
                if not self._runs(calls, limits.max_steps, limits.max_tool_calls_per_step):
                    break
                messages = self.body.get("messages")
                assert isinstance(messages, list)  # the chat head requires it
                messages.append(_assistant_turn(answer))
                for call in calls:
                    messages.append(await self._run_call(call, started))
        except GatewayError as err:
            if not started:
                raise
            ctx.error = err
            assert self.last is not None and req is not None
            ctx.exchange.write(self.last.adapter.emit_error(req, err))
            ctx.exchange.end()
            return
        self._answer(answer, started)

    # -- the model

    async def _model_call(self) -> tuple[ClientRequest, dict[str, Any]]:
        rt, ctx = self.rt, self.ctx
        self.steps += 1
        call = ModelCall(self.body, ctx.api_key, self.steps, self.offered)
        for hook in self.desk.hooks:
            hook.before_model_call(call)
        req = decode_body(Endpoint.CHAT, orjson.dumps(self.body))
        began = perf_counter()
        d = await Dispatcher(rt, ctx, req, ctx.candidates).next()
        self.last = d
        ctx.candidate = d.candidate
        ctx.exchange.log_upstream = d.candidate.key
        body, usage = d.adapter.translate_response(req, d.body or b"")
        try:
            answer = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise _bad_answer(d) from None
        if not isinstance(answer, dict):
            raise _bad_answer(d)
        self._count(d, usage)
        choice = _first_choice(answer)
        names = [_call_name(c) or "" for c in _tool_calls(answer)]
        key = ctx.api_key
        self.desk.note(ipc.ToolSessionNote(
            session_id=self.session_id, request_id=ctx.request_id.decode("latin-1"),
            key_id=key.id if key is not None else None, model=req.model, provider=d.candidate.provider,
            prompt_tokens=usage.prompt_tokens if usage is not None else 0,
            completion_tokens=usage.completion_tokens if usage is not None else 0,
            duration_ms=(perf_counter() - began) * 1000.0,
            finish_reason=choice.get("finish_reason"), tool_calls=names,
        ))
        return req, answer

    def _count(self, d: Dispatched, usage: Usage | None) -> None:
        """Add one model call's usage (and its price at its provider's rates) to the request's."""
        ctx = self.ctx
        if usage is None:
            return
        before = ctx.usage
        ctx.usage = usage if before is None else Usage(
            prompt_tokens=before.prompt_tokens + usage.prompt_tokens,
            completion_tokens=before.completion_tokens + usage.completion_tokens,
            total_tokens=before.total_tokens + usage.total_tokens,
            cached_tokens=before.cached_tokens + usage.cached_tokens,
            cache_creation_tokens=before.cache_creation_tokens + usage.cache_creation_tokens,
            reasoning_tokens=before.reasoning_tokens + usage.reasoning_tokens,
            source="estimated" if "estimated" in (before.source, usage.source) else "provider",
        )
        cand = d.candidate
        if cand.priced:
            pico = cand.usage_cost_pico(
                usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens, usage.reasoning_tokens
            )
            ctx.cost_pico = (ctx.cost_pico or 0) + pico

    def _runs(self, calls: list[dict[str, Any]], max_steps: int, max_calls: int) -> bool:
        """Whether the gateway runs these calls and asks again (else they go to the client)."""
        if not calls or self.steps >= max_steps or len(calls) > max_calls:
            return False
        return all(_call_name(c) in self.auto for c in calls)

    # -- the tools

    async def _run_call(self, call: dict[str, Any], started: bool) -> dict[str, Any]:
        """Run one tool call as a governed request of its own; its ``tool`` message."""
        rt, ctx = self.rt, self.ctx
        self.tool_calls += 1
        name = _call_name(call) or ""
        function = call.get("function") or {}
        sub = RequestContext(
            ctx.exchange, b"%b.t%d" % (ctx.request_id, self.tool_calls), Endpoint.TOOLS, _EXECUTE_SCOPE,
            ctx.flavor, perf_counter(),
        )
        sub.api_key = ctx.api_key
        tracer = rt.tracer
        if tracer is not None and ctx.trace_id is not None:
            sub.trace_id, sub.parent_span_id, sub.span_id = ctx.trace_id, ctx.span_id, tracer.span_id()
        is_error = True
        try:
            reply = await run_tool(
                rt, sub, name, arguments_json(function.get("arguments")), self.session_id, open_session=True
            )
            text, is_error = _tool_text(reply.body)
        except GatewayError as err:
            sub.error = err
            sub.status = err.status
            text = f"[the gateway could not run {name}: {err.message}]"
        finally:
            account(rt, sub)
        if started:
            report = {"tool": name, "id": call.get("id"), "is_error": is_error, "status": sub.status}
            ctx.exchange.write(b": tool_call " + orjson.dumps(report) + b"\n\n")
            await ctx.exchange.drain()
        return {"role": "tool", "tool_call_id": call.get("id") or "", "content": text}

    # -- the answer

    def _start(self) -> None:
        ctx = self.ctx
        assert self.last is not None
        now = perf_counter()
        ctx.status = 200
        ctx.first_byte_at = now
        ctx.exchange.start_response(200, gateway_lines(ctx, self.last, now, SSE_LINES + self._session_lines()))

    def _answer(self, answer: dict[str, Any], started: bool) -> None:
        ctx = self.ctx
        usage = ctx.usage
        if usage is not None and self.steps > 1:  # the client is charged for every call
            answer["usage"] = {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "total_tokens": usage.prompt_tokens + usage.completion_tokens,
            }
        ctx.status = 200
        if started:
            ctx.exchange.write(replay_chat_answer(answer, self.include_usage))
            ctx.exchange.end()
            return
        assert self.last is not None
        now = perf_counter()
        ctx.first_byte_at = now
        lines = JSON_LINES + self._session_lines() + b"x-ferrogate-tool-steps: %d\r\n" % self.steps
        ctx.exchange.respond(200, gateway_lines(ctx, self.last, now, lines), orjson.dumps(answer))

    def _session_lines(self) -> bytes:
        return b"x-ferrogate-tool-session: " + self.session_id.encode() + b"\r\n"


def _first_choice(answer: dict[str, Any]) -> dict[str, Any]:
    choices = answer.get("choices")
    first = choices[0] if isinstance(choices, list) and choices else None
    return first if isinstance(first, dict) else {}


def _tool_calls(answer: dict[str, Any]) -> list[dict[str, Any]]:
    message = _first_choice(answer).get("message")
    calls = message.get("tool_calls") if isinstance(message, dict) else None
    return [c for c in calls if isinstance(c, dict)] if isinstance(calls, list) else []


def _call_name(call: dict[str, Any]) -> str | None:
    function = call.get("function")
    name = function.get("name") if isinstance(function, dict) else None
    return name if isinstance(name, str) else None


def _assistant_turn(answer: dict[str, Any]) -> dict[str, Any]:
    """The model's message as the next call's history: role, content and tool calls only
    (fields such as ``refusal`` or ``annotations`` are answers, not inputs)."""
    message = _first_choice(answer).get("message") or {}
    return {"role": "assistant", "content": message.get("content"), "tool_calls": _tool_calls(answer)}


def _tool_text(body: bytes) -> tuple[str, bool]:
    """A tool's result as a ``tool`` message's text: its text blocks, other blocks as JSON,
    the structured content when there is nothing else; and whether the tool said it failed."""
    result = orjson.loads(body)
    parts: list[str] = []
    for block in result.get("content") or []:
        if isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
        else:
            parts.append(orjson.dumps(block).decode())
    if not parts and result.get("structuredContent") is not None:
        parts.append(orjson.dumps(result["structuredContent"]).decode())
    is_error = bool(result.get("isError"))
    text = "\n".join(parts)
    return ("[tool error] " + text if is_error else text), is_error


def _bad_answer(d: Dispatched) -> GatewayError:
    return GatewayError(
        502,
        f"provider {d.candidate.provider!r} answered something that is not a chat completion",
        code="upstream_invalid_response",
        source=ErrorSource.UPSTREAM,
    )
