"""Any input either loads or raises ConfigError with in-range positions; nothing else escapes."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from ferrogate.config.diagnostics import ConfigError
from ferrogate.config.load import load

CADDY_WORDS = st.sampled_from(
    [":8080", "{", "}", "\n", "respond", "reverse_proxy", "handle", "handle_path", "route", "@m", "path", "/a/*", "200",
     '"x"', "ai_gateway", "provider", "model", "->", "p:m", "kind", "mock", "api_key", "key", "tls", "dns", "cloudflare",
     "header", "+X", "-Y", "uri", "strip_prefix", "log", "admin", "off", "servers", "import", "(s)", "{$UNSET}", "{env.Y}",
     "#", "\\", "*", "ferrogate", "limits", "a.com", "abc,"]
)
TOML_LINES = st.sampled_from(
    ["[admin]", "[[models]]", "[[models.fallbacks]]", "[tls.acme]", 'listen = ":1"', 'name = "n"', 'provider = "p"',
     "provider_model = 1", "fallbacks = [{ provider = 1 }]", 'kind = "mock"', "[[providers]]", "x = 1", "enabled = 2",
     'a.b = "c"', "[", '"""', "status = 99"]
)


def _check(text: str, name: str) -> None:
    try:
        load(Path(name), env={"Y": "v"}, text=text)
    except ConfigError as exc:
        lines = text.count("\n") + 1
        assert exc.diagnostics
        assert all(1 <= d.line <= lines and d.column >= 1 for d in exc.diagnostics if d.file == name)


@settings(max_examples=150, deadline=None)
@given(st.lists(CADDY_WORDS, max_size=40))
def test_caddyfile_token_soup_never_crashes_the_loader(words: list[str]) -> None:
    _check(" ".join(words), "/nonexistent-ferrogate-dir/Caddyfile")  # imports find nothing there


@settings(max_examples=150, deadline=None)
@given(st.lists(TOML_LINES, max_size=15))
def test_toml_line_soup_never_crashes_the_loader(lines: list[str]) -> None:
    _check("\n".join(lines) + "\n", "c.toml")
