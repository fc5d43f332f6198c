"""The Responses stream passthrough reads only the events that name a terminal event, and
finds what reading every event finds: the stream complete or not, its usage, and its event
count, whatever the events, their line endings and how the stream is cut into reads."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from ferrogate._fastpath.sse import EventSplitter, event_data, event_name, split_events
from ferrogate.ai.passthrough import ResponsesPassthrough
from ferrogate.ai.usage import Usage
from ferrogate.ai.usage_openai import responses_event_usage

TERMINAL = (b"response.completed", b"response.incomplete", b"response.failed")
NAMES = [*(t.decode() for t in TERMINAL), "response.output_text.delta", "response.created", None]


def every_event_read(reads: list[bytes]) -> tuple[bool, Usage | None, int]:
    """What reading every event finds: each one split apart, named, and a terminal one decoded."""
    split, complete, usage, events = EventSplitter(), False, None, 0
    for data in reads:
        block = split.feed(data)
        events += block.count(b"data:")
        for event in split_events(block):
            name = event_name(event)
            if name in TERMINAL or name is None:
                payload = event_data(event)
                if name is None and not any(payload.find(t) != -1 for t in TERMINAL):
                    continue
                found = responses_event_usage(payload)
                if found is not None:
                    usage = found
                complete = True
    return complete, usage, events


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    parts = []
    for i in range(draw(st.integers(0, 8))):
        name = draw(st.sampled_from(NAMES))
        text = draw(st.sampled_from(["Hello", "response.completed", "response.failed later", ""]))
        data: dict[str, object] = {"type": name or "message", "sequence_number": i, "delta": text}
        if draw(st.booleans()):
            data["response"] = {"usage": {"input_tokens": i, "output_tokens": draw(st.integers(0, 9)),
                                          "total_tokens": 20}}
        line_end = draw(st.sampled_from(["\n", "\n", "\n", "\r\n"]))
        lines = ([f"event: {name}"] if name else []) + [f"data: {json.dumps(data)}"]
        extra = draw(st.sampled_from(["", "", "\n"]))  # now and then a third newline
        parts.append(line_end.join(lines) + line_end * 2 + extra)
    return "".join(parts).encode()


@settings(max_examples=500, deadline=None)
@given(streams(), st.lists(st.integers(1, 400), max_size=4))
def test_the_passthrough_finds_what_reading_every_event_finds(stream: bytes, cuts: list[int]) -> None:
    points = sorted({c % (len(stream) + 1) for c in cuts})
    reads = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    passthrough = ResponsesPassthrough()
    out = b"".join(passthrough.feed(r) for r in reads)
    assert out == stream[: len(out)]
    assert (passthrough.complete, passthrough.usage, passthrough._events) == every_event_read(reads)


def test_only_the_terminal_event_of_a_long_stream_is_read() -> None:
    deltas = "".join(f"event: response.output_text.delta\ndata: {json.dumps({'delta': 'w'})}\n\n" for _ in range(50))
    done = {"type": "response.completed", "response": {"usage": {"input_tokens": 3, "output_tokens": 50,
                                                                 "total_tokens": 53}}}
    stream = (deltas + f"event: response.completed\ndata: {json.dumps(done)}\n\n").encode()
    passthrough = ResponsesPassthrough()
    assert passthrough.feed(stream) == stream
    assert passthrough.complete and passthrough._events == 51
    assert passthrough.usage is not None and passthrough.usage.completion_tokens == 50
