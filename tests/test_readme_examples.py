"""The README's examples run as written against the default config.

The gateway runs `config/gateway.toml` (equal to the default Caddyfile, checked in
tests/config) on ephemeral ports; each ``sh`` block of the README runs in bash with
``localhost:8080`` / ``localhost:2019`` pointed at those ports.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ferrogate.config.load import load_config
from tests.support.gateway import Gateway

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


CURL_BLOCKS = [b for b in _blocks("sh") if b.lstrip().startswith("curl")]


@pytest.fixture(scope="module")
def default_gateway() -> Iterator[Gateway]:
    from tests.support.gateway import run_gateway

    text = (ROOT / "config" / "gateway.toml").read_text()
    text = text.replace('listen = ":8080"', 'listen = "127.0.0.1:0"')
    text = text.replace('listen = "127.0.0.1:2019"', 'listen = "127.0.0.1:0"')
    with run_gateway(text, "toml", workers=1) as gw:
        yield gw


def _localise(block: str, gw: Gateway) -> str:
    return block.replace("localhost:8080", f"127.0.0.1:{gw.port}").replace(
        "localhost:2019", f"127.0.0.1:{gw.admin_port}"
    )


def test_readme_has_the_two_commands_first() -> None:
    first = _blocks("sh")[0]
    assert "make run" in first and "make test" in first


@pytest.mark.e2e
@pytest.mark.parametrize("block", CURL_BLOCKS, ids=[b.split("\n")[0][:60] for b in CURL_BLOCKS])
def test_readme_curl_example_answers_2xx_json_or_sse(block: str, default_gateway: Gateway) -> None:
    cmd = _localise(block, default_gateway).replace("curl -s", "curl -s -w '\\n%{http_code}'", 1)
    out = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=30, check=True).stdout
    body, _, status = out.rstrip("\n").rpartition("\n")
    assert status.startswith("2"), out
    if "stream" in block:
        events = [ln for ln in body.splitlines() if ln.startswith("data: ")]
        assert events[-1] == "data: [DONE]"
        assert all(json.loads(ln[6:]) for ln in events[:-1])
    else:
        assert isinstance(json.loads(body), dict)


@pytest.mark.e2e
def test_readme_python_sdk_example_prints_the_reply(default_gateway: Gateway) -> None:
    (code,) = [b for b in _blocks("python") if "OpenAI(" in b]
    code = _localise(code, default_gateway)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert "mock provider" in out.stdout


def _side_by_side() -> tuple[str, str]:
    table = README.split("<table>", 1)[1].split("</table>", 1)[0]
    caddy = re.search(r"```caddyfile\n(.*?)```", table, flags=re.S)
    toml = re.search(r"```toml\n(.*?)```", table, flags=re.S)
    assert caddy and toml
    return caddy.group(1), toml.group(1)


def test_readme_side_by_side_configs_load_to_equal_models(tmp_path: Path) -> None:
    caddy, toml = _side_by_side()
    (tmp_path / "Caddyfile").write_text(caddy)
    (tmp_path / "gateway.toml").write_text(toml)
    assert load_config(tmp_path / "Caddyfile", env={}) == load_config(tmp_path / "gateway.toml", env={})


@pytest.mark.parametrize("command", ["validate", "adapt"])
def test_readme_cli_commands_accept_the_default_config(command: str) -> None:
    run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run
    out = run(
        [sys.executable, "-m", "ferrogate", command, "--config", str(ROOT / "Ferrogate" / "Caddyfile")],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert out.returncode == 0, out.stderr
