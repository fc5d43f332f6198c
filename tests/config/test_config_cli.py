"""`ferrogate validate`, `adapt` and `hash-key` as an operator runs them (real subprocesses)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ferrogate.config.load import load_config
from ferrogate.governance.keys import hash_key

REPO = Path(__file__).resolve().parents[2]
FERROGATE = Path(sys.executable).parent / "ferrogate"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("FERROGATE_")}
    full_env.update(env or {})
    return subprocess.run(
        [str(FERROGATE), *args], capture_output=True, text=True, timeout=60, cwd=REPO, env=full_env, check=False
    )


def test_validate_default_caddyfile_prints_a_summary() -> None:
    result = run("validate", "--config", "Ferrogate/Caddyfile")
    assert result.returncode == 0, result.stderr
    assert "valid caddyfile configuration" in result.stdout
    assert "models:      2 (gpt-4o-mini, text-embedding-3-small)" in result.stdout
    assert "sk-ferrogate-dev" not in result.stdout + result.stderr


def test_validate_reports_every_error_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "Caddyfile"
    bad.write_text(":8080 {\n\tfoo_bar\n\treverse_proxy {\n\t\tlb_policy sticky\n\t}\n}\n")
    result = run("validate", "--config", str(bad))
    assert result.returncode == 1
    assert f"{bad}:2:2: unknown directive `foo_bar`" in result.stderr
    assert f"{bad}:4:13: lb_policy `sticky` is not supported" in result.stderr
    assert f"{bad}: 3 errors" in result.stderr


def test_validate_sniffs_toml_without_extension(tmp_path: Path) -> None:
    cfg = tmp_path / "gateway.conf"
    cfg.write_text('listen = ":9999"\n')
    result = run("validate", "--config", str(cfg))
    assert result.returncode == 0, result.stderr
    assert "valid toml configuration" in result.stdout


def test_validate_missing_file_exits_1(tmp_path: Path) -> None:
    result = run("validate", "--config", str(tmp_path / "nope.toml"))
    assert result.returncode == 1
    assert "cannot read config" in result.stderr


def test_validate_missing_env_var_names_it_without_a_value(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[providers]]\nname = "o"\nkind = "openai"\napi_key_env = "FG_TEST_UNSET_KEY"\n')
    result = run("validate", "--config", str(cfg))
    assert result.returncode == 1
    assert f"{cfg}:4:1: environment variable `FG_TEST_UNSET_KEY` is not set" in result.stderr


def test_adapt_prints_toml_that_loads_to_the_same_model(tmp_path: Path) -> None:
    result = run("adapt", "--config", "Ferrogate/Caddyfile")
    assert result.returncode == 0, result.stderr
    adapted = tmp_path / "adapted.toml"
    adapted.write_text(result.stdout)
    assert load_config(adapted, env={}) == load_config(REPO / "Ferrogate/Caddyfile", env={})


def test_adapt_of_an_invalid_file_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "Caddyfile"
    bad.write_text(":8080 {\n\tnope\n}\n")
    result = run("adapt", "--config", str(bad))
    assert result.returncode == 1
    assert result.stdout == ""


def test_hash_key_command_prints_the_stored_form() -> None:
    result = run("hash-key", "--secret", "sk-abc")
    assert result.returncode == 0
    assert result.stdout.strip() == hash_key("sk-abc", env={})


def test_adapt_keeps_env_referenced_secrets_out_of_the_output(tmp_path: Path) -> None:
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(
        ":8080 {\n\tai_gateway {\n\t\tprovider o {\n\t\t\tkind openai\n\t\t\tapi_key {env.FG_TEST_OPENAI}\n\t\t}\n\t}\n}\n"
    )
    result = run("adapt", "--config", str(caddyfile), env={"FG_TEST_OPENAI": "sk-live-secret-123"})
    assert result.returncode == 0, result.stderr
    assert 'api_key_env = "FG_TEST_OPENAI"' in result.stdout
    assert "sk-live-secret-123" not in result.stdout + result.stderr


def _ferrogate(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "FERROGATE_KEY_HASH_SECRET"}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "ferrogate", *args], input=stdin, capture_output=True, text=True, timeout=60, env=full_env
    )


def test_hash_key_reads_the_secret_from_stdin() -> None:
    result = _ferrogate("hash-key", stdin="sk-from-stdin\n", env={"FERROGATE_KEY_HASH_SECRET": "pepper"})
    assert result.returncode == 0
    assert result.stdout.strip() == hash_key("sk-from-stdin", env={"FERROGATE_KEY_HASH_SECRET": "pepper"})
    assert "sk-from-stdin" not in result.stdout + result.stderr


def test_hash_key_warns_when_the_hmac_secret_is_unset() -> None:
    result = _ferrogate("hash-key", stdin="sk-x\n")
    assert result.returncode == 0
    assert "FERROGATE_KEY_HASH_SECRET is unset" in result.stderr


def test_hash_key_is_quiet_when_the_hmac_secret_is_set() -> None:
    result = _ferrogate("hash-key", "--secret", "sk-x", env={"FERROGATE_KEY_HASH_SECRET": "pepper"})
    assert result.stderr == ""


def test_version_prints_the_package_version() -> None:
    from importlib.metadata import version

    result = _ferrogate("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"ferrogate {version('ferrogate')}"
