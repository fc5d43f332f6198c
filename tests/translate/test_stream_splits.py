"""Any split of the upstream byte stream into reads gives the same translated output."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.translate.streams import FIXTURES, cases, events, translate

_CASES = cases()
_DATA = {c: (FIXTURES / c[0] / f"{c[1]}.sse").read_bytes() for c in _CASES}
_WHOLE = {c: translate(c[0], _DATA[c])[0] for c in _CASES}


@pytest.mark.parametrize(("family", "case"), _CASES)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_translation_is_independent_of_read_boundaries(family: str, case: str, data: st.DataObject) -> None:
    raw = _DATA[(family, case)]
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(raw)), max_size=40))
    got, _ = translate(family, raw, sorted(cuts))
    assert got == _WHOLE[(family, case)]


@pytest.mark.parametrize(("family", "case"), _CASES)
def test_translation_survives_one_byte_reads(family: str, case: str) -> None:
    raw = _DATA[(family, case)]
    got, _ = translate(family, raw, list(range(1, len(raw))))
    assert got == _WHOLE[(family, case)]


@pytest.mark.parametrize("family", ["anthropic", "openai_to_anthropic"])
def test_crlf_line_endings_translate_like_lf(family: str) -> None:
    raw = (FIXTURES / family / "text.sse").read_bytes()
    assert translate(family, raw.replace(b"\n", b"\r\n"))[0] == translate(family, raw)[0]


def _compact(raw: bytes) -> bytes:
    """The same SSE with each data payload re-encoded compactly, as Anthropic itself sends it."""
    import json

    out = []
    for line in raw.split(b"\n"):
        if line.startswith(b"data: "):
            line = b"data: " + json.dumps(json.loads(line[6:]), separators=(",", ":"), ensure_ascii=False).encode()
        out.append(line)
    return b"\n".join(out)


@pytest.mark.parametrize("case", [c for f, c in _CASES if f == "anthropic"])
def test_compact_anthropic_events_take_the_fast_path_to_the_same_chunks(case: str) -> None:
    import json

    raw = _DATA[("anthropic", case)]
    compact = _compact(raw)
    assert b'"type":"text_delta","text":' in compact
    fast = [json.loads(e[6:]) if e.startswith("data: {") else e for e in events(translate("anthropic", compact)[0])]
    slow = [json.loads(e[6:]) if e.startswith("data: {") else e for e in events(translate("anthropic", raw)[0])]
    assert fast == slow


def test_fast_path_keeps_escapes_and_unicode_exact() -> None:
    import json

    text = 'He said "hi" \\ caf\u00e9 \U0001f600 \n\t</script>'
    ev = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}
    start = (FIXTURES / "anthropic" / "text.sse").read_bytes().split(b"\n\n")[0] + b"\n\n"
    block = b"event: content_block_delta\ndata: " + json.dumps(ev, separators=(",", ":")).encode() + b"\n\n"
    out, _ = translate("anthropic", start + block)
    chunk = json.loads(events(out)[1][6:])
    assert chunk["choices"][0]["delta"]["content"] == text


def test_error_before_any_content_is_held_back_so_the_relay_can_fall_back() -> None:
    raw = (FIXTURES / "anthropic" / "error_event.sse").read_bytes()
    head = raw.split(b"\n\n")[0] + b"\n\n"  # message_start only
    err = raw[raw.rindex(b"event: error"):]
    out, t = translate("anthropic", head + err)
    assert out == b""
    assert not t.complete
    assert b"overloaded_error" in t.early_error  # type: ignore[attr-defined]


def test_truncation_before_any_content_writes_nothing() -> None:
    raw = (FIXTURES / "openai_to_anthropic" / "text.sse").read_bytes()
    first = raw.split(b"\n\n")[0] + b"\n\n"  # the role chunk carries no content
    out, t = translate("openai_to_anthropic", first)
    assert out == b"" and not t.complete


@pytest.mark.parametrize("family", ["anthropic", "gemini", "openai_to_anthropic", "openai_to_responses"])
@pytest.mark.parametrize("payload", [b"[1, 2]", b'"text"', b'{"type": "content_block_delta", "delta": "x", "index": 0}',
                                     b'{"choices": "nope"}', b'{"candidates": [{"content": 5}]}'])
def test_events_of_the_wrong_shape_end_the_stream_with_an_error_not_a_crash(family: str, payload: bytes) -> None:
    raw = (FIXTURES / family / "text.sse").read_bytes()
    first = raw.replace(b"\r\n", b"\n").split(b"\n\n")[:2]
    stream = b"\n\n".join(first) + b"\n\ndata: " + payload + b"\n\n"
    out, t = translate(family, stream)
    assert not t.complete
    final = (out + t.early_error).rstrip(b"\n").rsplit(b"\n\n", 1)[-1]  # type: ignore[attr-defined]
    assert b"error" in final  # an error event (invalid event, or truncated when the event was ignored)
