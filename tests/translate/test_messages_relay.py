"""The /v1/messages pass-through relay to Anthropic: bytes unchanged, usage and completion watched."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ferrogate.ai.translate.messages_relay import AnthropicRelayStream
from tests.support.mock_anthropic import Script, message_events
from tests.translate.streams import FIXTURES

_SCRIPT = Script(text="Hello there, general Kenobi", input_tokens=12, cache_read=300, cache_creation=7,
                 output_tokens=42, thinking="hmm", thinking_tokens=5)
_STREAM = b"".join(message_events(_SCRIPT, "claude"))


def _relay(data: bytes, cuts: list[int]) -> tuple[bytes, AnthropicRelayStream]:
    t = AnthropicRelayStream()
    out, prev = [], 0
    for cut in [*cuts, len(data)]:
        out.append(t.feed(data[prev:cut]))
        prev = cut
    out.append(t.finish())
    return b"".join(out), t


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(0, len(_STREAM)), max_size=30), crlf=st.booleans())
def test_relay_forwards_the_bytes_unchanged_for_any_split(cuts: list[int], crlf: bool) -> None:
    data = _STREAM.replace(b"\n", b"\r\n") if crlf else _STREAM
    out, t = _relay(data, sorted(cuts))
    assert out == data
    assert t.complete
    u = t.usage
    assert u is not None
    assert (u.prompt_tokens, u.cached_tokens, u.cache_creation_tokens, u.completion_tokens, u.reasoning_tokens) == (
        319, 300, 7, 42, 5)


def test_relay_appends_an_anthropic_error_when_message_stop_never_comes() -> None:
    data = (FIXTURES / "anthropic" / "truncated.sse").read_bytes()
    out, t = _relay(data, [])
    assert not t.complete
    assert out.startswith(data[: data.rfind(b"\n\n") + 2])
    assert out.endswith(b"\n\n")
    assert b"event: error\ndata: " in out[len(data) - 200 :]


def test_relay_passes_an_upstream_error_event_through_and_marks_failure() -> None:
    data = (FIXTURES / "anthropic" / "error_event.sse").read_bytes()
    out, t = _relay(data, [])
    assert out == data
    assert not t.complete
