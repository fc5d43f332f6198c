"""TOML front end: shorthands, types, and errors pointing at file:line:column."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ferrogate.config.toml_positions import scan_toml_positions

LoadText = Callable[..., Any]
ErrorsOf = Callable[..., list[str]]

MOCK = """
[[providers]]
name = "mock"
kind = "mock"
"""


def test_listen_accepts_a_single_string(load_text: LoadText) -> None:
    assert load_text('listen = "127.0.0.1:8080"\n', "c.toml").listen == ["127.0.0.1:8080"]


def test_listen_accepts_a_list(load_text: LoadText) -> None:
    assert load_text('listen = [":8080", ":8081"]\n', "c.toml").listen == [":8080", ":8081"]


def test_prices_accept_decimal_strings_and_numbers(load_text: LoadText) -> None:
    cfg = load_text(
        MOCK + '[[models]]\nname = "m"\nprovider = "mock"\nprovider_model = "x"\n'
        'input_price_per_1m = "0.15"\noutput_price_per_1m = 0.6\n',
        "c.toml",
    )
    assert cfg.models[0].input_price_per_1m == Decimal("0.15")
    assert cfg.models[0].output_price_per_1m == Decimal("0.6")


def test_empty_file_gives_the_default_config(load_text: LoadText) -> None:
    cfg = load_text("", "c.toml")
    assert cfg.listen == ["0.0.0.0:8080"]
    assert cfg.admin.listen == "127.0.0.1:2019"


def test_unknown_key_is_an_error_at_the_key(errors_of: ErrorsOf) -> None:
    assert errors_of('[admin]\nlisten = "127.0.0.1:1"\ntokn_env = "X"\n', "c.toml") == [
        "c.toml:3:1: unknown key `tokn_env` in admin (did you mean `token_env`?)"
    ]


def test_unknown_top_level_table_is_an_error(errors_of: ErrorsOf) -> None:
    assert errors_of("[telemetryy]\nx = 1\n", "c.toml") == [
        "c.toml:1:2: unknown key `telemetryy` in the top level (did you mean `telemetry`?)"
    ]


def test_type_error_in_an_inline_array_of_tables_points_at_the_key(errors_of: ErrorsOf) -> None:
    text = (
        MOCK
        + '[[models]]\nname = "m"\nprovider = "mock"\nprovider_model = "x"\n'
        + 'fallbacks = [\n  { provider = "mock", provider_model = "y", priority = "high" },\n]\n'
    )
    assert errors_of(text, "c.toml") == [
        "c.toml:10:46: models[0].fallbacks[0].priority: expected `int`, got `str`"
    ]


def test_type_error_in_a_nested_array_of_tables_header(errors_of: ErrorsOf) -> None:
    text = (
        MOCK
        + '[[models]]\nname = "a"\nprovider = "mock"\nprovider_model = "x"\n'
        + '[[models]]\nname = "b"\nprovider = "mock"\nprovider_model = "x"\n'
        + '[[models.fallbacks]]\nprovider = "mock"\nprovider_model = "z"\nweight = true\n'
    )
    assert errors_of(text, "c.toml") == ["c.toml:16:1: models[1].fallbacks[0].weight: expected `int`, got `bool`"]


def test_invalid_enum_value_lists_the_choices(errors_of: ErrorsOf) -> None:
    assert errors_of('[telemetry]\naccess_log = "loud"\n', "c.toml") == [
        "c.toml:2:1: telemetry.access_log: invalid value 'loud'; expected one of: off, error, sampled, all"
    ]


def test_missing_required_key_points_at_the_table(errors_of: ErrorsOf) -> None:
    assert errors_of('[[providers]]\nname = "p"\n', "c.toml") == [
        "c.toml:1:3: missing required key `kind` in providers[0]"
    ]


def test_every_type_error_is_reported_at_once(errors_of: ErrorsOf) -> None:
    text = (
        '[admin]\nenabled = "yes"\n'
        '[limits]\nmax_header_bytes = "big"\n'
        '[[providers]]\nname = "p"\nkind = "nope"\n'
        '[[providers]]\nname = "q"\nkind = "mock"\ncolour = "red"\n'
    )
    assert errors_of(text, "c.toml") == [
        "c.toml:2:1: admin.enabled: expected `bool`, got `str`",
        "c.toml:4:1: limits.max_header_bytes: expected `int`, got `str`",
        "c.toml:7:1: providers[0].kind: invalid value 'nope'; expected one of: "
        "openai-compatible, openai, azure, openrouter, anthropic, gemini, xai, mock",
        "c.toml:11:1: unknown key `colour` in providers[1]",
    ]


def test_syntax_error_has_a_position(errors_of: ErrorsOf) -> None:
    (only,) = errors_of('listen = ":8080"\n[admin\n', "c.toml")
    assert only.startswith("c.toml:2:")
    assert "TOML syntax" in only


def test_scanner_tracks_dotted_keys_and_inline_tables() -> None:
    smap = scan_toml_positions('tls.acme.enabled = true\n[tls.acme]\ndns_config = { zone_name = "x" }\n', "f")
    assert smap.get(("tls", "acme", "enabled")) is not None
    pos = smap.get(("tls", "acme", "dns_config", "zone_name"))
    assert pos is not None and (pos.line, pos.column) == (3, 16)


def test_scanner_skips_multiline_strings() -> None:
    text = 'a = """\n[not_a_table]\nb = 1\n"""\nc = 2\n'
    smap = scan_toml_positions(text, "f")
    assert smap.get(("not_a_table",)) is None
    pos = smap.get(("c",))
    assert pos is not None and pos.line == 5
