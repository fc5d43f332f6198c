"""Fixtures the observability tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.scripted_collector import Collector


@pytest.fixture
def collector() -> Iterator[Collector]:
    """A scripted OTLP/HTTP collector, stopped after the test."""
    served = Collector()
    try:
        yield served
    finally:
        served.stop()
