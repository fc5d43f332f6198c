"""The original FerroGate's README examples load here as written (tests/fixtures/reference)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ferrogate.config.load import load
from ferrogate.config.toml import parse_toml

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reference"
SECRET = "sk-this-value-must-never-be-printed-0123456789"
ENV = {
    "OPENAI_API_KEY": SECRET,
    "FERROGATE_DEV_KEY": SECRET + "-dev",
    "OPENROUTER_API_KEY": SECRET + "-or",
    "GITHUB_MCP_TOKEN": SECRET + "-gh",
}
ALL = sorted(p.name for p in FIXTURES.iterdir() if p.suffix in (".toml", ".Caddyfile"))
CADDYFILES = [name for name in ALL if name.endswith(".Caddyfile")]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **ENV}
    return subprocess.run(
        [sys.executable, "-m", "ferrogate", *args], capture_output=True, text=True, env=env, timeout=60, cwd=FIXTURES
    )


def test_every_example_of_the_reference_is_a_fixture() -> None:
    assert len(ALL) == 9


@pytest.mark.parametrize("name", ALL)
def test_validate_accepts_the_reference_example(name: str) -> None:
    result = _cli("validate", "--config", name)
    assert result.returncode == 0, result.stderr
    assert f"{name}: valid" in result.stdout


@pytest.mark.parametrize("name", ALL)
def test_validate_prints_no_secret_of_the_reference_example(name: str) -> None:
    result = _cli("validate", "--config", name)
    assert SECRET not in result.stdout + result.stderr


@pytest.mark.parametrize("name", CADDYFILES)
def test_adapt_gives_toml_that_loads_to_the_same_model(name: str) -> None:
    result = _cli("adapt", "--config", name)
    assert result.returncode == 0, result.stderr
    adapted, _ = parse_toml(result.stdout, "adapted.toml")
    assert adapted == load(FIXTURES / name, env=ENV).config


@pytest.mark.parametrize("name", CADDYFILES)
def test_adapt_prints_environment_references_never_their_values(name: str) -> None:
    result = _cli("adapt", "--config", name)
    assert SECRET not in result.stdout + result.stderr


def test_adapt_keeps_the_env_placeholder_in_a_header_value() -> None:
    result = _cli("adapt", "--config", "caddyfile-example.Caddyfile")
    assert 'value = "Bearer {env.OPENAI_API_KEY}"' in result.stdout
    assert 'api_key_env = "OPENAI_API_KEY"' in result.stdout
    assert 'key_env = "FERROGATE_DEV_KEY"' in result.stdout


def test_access_log_sample_rate_is_a_percentage() -> None:
    config = load(FIXTURES / "toml-example.toml", env=ENV).config
    assert config.telemetry.access_log_sample_rate == 100


def test_free_text_setting_takes_the_rest_of_the_line() -> None:
    config = load(FIXTURES / "openrouter.Caddyfile", env=ENV).config
    assert config.providers[0].openrouter_x_title == "Example FerroGate"


def test_tls_block_takes_the_original_renewal_settings() -> None:
    acme = load(FIXTURES / "acme-dns01.Caddyfile", env=ENV).config.tls.acme
    assert (acme.renewal_window_secs, acme.renewal_check_interval_secs, acme.renewal_retry_interval_secs) == (
        2592000,
        43200,
        1800,
    )
    assert acme.storage_dir == "/var/lib/ferrogate/acme-dns"
    assert acme.auto_graceful_reload is True


def test_caddyfile_and_toml_dns01_examples_agree_on_acme() -> None:
    from_caddy = load(FIXTURES / "acme-dns01.Caddyfile", env=ENV).config.tls.acme
    from_toml = load(FIXTURES / "acme-dns01.toml", env=ENV).config.tls.acme
    for field in ("email", "challenge", "storage_dir", "dns_provider", "renewal_window_secs", "auto_graceful_reload"):
        assert getattr(from_caddy, field) == getattr(from_toml, field), field
