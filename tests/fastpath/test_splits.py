"""Property: however the bytes of a request are split across reads, the parse is the same."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fastpath.conftest import make_conn, parse_responses
from tests.fastpath.corpus import Case, load, methods_of
from tests.fastpath.test_corpus import recorder

pytestmark = pytest.mark.anyio

VALID = load("valid")
INVALID = [c for c in load("invalid") if len(c.raw) < 4096]

_SETTINGS = settings(max_examples=20, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


# Raw cut positions, folded into each request's length (drawn up front, so nothing is drawn
# inside the async test body).
CUTS = st.lists(st.integers(min_value=1, max_value=1 << 16), max_size=12)


def split_points(cuts: list[int], size: int) -> list[int]:
    return sorted({c % size for c in cuts} - {0})


async def drive(raw: bytes, cuts: list[int], methods: list[str]) -> tuple[list[dict[str, Any]], list[int]]:
    log: list[dict[str, Any]] = []
    conn = make_conn(recorder(log))
    previous = 0
    for cut in [*cuts, len(raw)]:
        if conn.transport.finished.is_set():
            break
        conn.feed(raw[previous:cut])
        previous = cut
        await conn.settle(5)
    await conn.settle()
    statuses = [r.status for r in parse_responses(conn.transport.take(), methods, eof=conn.transport.closed)]
    return log, statuses


@pytest.mark.parametrize("case", VALID, ids=lambda c: c.name)
@_SETTINGS
@given(cuts=CUTS)
async def test_random_splits_of_a_valid_request_parse_like_the_whole(case: Case, cuts: list[int]) -> None:
    methods = methods_of(case)
    whole = await drive(case.raw, [], methods)
    assert await drive(case.raw, split_points(cuts, len(case.raw)), methods) == whole


@pytest.mark.parametrize("case", INVALID, ids=lambda c: c.name)
@_SETTINGS
@given(cuts=CUTS)
async def test_random_splits_of_an_invalid_request_get_the_same_error(case: Case, cuts: list[int]) -> None:
    before = int(case.expect.get("answered_before", 0))
    _, statuses = await drive(case.raw, split_points(cuts, len(case.raw)), ["GET"] * (before + 1))
    assert statuses == [200] * before + [case.expect["status"]]

