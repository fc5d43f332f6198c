"""The router's exact-path shortcut for the AI endpoints agrees with the route table."""

from __future__ import annotations

from ferrogate.pipeline.endpoints import V1_ROUTES
from ferrogate.proxy.matchers import PathMatcher
from ferrogate.proxy.table import AI_ENDPOINT_PATHS


def test_every_ai_path_the_router_looks_up_exactly_is_one_the_leading_ai_route_matches() -> None:
    matcher = PathMatcher(list(AI_ENDPOINT_PATHS), where="test")
    assert V1_ROUTES
    assert [p for p in V1_ROUTES if not matcher.match(p.lower())] == []
