"""Fixtures for config tests: write a config into a temp dir and load it or collect its errors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from ferrogate.config.diagnostics import ConfigError
from ferrogate.config.load import Loaded, load
from ferrogate.config.model import Config

LoadText = Callable[..., Config]
ErrorsOf = Callable[..., list[str]]


@pytest.fixture
def load_text(tmp_path: Path) -> LoadText:
    """``load_text(text, name="Caddyfile", env={}) -> Config`` (fails the test on a ConfigError)."""

    def run(text: str, name: str = "Caddyfile", env: Mapping[str, str] | None = None) -> Config:
        path = tmp_path / name
        path.write_text(text)
        return load(path, env=env or {}).config

    return run


@pytest.fixture
def load_full(tmp_path: Path) -> Callable[..., Loaded]:
    def run(text: str, name: str = "Caddyfile", env: Mapping[str, str] | None = None) -> Loaded:
        path = tmp_path / name
        path.write_text(text)
        return load(path, env=env or {})

    return run


@pytest.fixture
def errors_of(tmp_path: Path) -> ErrorsOf:
    """``errors_of(text, name="Caddyfile", env={})`` -> ["NAME:line:col: message", ...] with the
    temp directory stripped, so tests compare exact positions."""

    def run(text: str, name: str = "Caddyfile", env: Mapping[str, str] | None = None) -> list[str]:
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(ConfigError) as info:
            load(path, env=env or {})
        prefix = str(tmp_path) + "/"
        return [str(d).removeprefix(prefix) for d in info.value.diagnostics]

    return run
