"""Process boundaries hold at import time (STYLE.md §2): the supervisor loads no event-loop
code and starts no thread; workers never load the control process or the supervisor."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import importlib, importlib.util, json, sys, threading
for name in {modules!r}:
    if importlib.util.find_spec(name) is not None:
        importlib.import_module(name)
print(json.dumps({{"modules": sorted(sys.modules), "threads": threading.active_count()}}))
"""


def imported_by(*modules: str) -> tuple[list[str], int]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(modules=list(modules))],
        capture_output=True, text=True, timeout=60, check=True,
    )
    data = json.loads(out.stdout)
    return data["modules"], data["threads"]


def offending(modules: list[str], prefixes: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes)]


def test_supervisor_imports_no_event_loop_code_and_starts_no_thread():
    modules, threads = imported_by(
        "ferrogate.cli", "ferrogate.supervisor.commands", "ferrogate.supervisor.arbiter"
    )
    assert offending(modules, ("uvloop", "ferrogate._fastpath", "ferrogate.control", "ferrogate.worker", "ferrogate.app")) == []
    assert "concurrent.futures.thread" not in modules
    assert threads == 1


def test_worker_never_imports_control_supervisor_or_cli():
    modules, _ = imported_by("ferrogate.worker", "ferrogate.app", "ferrogate.pipeline.endpoints")
    assert "ferrogate.worker" in modules
    assert offending(modules, ("ferrogate.control", "ferrogate.supervisor", "ferrogate.cli")) == []
