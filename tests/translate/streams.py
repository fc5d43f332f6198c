"""The stream translators under test, built with fixed ids and timestamps so output is reproducible."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ferrogate.ai.providers.base import StreamTranslator
from ferrogate.ai.translate.anthropic_stream import AnthropicToOpenAIStream
from ferrogate.ai.translate.gemini_stream import GeminiToOpenAIStream
from ferrogate.ai.translate.messages_stream import OpenAIToAnthropicStream
from ferrogate.ai.translate.responses_stream import ChatToResponsesStream

FIXTURES = Path(__file__).parent / "fixtures"
CREATED = 1_700_000_000

FAMILIES: dict[str, Callable[[], StreamTranslator]] = {
    "anthropic": lambda: AnthropicToOpenAIStream(include_usage=True, created=CREATED),
    "gemini": lambda: GeminiToOpenAIStream(
        include_usage=True, model="gemini-2.5-flash", chat_id="chatcmpl-gem0001", created=CREATED
    ),
    "openai_to_anthropic": lambda: OpenAIToAnthropicStream(model="claude-via-gateway", msg_id="msg_gw0001"),
    "openai_to_responses": lambda: ChatToResponsesStream(
        {"model": "m", "input": "hi", "tools": []}, resp_id="resp_gw0001", model="m", created_at=CREATED
    ),
}


def cases() -> list[tuple[str, str]]:
    """(family, case name) for every ``*.sse`` fixture."""
    return sorted((fam, p.stem) for fam in FAMILIES for p in (FIXTURES / fam).glob("*.sse"))


def translate(family: str, data: bytes, splits: list[int] | None = None) -> tuple[bytes, StreamTranslator]:
    """Feed ``data`` in pieces cut at ``splits`` (sorted offsets), then finish."""
    t = FAMILIES[family]()
    out: list[bytes] = []
    prev = 0
    for cut in [*(splits or []), len(data)]:
        out.append(t.feed(data[prev:cut]))
        prev = cut
    out.append(t.finish())
    return b"".join(out), t


def events(stream: bytes) -> list[str]:
    """A byte stream as its list of SSE events (for event-by-event comparison)."""
    return [e for e in stream.decode().split("\n\n") if e]
