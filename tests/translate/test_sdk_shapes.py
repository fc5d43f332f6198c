"""Every translated event is a valid event for the official SDK of the client's wire format."""

from __future__ import annotations

import json

import pydantic
import pytest
from anthropic.types import RawMessageStreamEvent
from openai.types.chat import ChatCompletionChunk
from openai.types.responses import ResponseStreamEvent

from tests.translate.streams import FIXTURES, cases, events, translate

_ANTHROPIC = pydantic.TypeAdapter(RawMessageStreamEvent)
_RESPONSES = pydantic.TypeAdapter(ResponseStreamEvent)


def _payload(event: str) -> tuple[str | None, str]:
    name = None
    data = []
    for line in event.split("\n"):
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])
    return name, "\n".join(data)


@pytest.mark.parametrize(("family", "case"), cases())
def test_translated_events_validate_against_the_client_sdk(family: str, case: str) -> None:
    out, t = translate(family, (FIXTURES / family / f"{case}.sse").read_bytes())
    for ev in events(out):
        name, data = _payload(ev)
        if data == "[DONE]":
            continue
        doc = json.loads(data)
        if family in ("anthropic", "gemini"):
            if "error" in doc:
                assert not t.complete
                continue
            ChatCompletionChunk.model_validate(doc, strict=False)
        elif family == "openai_to_anthropic":
            assert name == doc["type"], "Anthropic events need an event: line matching the type"
            if name == "error":
                assert not t.complete
                continue
            _ANTHROPIC.validate_python(doc)
        else:
            assert name == doc["type"]
            if name == "error":
                assert not t.complete
                continue
            _RESPONSES.validate_python(doc)


@pytest.mark.parametrize(("family", "case"), cases())
def test_successful_streams_end_with_their_terminal_event(family: str, case: str) -> None:
    out, t = translate(family, (FIXTURES / family / f"{case}.sse").read_bytes())
    last = events(out)[-1]
    terminal = {"anthropic": "data: [DONE]", "gemini": "data: [DONE]",
                "openai_to_anthropic": "event: message_stop", "openai_to_responses": "event: response."}[family]
    if t.complete:
        assert last.startswith(terminal)
        assert last.count("\n") <= 1
    else:
        assert "error" in last
