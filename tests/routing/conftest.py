"""A mock OpenAI server on a background loop, shared by the routing tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ai.conftest import LoopThread
from tests.support.mock_openai import MockOpenAI


@pytest.fixture(scope="module")
def mock_loop() -> Iterator[LoopThread]:
    lt = LoopThread()
    try:
        yield lt
    finally:
        lt.close()


@pytest.fixture
def mock_openai(mock_loop: LoopThread) -> Iterator[MockOpenAI]:
    mock = MockOpenAI()
    mock_loop.run(mock.start())
    try:
        yield mock
    finally:
        mock_loop.run(mock.stop())
