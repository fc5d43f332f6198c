"""A mock upstream speaking the Gemini API (generativelanguage v1beta) wire format, with faults.

``POST /v1beta/models/{model}:generateContent`` → GenerateContentResponse;
``:streamGenerateContent?alt=sse`` → ``data: {...}\\r\\n\\r\\n`` events, the last one with
``finishReason`` and ``usageMetadata`` (Gemini sends no terminal event);
``:embedContent`` / ``:batchEmbedContents`` → embeddings. The key must come in
``x-goog-api-key``. Errors use Google's ``{"error":{"code","message","status"}}``.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from tests.support.mock_anthropic import Fault, MockServer, Recorded, ToolCall

__all__ = ["Fault", "GeminiScript", "MockGemini", "ToolCall", "gemini_events", "gemini_json"]

_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


@dataclass
class GeminiScript:
    text: str = "Hello from the mock Gemini model."
    thought: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    prompt_tokens: int = 17
    candidates_tokens: int = 8
    cached_tokens: int = 0
    thoughts_tokens: int = 0
    finish_reason: str = "STOP"


def _usage(s: GeminiScript) -> dict[str, Any]:
    u: dict[str, Any] = {"promptTokenCount": s.prompt_tokens, "candidatesTokenCount": s.candidates_tokens,
                         "totalTokenCount": s.prompt_tokens + s.candidates_tokens + s.thoughts_tokens}
    if s.cached_tokens:
        u["cachedContentTokenCount"] = s.cached_tokens
    if s.thoughts_tokens:
        u["thoughtsTokenCount"] = s.thoughts_tokens
    return u


def _parts(s: GeminiScript) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if s.thought:
        parts.append({"text": s.thought, "thought": True})
    if s.text:
        parts.append({"text": s.text})
    parts.extend({"functionCall": {"name": tc.name, "args": tc.arguments}} for tc in s.tool_calls)
    return parts


def gemini_json(s: GeminiScript, model: str) -> dict[str, Any]:
    return {
        "candidates": [{"content": {"parts": _parts(s), "role": "model"}, "finishReason": s.finish_reason, "index": 0}],
        "usageMetadata": _usage(s),
        "modelVersion": model,
        "responseId": "mock-response-0001",
    }


def gemini_events(s: GeminiScript, model: str) -> list[bytes]:
    chunks: list[dict[str, Any]] = []
    if s.thought:
        chunks.append({"content": {"parts": [{"text": s.thought, "thought": True}], "role": "model"}, "index": 0})
    words = s.text.split(" ") if s.text else []
    for i, word in enumerate(words):
        piece = word + (" " if i < len(words) - 1 else "")
        chunks.append({"content": {"parts": [{"text": piece}], "role": "model"}, "index": 0})
    if s.tool_calls:
        calls = [{"functionCall": {"name": tc.name, "args": tc.arguments}} for tc in s.tool_calls]
        chunks.append({"content": {"parts": calls, "role": "model"}, "index": 0})
    if not chunks:
        chunks.append({"content": {"parts": [{"text": ""}], "role": "model"}, "index": 0})
    chunks[-1]["finishReason"] = s.finish_reason
    out = []
    for i, cand in enumerate(chunks):
        ev: dict[str, Any] = {"candidates": [cand], "modelVersion": model, "responseId": "mock-response-0001"}
        last = i == len(chunks) - 1
        ev["usageMetadata"] = _usage(s) if last else {"promptTokenCount": s.prompt_tokens,
                                                      "totalTokenCount": s.prompt_tokens}
        out.append(b"data: " + json.dumps(ev, separators=(",", ":")).encode() + b"\r\n\r\n")
    return out


def error_body(status: int, message: str, status_name: str | None = None) -> dict[str, Any]:
    return {"error": {"code": status, "message": message, "status": status_name or _STATUS.get(status, "INTERNAL")}}


class MockGemini(MockServer):
    def __init__(self, script: GeminiScript | None = None) -> None:
        super().__init__()
        self.script = script

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script_for(self, doc: dict[str, Any]) -> GeminiScript:
        if self.script is not None:
            return self.script
        tools = doc.get("tools") or []
        last = (doc.get("contents") or [{}])[-1]
        answered = any("functionResponse" in p for p in last.get("parts") or ())
        if tools and not answered:
            name = tools[0]["functionDeclarations"][0]["name"]
            return GeminiScript(text="", tool_calls=[ToolCall(name, {"city": "Paris", "days": 3})])
        return GeminiScript()

    async def respond(self, w: asyncio.StreamWriter, rec: Recorded, fault: Fault | None) -> None:
        path, _, query = rec.path.partition("?")
        if not rec.headers.get("x-goog-api-key"):
            await self.send_json(w, 403, error_body(403, "Method doesn't allow unregistered callers. Please use API Key."))
            return
        if fault is not None and fault.status is not None:
            extra = {"retry-after": fault.retry_after} if fault.retry_after else None
            await self.send_json(w, fault.status, error_body(fault.status, fault.message, fault.error_type), extra)
            return
        prefix = "/v1beta/models/"
        if not path.startswith(prefix) or ":" not in path:
            await self.send_json(w, 404, error_body(404, f"no route {path}"))
            return
        model, _, method = path[len(prefix):].partition(":")
        doc = rec.json()
        if method == "embedContent":
            text = doc["content"]["parts"][0]["text"]
            await self.send_json(w, 200, {"embedding": {"values": self._vector(text, doc)}})
            return
        if method == "batchEmbedContents":
            vecs = [{"values": self._vector(r["content"]["parts"][0]["text"], r)} for r in doc["requests"]]
            await self.send_json(w, 200, {"embeddings": vecs})
            return
        if "contents" not in doc:
            await self.send_json(w, 400, error_body(400, "* GenerateContentRequest.contents: contents is not specified"))
            return
        script = self.script_for(doc)
        if method == "generateContent":
            await self.send_json(w, 200, gemini_json(script, model))
            return
        if method == "streamGenerateContent" and query == "alt=sse":
            events = gemini_events(script, model)
            if fault is not None and fault.error_after_events is not None:
                err = b"data: " + json.dumps(error_body(503, "The model is overloaded.")).encode() + b"\r\n\r\n"
                events = [*events[: fault.error_after_events], err]
            elif fault is not None and fault.stop_after_events is not None:
                events = events[: fault.stop_after_events]
            await self.send_sse(w, events)
            return
        await self.send_json(w, 404, error_body(404, f"unknown method {method}"))

    @staticmethod
    def _vector(text: str, req: dict[str, Any]) -> list[float]:
        dims = int(req.get("outputDimensionality") or 4)
        return [round((len(text) + i) / 10, 3) for i in range(dims)]
