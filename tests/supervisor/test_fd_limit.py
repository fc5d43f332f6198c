"""The supervisor raises its open-file limit to the hard limit before forking workers, so
a shell's soft limit of 1,024 does not cap each worker near a thousand connections."""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.gateway import DEFAULT_READY_SECS, start_gateway

CONFIG = '[[providers]]\nname = "mock"\nkind = "mock"\n'


def _in_child(soft: int, hard: int, code: str) -> str:
    """Run ``code`` in a Python child whose NOFILE limit is (soft, hard); its stdout."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return subprocess.run([sys.executable, "-c", code], preexec_fn=limit, capture_output=True, text=True,
                          check=True, timeout=60).stdout.strip()


def test_a_low_soft_limit_is_raised_to_the_hard_limit() -> None:
    out = _in_child(256, 2048, "from ferrogate.supervisor.fd_limit import raise_open_file_limit as r;"
                               "import resource; print(r(), resource.getrlimit(resource.RLIMIT_NOFILE))")
    assert out == "(256, 2048) (2048, 2048)"


def test_a_soft_limit_already_at_the_hard_limit_is_left_alone() -> None:
    out = _in_child(2048, 2048, "from ferrogate.supervisor.fd_limit import raise_open_file_limit as r; print(r())")
    assert out == "(2048, 2048)"


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="prlimit (util-linux) is not installed")
def test_workers_run_with_the_raised_limit(tmp_path: Path) -> None:
    gw = start_gateway(CONFIG, workers=1, directory=tmp_path,
                       argv_prefix=["prlimit", "--nofile=512:8192", "--", sys.executable])
    try:
        gw.wait_ready(DEFAULT_READY_SECS)
        children = [int(p) for p in Path(f"/proc/{gw.pid}/task/{gw.pid}/children").read_text().split()]
        assert len(children) == 2  # the worker and the control process
        for child in children:
            limits = Path(f"/proc/{child}/limits").read_text()
            line = next(ln for ln in limits.splitlines() if ln.startswith("Max open files"))
            assert line.split()[3:5] == ["8192", "8192"]
        assert "open file limit raised from 512 to 8192" in gw.log()
    finally:
        gw.stop()

