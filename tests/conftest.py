"""Shared fixtures. ``gateway_factory`` starts real ``ferrogate run`` process trees
(see tests/support/gateway.py) and always stops them at the end of the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.gateway import DEFAULT_READY_SECS, Gateway, start_gateway
from tests.support.redis_server import RedisServer


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
