"""Shared fixtures. ``gateway_factory`` starts real ``ferrogate run`` process trees
(see tests/support/gateway.py) and always stops them at the end of the test."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.gateway import DEFAULT_READY_SECS, Gateway, start_gateway
from tests.support.redis_server import RedisServer

if sys.version_info[:2] == (3, 11):
    # CPython 3.11 keeps ast.parse's recursion count in interpreter-wide state (gh-106905) and
    # parses a source line whenever it formats a traceback, to place its carets. A thread of a
    # test (or a finalizer the collector runs mid-parse) formatting a traceback while hypothesis
    # or tests/support/python_source.py parses source failed the parse with "AST constructor
    # recursion depth mismatch" (once in about ten make test runs, in test_admin_schemathesis.py). In
    # the test processes tracebacks go without carets; their text is otherwise the same.
    traceback._extract_caret_anchors_from_line_segment = lambda segment: None


@pytest.fixture
def gateway_factory(tmp_path: Path) -> Iterator[Callable[..., Gateway]]:
    """``factory(config_text, fmt="toml", workers=2, env=None, wait=True) -> Gateway``."""
    started: list[Gateway] = []

    def factory(config_text: str, fmt: str = "toml", *, workers: int = 2, env: Any = None,
                wait: bool = True, **kwargs: Any) -> Gateway:
        directory = tmp_path / f"gw{len(started)}"
        directory.mkdir()
        gw = start_gateway(config_text, fmt, workers=workers, env=env, directory=directory, **kwargs)  # type: ignore[arg-type]
        started.append(gw)
        if wait:
            gw.wait_ready(DEFAULT_READY_SECS)
        return gw

    try:
        yield factory
    finally:
        for gw in started:
            gw.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A real redis-server on a unix socket in the test's directory, stopped afterwards."""
    server = RedisServer(tmp_path).start()
    try:
        yield server
    finally:
        server.stop()
