"""Cross-reference checks: each problem is reported at the offending entry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ferrogate.governance.keys import hash_key

LoadText = Callable[..., Any]
ErrorsOf = Callable[..., list[str]]

BASE = '[[providers]]\nname = "mock"\nkind = "mock"\n'  # lines 1-3


def _model(name: str, provider: str = "mock") -> str:
    return f'[[models]]\nname = "{name}"\nprovider = "{provider}"\nprovider_model = "x"\n'


def test_model_naming_an_unknown_provider(errors_of: ErrorsOf) -> None:
    assert errors_of(BASE + _model("m", "ghost"), "c.toml") == [
        "c.toml:6:1: model `m` names unknown provider `ghost`"
    ]


def test_fallback_naming_an_unknown_provider(errors_of: ErrorsOf) -> None:
    text = BASE + _model("m") + 'fallbacks = [{ provider = "ghost", provider_model = "y" }]\n'
    assert errors_of(text, "c.toml") == ["c.toml:8:16: model `m` fallback names unknown provider `ghost`"]


def test_api_key_allowing_an_unknown_model(errors_of: ErrorsOf) -> None:
    text = BASE + _model("m") + '[[api_keys]]\nid = "k"\nkey = "sk-1"\nallowed_models = ["m", "nope"]\n'
    assert errors_of(text, "c.toml") == ["c.toml:11:24: api key `k`: allowed_models names unknown model `nope`"]


def test_api_key_denying_an_unknown_model(errors_of: ErrorsOf) -> None:
    text = BASE + '[[api_keys]]\nid = "k"\nkey = "sk-1"\ndenied_models = ["nope"]\n'
    assert errors_of(text, "c.toml") == ["c.toml:7:18: api key `k`: denied_models names unknown model `nope`"]


def test_duplicate_names_point_at_the_second_definition(errors_of: ErrorsOf) -> None:
    text = BASE + BASE + _model("m") + _model("m")
    assert errors_of(text, "c.toml") == [
        "c.toml:5:1: duplicate providers name `mock` (first defined at line 2)",
        "c.toml:12:1: duplicate models name `m` (first defined at line 8)",
    ]


def test_duplicate_api_key_ids_and_secrets(errors_of: ErrorsOf) -> None:
    text = '[[api_keys]]\nid = "a"\nkey = "sk-1"\n[[api_keys]]\nid = "a"\nkey = "sk-1"\n'
    assert errors_of(text, "c.toml") == [
        "c.toml:4:3: api key `a` has the same secret as `a`",
        "c.toml:5:1: duplicate api_keys id `a` (first defined at line 2)",
    ]


def test_route_to_an_unknown_upstream(errors_of: ErrorsOf) -> None:
    assert errors_of('[[routes]]\npaths = ["/a/*"]\nupstream = "nowhere"\n', "c.toml") == [
        "c.toml:3:1: route #1 names unknown upstream `nowhere`"
    ]


def test_route_without_a_handler(errors_of: ErrorsOf) -> None:
    assert errors_of('[[routes]]\nname = "r"\npaths = ["/a"]\n', "c.toml") == [
        "c.toml:1:3: route `r` has no handler (set one of upstream, respond, ai_gateway)"
    ]


def test_route_with_several_handlers(errors_of: ErrorsOf) -> None:
    text = '[[routes]]\npaths = ["/a"]\nai_gateway = true\nrespond = { status = 204 }\n'
    assert errors_of(text, "c.toml") == ["c.toml:1:3: route #1 has several handlers (respond, ai_gateway); set exactly one"]


def test_api_key_needs_key_key_env_or_key_hash(errors_of: ErrorsOf) -> None:
    assert errors_of('[[api_keys]]\nid = "k"\n', "c.toml") == ["c.toml:1:3: api key `k` needs `key`, `key_env` or `key_hash`"]


def test_api_key_env_must_be_set(errors_of: ErrorsOf) -> None:
    assert errors_of('[[api_keys]]\nid = "k"\nkey_env = "NOT_SET_ANYWHERE_X"\n', "c.toml") == [
        "c.toml:3:1: environment variable `NOT_SET_ANYWHERE_X` is not set"
    ]


def test_key_hash_must_have_the_stored_form(errors_of: ErrorsOf) -> None:
    assert errors_of('[[api_keys]]\nid = "k"\nkey_hash = "sha1:abc"\n', "c.toml") == [
        "c.toml:3:1: api key `k`: key_hash must look like hmac-sha256:<64 hex digits> (use `ferrogate hash-key`)"
    ]


def test_key_hash_from_hash_key_is_accepted(load_text: LoadText) -> None:
    cfg = load_text(f'[[api_keys]]\nid = "k"\nkey_hash = "{hash_key("sk-x", env={})}"\n', "c.toml")
    assert cfg.api_keys[0].key_hash == hash_key("sk-x", env={})


def test_tls_enabled_without_certificates_or_acme(errors_of: ErrorsOf) -> None:
    assert errors_of("[tls]\nenabled = true\n", "c.toml") == [
        "c.toml:2:1: tls is enabled but has neither cert_path/key_path nor acme"
    ]


def test_acme_dns_01_without_a_dns_provider(errors_of: ErrorsOf) -> None:
    text = '[tls]\nenabled = true\n[tls.acme]\nenabled = true\ndomains = ["a.example"]\nchallenge = "dns-01"\nterms_agreed = true\n'
    assert errors_of(text, "c.toml") == ["c.toml:3:6: tls.acme with challenge dns-01 needs `dns_provider`"]


_ACME = '[tls]\nenabled = true\n[tls.acme]\nenabled = true\nterms_agreed = true\n'  # lines 1-5


def test_acme_http_01_cannot_validate_a_wildcard(errors_of: ErrorsOf) -> None:
    (error,) = errors_of(_ACME + 'domains = ["*.a.example"]\n', "c.toml")
    assert error.startswith("c.toml:6:") and 'only be validated with challenge = "dns-01"' in error


def test_acme_http_01_challenge_port_must_not_be_a_public_listeners(errors_of: ErrorsOf) -> None:
    text = 'listen = ["0.0.0.0:80", "0.0.0.0:443"]\n' + _ACME + 'domains = ["a.example"]\nhttp_challenge_listen = "127.0.0.1:80"\n'
    (error,) = errors_of(text, "c.toml")
    assert error.startswith("c.toml:8:") and "takes the port of the listener 0.0.0.0:80" in error


def test_acme_needs_the_terms_agreed_and_tls_on(errors_of: ErrorsOf) -> None:
    errors = errors_of('[tls.acme]\nenabled = true\ndomains = ["a.example"]\n', "c.toml")
    assert any("tls.enabled = true" in e for e in errors) and any("terms_agreed = true" in e for e in errors)


def test_missing_provider_api_key_env_names_the_variable(errors_of: ErrorsOf) -> None:
    text = '[[providers]]\nname = "o"\nkind = "openai"\napi_key_env = "OPENAI_KEY_FOR_TEST"\n'
    assert errors_of(text, "c.toml") == ["c.toml:4:1: environment variable `OPENAI_KEY_FOR_TEST` is not set"]


def test_provider_api_key_env_that_is_set_loads(load_text: LoadText) -> None:
    text = '[[providers]]\nname = "o"\nkind = "openai"\napi_key_env = "K"\n'
    assert load_text(text, "c.toml", env={"K": "sk-secret"}).providers[0].api_key_env == "K"


def test_policy_and_profile_references_are_checked(errors_of: ErrorsOf) -> None:
    text = (
        '[[policies]]\nname = "p"\napi_key_ids = ["ghost"]\nmodels = ["nope", "mcp_tool:x-y"]\nproviders = ["mcp:none"]\n'
        '[[gateway_configs]]\nid = "g"\napi_key_ids = ["ghost"]\n'
    )
    assert errors_of(text, "c.toml") == [
        "c.toml:3:16: policy `p` names unknown api key `ghost`",
        "c.toml:4:11: policy `p` names unknown model `nope`",
        "c.toml:5:14: policy `p` names unknown MCP server `none`",
        "c.toml:8:16: gateway config `g` names unknown api key `ghost`",
    ]


def test_a_policy_naming_a_tenant_no_key_belongs_to_is_an_error(errors_of: ErrorsOf) -> None:
    text = '[[api_keys]]\nid = "k"\nkey = "sk-1"\ntenant = "team-a"\n[[policies]]\nname = "p"\ntenants = ["team-a", "team-z"]\n'
    assert errors_of(text, "c.toml") == ["c.toml:7:22: policy `p` names tenant `team-z`, which no api key belongs to and [[tenants]] does not define"]


def test_a_model_limited_to_a_tenant_no_key_belongs_to_is_an_error(errors_of: ErrorsOf) -> None:
    text = BASE + _model("m") + 'tenants = ["team-z"]\n'
    assert errors_of(text, "c.toml") == ["c.toml:8:12: model `m` names tenant `team-z`, which no api key belongs to and [[tenants]] does not define"]


def test_a_policy_caddyfile_block_takes_tenants(load_text: LoadText) -> None:
    text = (
        ":8080 {\n"
        "\tai_gateway {\n"
        "\t\tprovider mock {\n\t\t\tkind mock\n\t\t}\n"
        "\t\tmodel m -> mock:x\n"
        "\t\tapi_key k {\n\t\t\tkey sk-1\n\t\t\ttenant team-a\n\t\t}\n"
        "\t\tpolicy p {\n\t\t\ttenants team-a\n\t\t\tmodels m*\n\t\t}\n"
        "\t}\n"
        "}\n"
    )
    policy = load_text(text, "Caddyfile").policies[0]
    assert (policy.tenants, policy.models) == (["team-a"], ["m*"])


def test_cross_reference_errors_in_a_caddyfile_point_into_the_caddyfile(errors_of: ErrorsOf) -> None:
    text = (
        ":8080 {\n"
        "\tai_gateway {\n"
        "\t\tmodel m -> ghost:x\n"
        "\t\tapi_key k {\n"
        "\t\t\tkey sk-1\n"
        "\t\t\tallowed_models nope\n"
        "\t\t}\n"
        "\t}\n"
        "}\n"
    )
    assert errors_of(text) == [
        "Caddyfile:3:14: model `m` names unknown provider `ghost`",
        "Caddyfile:6:19: api key `k`: allowed_models names unknown model `nope`",
    ]


def test_same_listener_written_twice(errors_of: ErrorsOf) -> None:
    assert errors_of('listen = [":8080", "0.0.0.0:8080"]\n', "c.toml") == [
        "c.toml:1:20: listen address `0.0.0.0:8080` is the same as `:8080`"
    ]


def test_admin_listener_colliding_with_a_public_one(errors_of: ErrorsOf) -> None:
    assert errors_of('listen = ":2019"\n[admin]\nlisten = "127.0.0.1:2019"\n', "c.toml") == [
        "c.toml:3:1: admin listen address `127.0.0.1:2019` collides with public listener `:2019`"
    ]


def test_ephemeral_ports_never_collide(load_text: LoadText) -> None:
    cfg = load_text('listen = "127.0.0.1:0"\n[admin]\nlisten = "127.0.0.1:0"\n', "c.toml")
    assert cfg.listen == ["127.0.0.1:0"]


def test_metering_export_needs_request_records(errors_of: ErrorsOf) -> None:
    text = '[telemetry]\nrequest_records = false\n[metering]\nexport_enabled = true\nexport_endpoint = "http://127.0.0.1:9/x"\n'
    assert errors_of(text, "c.toml") == [
        "c.toml:4:1: metering export needs request records: `telemetry.request_records = true`"
    ]


def test_otlp_export_needs_request_records(errors_of: ErrorsOf) -> None:
    text = '[telemetry]\nrequest_records = false\notlp_endpoint = "http://127.0.0.1:4318"\n'
    assert errors_of(text, "c.toml") == [
        "c.toml:3:1: OTLP export is made from request records: `telemetry.request_records = true`"
    ]


def test_metering_export_endpoint_must_be_http(errors_of: ErrorsOf) -> None:
    text = '[metering]\nexport_enabled = true\nexport_endpoint = "ftp://billing.example/x"\n'
    assert errors_of(text, "c.toml") == [
        "c.toml:3:1: export_endpoint is the receiver's URL (http:// or https://)"
    ]


_WEB = '[[mcp_servers]]\nname = "web"\ntransport = "streamable_http"\nurl = "http://127.0.0.1:9/mcp"\n'  # lines 1-4


def test_mcp_headers_without_an_auth_type_that_sends_them_are_refused(errors_of: ErrorsOf) -> None:
    text = _WEB + '[[mcp_servers.headers]]\nname = "X-Key"\nvalue = "v"\n'
    (error,) = errors_of(text, "c.toml")
    assert error.startswith("c.toml:5:") and 'auth_type = "none" sends none' in error


def test_mcp_auth_type_without_headers_is_refused(errors_of: ErrorsOf) -> None:
    (error,) = errors_of(_WEB + 'auth_type = "bearer"\n', "c.toml")
    assert error.startswith("c.toml:5:") and "needs [[mcp_servers.headers]]" in error


def test_agentic_max_steps_out_of_range_is_refused(errors_of: ErrorsOf) -> None:
    assert errors_of("[agentic]\nmax_steps = 0\n", "c.toml") == [
        "c.toml:2:1: agentic.max_steps must be between 1 and 50"
    ]


def test_a_negative_tool_price_is_refused(errors_of: ErrorsOf) -> None:
    (error,) = errors_of(_WEB + 'price_per_call = "-1"\n', "c.toml")
    assert error.startswith("c.toml:5:") and "price_per_call must be >= 0" in error
