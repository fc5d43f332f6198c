"""Path normalisation: what routes match is what the upstream will see."""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferrogate._fastpath.paths import PathError, needs_normalising, normalise_path
from ferrogate._fastpath.pool import PoolSet
from ferrogate._fastpath.request import HttpRequest
from ferrogate.config.model import Config
from ferrogate.proxy.table import RouteKind, compile_table


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        (b"/a/b", b"/a/b"),
        (b"/public/../private/x", b"/private/x"),
        (b"/a/./b/", b"/a/b/"),
        (b"/a/b/..", b"/a/"),
        (b"/a//b///c", b"/a/b/c"),
        (b"/%70rivate", b"/private"),
        (b"/a/%2e%2E/b", b"/b"),
        (b"/x%20y%3f", b"/x%20y%3F"),
        (b"/.well-known/x", b"/.well-known/x"),
        (b"/a/..", b"/"),
    ],
)
def test_canonical_form(raw: bytes, canonical: bytes) -> None:
    assert normalise_path(raw) == canonical


@pytest.mark.parametrize(
    "raw",
    [b"/..", b"/a/../..", b"/svc/../../etc/passwd", b"/%2e%2e/x", b"/a/..%2f..%2fb", b"/a%2Fb", b"/a\\b", b"/a%5cb", b"/a%zz", b"/a%4"],
)
def test_refused(raw: bytes) -> None:
    with pytest.raises(PathError):
        normalise_path(raw)


def test_encoded_slash_kept_encoded_when_configured() -> None:
    assert normalise_path(b"/a%2fb/..%2F", keep_encoded_slash=True) == b"/a%2Fb/..%2F"


def test_clean_paths_skip_the_work() -> None:
    assert not needs_normalising(b"/v1/chat/completions")
    assert needs_normalising(b"/v1/../x") and needs_normalising(b"/a%41") and needs_normalising(b"//a")


def test_a_dot_inside_a_segment_is_clean_and_a_dot_segment_or_backslash_is_not() -> None:
    assert not needs_normalising(b"/static/app.v2.js")
    assert needs_normalising(b"/a/./b") and needs_normalising(b"/a/.hidden") and needs_normalising(b"/a\\b")


def _upstream_view(path: bytes) -> bytes:
    """How a lenient upstream might read a forwarded path: decode every escape but %2F,
    merge slashes, resolve dot segments (clamping at the root)."""
    decoded = re.sub(rb"%(?![2][fF])[0-9A-Fa-f]{2}", lambda m: unquote_to_bytes(m.group(0)), path)
    decoded = re.sub(rb"/+", b"/", decoded)
    out: list[bytes] = []
    for seg in decoded.split(b"/")[1:]:
        if seg == b"..":
            if out:
                out.pop()
        elif seg != b".":
            out.append(seg)
    return b"/" + b"/".join(out)


_TABLE = compile_table(
    msgspec.convert(
        {
            "upstreams": [{"name": "up", "urls": ["http://127.0.0.1:9"]}],
            "routes": [
                {"paths": ["/private/*", "/private"], "respond": {"status": 403}},
                {"paths": ["*"], "upstream": "up"},
            ],
        },
        Config,
    ),
    PoolSet(),
    {},
)
_PIECE = st.sampled_from(["private", "public", "..", ".", "", "%2e", "%2E%2e", "%70rivate", "PRIVATE", "%2f", "x", "%25"])


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECE, min_size=1, max_size=8))
def test_a_path_that_reaches_the_upstream_never_resolves_into_a_deny_route(pieces: list[str]) -> None:
    raw = ("/" + "/".join(pieces)).encode()
    try:
        path = normalise_path(raw)
    except PathError:
        return  # answered 400: nothing reaches any upstream
    route = _TABLE.match(None, b"GET", path.lower())
    assert route is not None
    if route.kind is RouteKind.PROXY:
        seen = _upstream_view(path).lower()
        assert not (seen == b"/private" or seen.startswith(b"/private/")), (raw, path)
    assert normalise_path(path) == path  # idempotent


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"/", b"a", b"?", b"=", b"%2F", b"http://h"]), max_size=8).map(b"".join))
def test_a_request_splits_its_target_at_the_first_question_mark(target: bytes) -> None:
    request = HttpRequest(b"GET", b"/" + target, [], "1.1", True, None, None, False)
    path, _, query = (b"/" + target).partition(b"?")
    assert (request.path, request.query) == (path, query)
