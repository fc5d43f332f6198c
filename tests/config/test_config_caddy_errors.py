"""Caddyfile errors: exact file:line:column, all at once, never a secret value."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ferrogate.config.diagnostics import ConfigError
from ferrogate.config.load import load

ErrorsOf = Callable[..., list[str]]


def test_unknown_directive(errors_of: ErrorsOf) -> None:
    assert errors_of(":8080 {\n\tfoo_bar x\n}\n") == ["Caddyfile:2:2: unknown directive `foo_bar`"]


def test_unknown_subdirective_in_reverse_proxy(errors_of: ErrorsOf) -> None:
    text = ":8080 {\n\treverse_proxy 127.0.0.1:1 {\n\t\tlb_polcy first\n\t}\n}\n"
    assert errors_of(text) == ["Caddyfile:3:3: unknown subdirective `lb_polcy` in reverse_proxy"]


def test_unknown_subdirective_in_ai_gateway_entry_suggests_the_key(errors_of: ErrorsOf) -> None:
    text = ":8080 {\n\tai_gateway {\n\t\tprovider p {\n\t\t\tkind mock\n\t\t\tbase_ulr http://x\n\t\t}\n\t}\n}\n"
    assert errors_of(text) == ["Caddyfile:5:4: unknown subdirective `base_ulr` in provider `p` (did you mean `base_url`?)"]


def test_unknown_global_option(errors_of: ErrorsOf) -> None:
    assert errors_of("{\n\tadmn off\n}\n:8080 {\n\trespond 200\n}\n") == ["Caddyfile:2:2: unknown global option `admn`"]


def test_unclosed_block_points_at_its_opening_brace(errors_of: ErrorsOf) -> None:
    assert errors_of(":8080 {\n\thandle /a/* {\n\t\trespond 200\n}\n") == [
        "Caddyfile:1:7: block opened here is never closed (missing `}`)"
    ]


def test_stray_closing_brace(errors_of: ErrorsOf) -> None:
    assert errors_of(":8080 {\n\trespond 200\n}\n}\n") == ["Caddyfile:4:1: unexpected `}` (no block is open)"]


def test_token_after_an_opening_brace_on_the_same_line(errors_of: ErrorsOf) -> None:
    assert errors_of(":8080 {\n\tai_gateway { provider mock mock }\n}\n") == [
        "Caddyfile:2:15: unexpected token after `{` on the same line"
    ]


def test_bad_duration(errors_of: ErrorsOf) -> None:
    assert errors_of("{\n\tgrace_period soon\n}\n") == [
        "Caddyfile:2:15: grace_period: `soon` is not a duration (e.g. 30s, 5m, 1h30m)"
    ]


def test_bad_integer_in_ai_gateway(errors_of: ErrorsOf) -> None:
    text = ":8080 {\n\tai_gateway {\n\t\tapi_key k {\n\t\t\tkey sk\n\t\t\trequest_limit_per_minute lots\n\t\t}\n\t}\n}\n"
    assert errors_of(text) == ["Caddyfile:5:29: request_limit_per_minute: `lots` is not an integer"]


def test_invalid_literal_value_has_the_subdirective_position(errors_of: ErrorsOf) -> None:
    text = ":8080 {\n\tai_gateway {\n\t\tprovider p {\n\t\t\tkind nope\n\t\t}\n\t}\n}\n"
    (only,) = errors_of(text)
    assert only.startswith("Caddyfile:4:4: providers[0].kind: invalid value 'nope'; expected one of:")


def test_unknown_named_matcher(errors_of: ErrorsOf) -> None:
    assert errors_of(":8080 {\n\trespond @nope 200\n}\n") == ["Caddyfile:2:10: unknown matcher `@nope`"]


def test_unsupported_matcher_type(errors_of: ErrorsOf) -> None:
    assert errors_of(":8080 {\n\t@h header X-A b\n\trespond 200\n}\n") == [
        "Caddyfile:2:5: matcher type `header` is not supported (supported: path, host, method)"
    ]


def test_model_target_must_be_provider_colon_model(errors_of: ErrorsOf) -> None:
    assert errors_of(":8080 {\n\tai_gateway {\n\t\tmodel m -> gpt-4o\n\t}\n}\n") == [
        "Caddyfile:3:14: `gpt-4o` must be PROVIDER:MODEL"
    ]


def test_every_error_is_reported_at_once(errors_of: ErrorsOf) -> None:
    text = (
        "{\n\tadmn off\n}\n"  # 2
        ":8080 {\n"
        "\tfoo_bar\n"  # 5
        "\treverse_proxy 127.0.0.1:1 {\n\t\tlb_policy sticky\n\t}\n"  # 7
        "\tai_gateway {\n\t\tmodel m -> x\n\t\tprovider p {\n\t\t\tkind mock\n\t\t\tcolour red\n\t\t}\n\t}\n"  # 10, 13
        '\trespond /x "gone" 99x\n'  # 16
        "}\n"
    )
    assert errors_of(text) == [
        "Caddyfile:2:2: unknown global option `admn`",
        "Caddyfile:5:2: unknown directive `foo_bar`",
        "Caddyfile:7:13: lb_policy `sticky` is not supported (supported: round_robin, least_conn, first, random)",
        "Caddyfile:10:14: `x` must be PROVIDER:MODEL",
        "Caddyfile:13:4: unknown subdirective `colour` in provider `p`",
        "Caddyfile:16:20: `99x` is not an HTTP status code",
    ]


def test_missing_env_placeholder_names_the_variable(errors_of: ErrorsOf) -> None:
    text = ":8080 {\n\tai_gateway {\n\t\tapi_key k {\n\t\t\tkey {$NOT_SET_KEY}\n\t\t}\n\t}\n}\n"
    assert errors_of(text) == [
        "Caddyfile:4:8: environment variable `NOT_SET_KEY` is not set (write {$NOT_SET_KEY:default} to give a default)"
    ]


def test_missing_runtime_env_reference_names_the_variable(errors_of: ErrorsOf) -> None:
    text = ":8080 {\n\tai_gateway {\n\t\tprovider o {\n\t\t\tkind openai\n\t\t\tapi_key {env.NOT_SET_OPENAI}\n\t\t}\n\t}\n}\n"
    assert errors_of(text) == ["Caddyfile:5:12: environment variable `NOT_SET_OPENAI` is not set"]


def test_env_reference_in_an_upstream_is_resolved_at_load_time(errors_of: ErrorsOf, load_text) -> None:  # type: ignore[no-untyped-def]
    text = ":8080 {\n\treverse_proxy {env.UPSTREAM_ADDR}\n}\n"
    assert load_text(text, env={"UPSTREAM_ADDR": "10.0.0.1:80"}).upstreams[0].urls == ["http://10.0.0.1:80"]
    assert errors_of(text) == ["Caddyfile:2:16: environment variable `UPSTREAM_ADDR` is not set"]


def test_secret_values_never_appear_in_errors(tmp_path: Path) -> None:
    secret = "sk-live-very-secret-value"
    text = (
        ":8080 {\n\tai_gateway {\n"
        "\t\tprovider o {\n\t\t\tkind openai\n\t\t\tapi_key {env.OPENAI}\n\t\t\tapi_version 1 2\n\t\t}\n"
        "\t\tapi_key k {\n\t\t\tkey {$K}\n\t\t\trequest_limit_per_minute {$K}\n\t\t}\n"
        "\t}\n}\n"
    )
    path = tmp_path / "Caddyfile"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load(path, env={"OPENAI": secret, "K": secret})
    assert len(info.value.diagnostics) >= 2
    assert secret not in str(info.value)


def test_secret_values_never_appear_in_validation_errors(tmp_path: Path) -> None:
    secret = "sk-live-very-secret-value"
    text = ":8080 {\n\tai_gateway {\n\t\tapi_key a {\n\t\t\tkey {$K}\n\t\t}\n\t\tapi_key b {\n\t\t\tkey {$K}\n\t\t}\n\t}\n}\n"
    path = tmp_path / "Caddyfile"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load(path, env={"K": secret})
    assert [d.message for d in info.value.diagnostics] == ["api key `b` has the same secret as `a`"]
    assert secret not in str(info.value)


def test_uri_strip_prefix_must_be_certain_to_apply(errors_of: ErrorsOf) -> None:
    assert errors_of(":8080 {\n\thandle /api/* {\n\t\turi strip_prefix /v2\n\t\trespond 200\n\t}\n}\n") == [
        "Caddyfile:3:3: `uri strip_prefix /v2` must be inside a block that only matches paths starting with it "
        "(e.g. `handle /v2/* { uri strip_prefix /v2 ... }`), or use `handle_path`"
    ]
