"""Config messages name an environment variable, never its value."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferrogate.config.diagnostics import ConfigError
from ferrogate.config.load import load

SECRET = "sk-looks-like-a-secret-123456"


def test_error_quoting_a_substituted_value_names_the_variable(tmp_path: Path) -> None:
    path = tmp_path / "Caddyfile"
    path.write_text("{\n\tadmin {$ADMIN_ADDR}\n}\n:8080 {\n\trespond ok\n}\n")
    with pytest.raises(ConfigError) as info:
        load(path, env={"ADMIN_ADDR": SECRET})
    text = str(info.value)
    assert SECRET not in text
    assert "{env.ADMIN_ADDR}" in text


def test_key_from_the_environment_is_kept_by_name(tmp_path: Path) -> None:
    path = tmp_path / "Caddyfile"
    path.write_text(":8080 {\n\tai_gateway {\n\t\tapi_key k {\n\t\t\tkey {$MY_KEY}\n\t\t}\n\t}\n}\n")
    key = load(path, env={"MY_KEY": SECRET}).config.api_keys[0]
    assert (key.key, key.key_env) == (None, "MY_KEY")
