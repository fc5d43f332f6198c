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



# --------------------------------------------------------------------------- generated requests

_TOKEN = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1, max_size=12)
_VALUE = st.text(alphabet="".join(chr(c) for c in range(0x21, 0x7F)), min_size=1, max_size=30)
# Paths already in canonical form (normalisation has its own tests: test_paths.py), so the
# parsed target is exactly what was sent.
_SEGMENT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_~", min_size=1, max_size=8)
# Named functions, not lambdas: hypothesis describes a lambda by parsing this file's source,
# which CPython 3.11 can fail deep in a run ("AST constructor recursion depth mismatch").


def _joined_path(segs: list[str]) -> str:
    return "/" + "/".join(segs)


def _x_header(n: str) -> str:
    return "x-" + n


_PATH = st.lists(_SEGMENT, max_size=4).map(_joined_path)


@st.composite
def generated_requests(draw: st.DrawFn) -> tuple[bytes, dict[str, Any]]:
    method = draw(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]))
    target = draw(_PATH) + draw(st.sampled_from(["", "?a=1", "?q=x&y=%20"]))
    names = draw(st.lists(_TOKEN.map(_x_header), max_size=6, unique_by=str.lower))
    headers = [(n, draw(_VALUE)) for n in names]
    body = draw(st.binary(max_size=300)) if method in ("POST", "PUT", "PATCH") else b""
    chunked = bool(body) and draw(st.booleans())
    lines = [f"{method} {target} HTTP/1.1", "Host: gen"] + [f"{n}: {v}" for n, v in headers]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
        sizes = draw(st.lists(st.integers(1, 64), min_size=1, max_size=8))
        pieces, rest = [], body
        for size in sizes:
            if rest:
                pieces.append(rest[:size])
                rest = rest[size:]
        if rest:
            pieces.append(rest)
        payload = b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in pieces) + b"0\r\n\r\n"
    else:
        if body:
            lines.append(f"Content-Length: {len(body)}")
        payload = body
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
    expected = {
        "method": method.encode(),
        "target": target.encode(),
        "body": body,
        "chunked": chunked,
        "headers": [(n.lower().encode(), v.encode()) for n, v in headers],
    }
    return raw, expected


@settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=generated_requests(), cuts=CUTS)
async def test_generated_requests_parse_to_what_was_sent_however_split(
    request: tuple[bytes, dict[str, Any]], cuts: list[int]
) -> None:
    raw, expected = request
    log, statuses = await drive(raw, split_points(cuts, len(raw)), [expected["method"].decode()])
    assert statuses == [200]
    (seen,) = log
    assert seen["method"] == expected["method"]
    assert seen["target"] == expected["target"]
    assert seen["body"] == expected["body"]
    assert seen["chunked"] == expected["chunked"]
    for pair in expected["headers"]:
        assert pair in seen["headers"]


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prefix=st.sampled_from([b"", b"GET / HTTP/1.1\r\nHost: a\r\n", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"]),
    junk=st.binary(max_size=200),
    cuts=CUTS,
)
async def test_arbitrary_bytes_never_escape_the_protocol(prefix: bytes, junk: bytes, cuts: list[int]) -> None:
    """Garbage gets a well-formed answer or a wait, never an exception out of data_received."""
    raw = prefix + junk
    log: list[dict[str, Any]] = []
    conn = make_conn(recorder(log))
    previous = 0
    for cut in [*split_points(cuts, max(len(raw), 1)), len(raw)]:
        conn.feed(raw[previous:cut])
        previous = cut
    await conn.settle()
    out = conn.transport.take()
    if out:
        count = len(log) + 1 if conn.transport.finished.is_set() else len(log)
        statuses = [r.status for r in parse_responses(out, ["GET"] * max(count, 1), eof=conn.transport.closed)]
        assert all(s == 200 for s in statuses[: len(log)])
        assert all(s in (200, 400, 408, 413, 431, 501) for s in statuses)
