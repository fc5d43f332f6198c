"""Any split of the upstream byte stream into reads gives the same translated output."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.translate.streams import FIXTURES, cases, translate

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
