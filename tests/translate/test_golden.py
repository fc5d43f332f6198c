"""Golden transcripts: each recorded-shape upstream stream, translated, equals its expected file
event by event. Regenerate after an intended change with FERROGATE_REGOLD=1 and review the diff."""

from __future__ import annotations

import os

import pytest

from tests.translate.streams import FIXTURES, cases, events, translate


@pytest.mark.parametrize(("family", "case"), cases())
def test_translated_stream_matches_golden_transcript(family: str, case: str) -> None:
    src = (FIXTURES / family / f"{case}.sse").read_bytes()
    expected_path = FIXTURES / family / f"{case}.expected"
    got, _ = translate(family, src)
    if os.environ.get("FERROGATE_REGOLD"):
        expected_path.write_bytes(got)
    expected = expected_path.read_bytes()
    got_events, want_events = events(got), events(expected)
    for i, (g, w) in enumerate(zip(got_events, want_events, strict=False)):
        assert g == w, f"{family}/{case}: event {i} differs"
    assert len(got_events) == len(want_events), f"{family}/{case}: event count differs"
