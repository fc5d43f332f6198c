"""Both limiter paths: the C ops (``_counter_ops``, on tables with native mutexes) and the
Python one (tables with record locks, as ``FERROGATE_PURE=1`` or a build without a
compiler makes them). Tests that use ``limiter_path`` run once on each."""

from __future__ import annotations

import pytest

from ferrogate.governance import counter_table
from ferrogate.ipc import shm_locks

NATIVE_BUILT = counter_table.CounterOps is not None and shm_locks.native_locks_built()
_SKIP_NATIVE = pytest.mark.skipif(not NATIVE_BUILT, reason="native counter ops not built (make compiled)")
PATHS = [pytest.param("native", marks=_SKIP_NATIVE), "python"]


@pytest.fixture(params=PATHS)
def limiter_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The path the counter tables this test creates take: "native" or "python"."""
    monkeypatch.setenv("FERROGATE_PURE", "0" if request.param == "native" else "1")
    return str(request.param)


@pytest.fixture(scope="module", params=PATHS)
def gateway_path_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """The environment of a gateway whose counter table takes one path or the other (the
    Python path: the whole gateway in pure Python, as ``FERROGATE_PURE=1`` runs it)."""
    return {"FERROGATE_PURE": "0" if request.param == "native" else "1"}
