"""Settings that parse but do nothing yet are said, with file:line, never silently ignored."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ferrogate.config.load import load

CONFIG = """\
[cache]
enabled = true

[[providers]]
name = "mock"
kind = "mock"

[[models]]
name = "m"
provider = "mock"
provider_model = "m"

[[api_keys]]
id = "k"
key = "sk-k"
request_limit_per_minute = 60
monthly_token_budget = 1000

[[policies]]
name = "p"
models = ["m"]

[[gateway_configs]]
id = "g"

[[mcp_servers]]
name = "s"
transport = "stdio"
command = "true"
tools_to_auto_execute = ["x"]

[telemetry]
log_bodies = true
"""


@pytest.mark.parametrize(
    ("line", "key"),
    [
        (33, "telemetry.log_bodies"),
    ],
)
def test_validate_warns_about_each_unenforced_setting_with_its_line(tmp_path: Path, line: int, key: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(CONFIG)
    result = subprocess.run(
        [sys.executable, "-m", "ferrogate", "validate", "--config", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    lines = [ln for ln in result.stderr.splitlines() if f"`{key}`" in ln]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{path}:{line}:") and "warning" in lines[0]


@pytest.mark.parametrize(
    "section",
    [
        "policies",
        "gateway_configs",
        "api_keys[0].request_limit_per_minute",
        "api_keys[0].monthly_token_budget",
        "cache.enabled",
        "mcp_servers[0].tools_to_auto_execute",
    ],
)
def test_enforced_sections_do_not_warn(tmp_path: Path, section: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(CONFIG)
    assert not [w for w in load(path, env={}).warnings if f"`{section}" in w.message]


def test_a_config_without_such_settings_has_no_warning(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[[providers]]\nname = "mock"\nkind = "mock"\n')
    assert load(path, env={}).warnings == []


def test_run_logs_the_warnings_at_start(gateway_factory) -> None:
    gw = gateway_factory(CONFIG, workers=1)
    assert "WARNING" in gw.log() and "`telemetry.log_bodies` is accepted but has no effect" in gw.log()


def test_turning_off_auto_graceful_reload_is_said_to_change_nothing(tmp_path: Path) -> None:
    path = tmp_path / "acme.toml"
    path.write_text(
        '[tls]\nenabled = true\n[tls.acme]\nenabled = true\ndomains = ["a.example"]\nterms_agreed = true\n'
        "auto_graceful_reload = false\n"
    )
    (warning,) = load(path, env={}).warnings
    assert warning.message.startswith("`tls.acme.auto_graceful_reload` is accepted but has no effect")
    assert warning.line == 7


def test_body_logging_is_said_to_do_nothing_yet(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[telemetry]\nlog_bodies = true\n')
    assert [w.message.split(" is ")[0] for w in load(path, env={}).warnings] == ["`telemetry.log_bodies`"]


def test_validate_warns_about_an_otel_variable_it_cannot_act_on(tmp_path: Path) -> None:
    path = tmp_path / "otel.toml"
    path.write_text('[telemetry]\notlp_endpoint = "http://127.0.0.1:4318"\n')
    env = {**os.environ, "OTEL_TRACES_SAMPLER": "xray", "OTEL_LOGS_EXPORTER": "console"}
    result = subprocess.run(
        [sys.executable, "-m", "ferrogate", "validate", "--config", str(path)], capture_output=True, text=True,
        timeout=60, env=env,
    )
    assert result.returncode == 0
    warnings = [ln for ln in result.stderr.splitlines() if "warning" in ln]
    assert len(warnings) == 2 and all(ln.startswith(f"{path}:2:") for ln in warnings), result.stderr
    assert "OTEL_TRACES_SAMPLER='xray' is not supported" in warnings[0] and "OTEL_LOGS_EXPORTER" in warnings[1]


def test_otel_variables_are_not_looked_at_without_an_otlp_endpoint(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[[providers]]\nname = "mock"\nkind = "mock"\n')
    assert load(path, env={"OTEL_TRACES_SAMPLER": "xray"}).warnings == []
