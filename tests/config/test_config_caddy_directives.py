"""Caddyfile directives map onto the model with Caddy's meaning."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from ferrogate.config.model import HeaderOp, Respond, Route

LoadText = Callable[..., Any]


def site(body: str, address: str = ":8080", options: str = "") -> str:
    head = f"{{\n{options}\n}}\n" if options else ""
    return f"{head}{address} {{\n{body}\n}}\n"


def test_site_address_port_becomes_the_listener(load_text: LoadText) -> None:
    assert load_text(site("respond 204")).listen == [":8080"]


def test_several_addresses_share_one_site(load_text: LoadText) -> None:
    cfg = load_text(site("respond 204", "a.example.com:8080, b.example.com:8080"))
    assert cfg.listen == [":8080"]
    assert cfg.routes[0].hosts == ["a.example.com", "b.example.com"]


def test_ip_address_is_bound_as_written(load_text: LoadText) -> None:
    cfg = load_text(site("respond 204", "127.0.0.1:9000"))
    assert cfg.listen == ["127.0.0.1:9000"]
    assert cfg.routes[0].hosts == []


def test_hostname_without_port_listens_on_80(load_text: LoadText) -> None:
    cfg = load_text(site("respond 204", "api.example.com"))
    assert cfg.listen == [":80"]
    assert cfg.routes[0].hosts == ["api.example.com"]


def test_single_site_may_omit_braces(load_text: LoadText) -> None:
    cfg = load_text(":8080\nrespond /healthz 200\n")
    assert cfg.routes == [Route(paths=["/healthz"], respond=Respond(status=200))]


def test_respond_forms(load_text: LoadText) -> None:
    cfg = load_text(site('respond /a 404\nrespond /b "gone" 410\nrespond /c "hello"\nrespond /d {\n body "x"\n}'))
    by_path = {r.paths[0]: r.respond for r in cfg.routes}
    assert by_path["/a"] == Respond(status=404)
    assert by_path["/b"] == Respond(status=410, body="gone")
    assert by_path["/c"] == Respond(status=200, body="hello")
    assert by_path["/d"] == Respond(body="x")


def test_reverse_proxy_with_several_upstreams_and_options(load_text: LoadText) -> None:
    cfg = load_text(
        site(
            "reverse_proxy /api/* 127.0.0.1:9001 localhost:9002 {\n"
            " to https://backend.internal\n"
            " lb_policy least_conn\n"
            " header_up X-Env prod\n"
            " header_up +X-Tag a\n"
            " header_up -X-Debug\n"
            " header_down -Server\n"
            " fail_duration 30s\n"
            " max_fails 2\n"
            " transport http {\n"
            "  dial_timeout 2s\n"
            "  response_header_timeout 1m30s\n"
            "  tls_trusted_ca_certs /etc/ca.pem\n"
            " }\n"
            "}"
        )
    )
    (up,) = cfg.upstreams
    assert up.urls == ["https://127.0.0.1:9001", "https://localhost:9002", "https://backend.internal"]
    assert up.lb_policy == "least_conn"
    assert up.request_headers == [
        HeaderOp(action="set", name="X-Env", value="prod"),
        HeaderOp(action="add", name="X-Tag", value="a"),
        HeaderOp(action="delete", name="X-Debug"),
    ]
    assert up.response_headers == [HeaderOp(action="delete", name="Server")]
    assert (up.health.max_fails, up.health.cooldown_secs) == (2, 30.0)
    assert (up.connect_timeout_secs, up.first_byte_timeout_secs) == (2.0, 90.0)
    assert up.ca_file == "/etc/ca.pem"
    assert cfg.routes == [Route(paths=["/api/*"], upstream=up.name)]


def test_reverse_proxy_plain_upstream_gets_http(load_text: LoadText) -> None:
    cfg = load_text(site("reverse_proxy 127.0.0.1:9000"))
    assert cfg.upstreams[0].urls == ["http://127.0.0.1:9000"]
    assert cfg.routes == [Route(upstream=cfg.upstreams[0].name)]


def test_handle_path_strips_its_prefix(load_text: LoadText) -> None:
    cfg = load_text(site("handle_path /api/* {\n reverse_proxy 127.0.0.1:9001\n}"))
    assert cfg.routes == [Route(paths=["/api/*"], strip_prefix="/api", upstream="upstream-1")]


def test_paths_inside_handle_path_are_relative_to_the_stripped_path(load_text: LoadText) -> None:
    cfg = load_text(site("handle_path /api/* {\n respond /ping 201\n}"))
    assert cfg.routes[0] == Route(paths=["/api/ping"], strip_prefix="/api", respond=Respond(status=201))


def test_request_left_unhandled_by_a_handle_block_continues_with_later_routes(load_text: LoadText) -> None:
    # Caddy: /api/other enters the handle_path block, nothing inside answers, so the
    # chain continues with `respond 404`, seeing the stripped path.
    cfg = load_text(site("handle_path /api/* {\n respond /ping 201\n}\nrespond 404"))
    assert cfg.routes == [
        Route(paths=["/api/ping"], strip_prefix="/api", respond=Respond(status=201)),
        Route(paths=["/api/*"], strip_prefix="/api", respond=Respond(status=404)),
        Route(respond=Respond(status=404)),
    ]


def test_request_left_unhandled_by_a_handle_block_skips_its_sibling_blocks(load_text: LoadText) -> None:
    # Caddy: /api/other enters the first handle block, so the catch-all handle block
    # (same group) must not run; nothing else does, so FerroGate answers 404.
    cfg = load_text(site("handle /api/* {\n respond /api/ping 201\n}\nhandle {\n respond 418\n}\nrespond /api/zz 203"))
    assert [(r.paths, r.respond.status if r.respond else 0) for r in cfg.routes] == [
        (["/api/ping"], 201),
        (["/api/zz"], 203),  # a later non-handle route still runs for the block's requests
        (["/api/*"], 404),
        ([], 418),
        (["/api/zz"], 203),
    ]


def test_handle_and_handle_path_are_sorted_together(load_text: LoadText) -> None:
    cfg = load_text(site("handle /a/* {\n respond 201\n}\nhandle_path /a/b/* {\n respond 202\n}"))
    assert [r.paths for r in cfg.routes] == [["/a/b/*"], ["/a/*"]]


def test_handle_with_uri_strip_prefix(load_text: LoadText) -> None:
    cfg = load_text(site("handle /legacy/* {\n uri strip_prefix /legacy\n reverse_proxy 127.0.0.1:9002\n}"))
    assert cfg.routes == [Route(paths=["/legacy/*"], strip_prefix="/legacy", upstream="upstream-1")]


def test_directives_are_sorted_by_caddy_directive_order(load_text: LoadText) -> None:
    # Source order: reverse_proxy, respond, handle_path, handle. Caddy runs
    # handle, handle_path, respond, reverse_proxy (see the caddy adapt oracle).
    cfg = load_text(
        site(
            "reverse_proxy /v1/* 127.0.0.1:9000\n"
            "respond /healthz 200\n"
            "handle_path /api/* {\n reverse_proxy 127.0.0.1:9001\n}\n"
            "handle /legacy/* {\n reverse_proxy 127.0.0.1:9002\n}"
        )
    )
    assert [r.paths for r in cfg.routes] == [["/legacy/*"], ["/api/*"], ["/healthz"], ["/v1/*"]]


def test_same_directive_sorted_by_path_specificity(load_text: LoadText) -> None:
    cfg = load_text(site("handle {\n respond 404\n}\nhandle /a/* {\n respond 201\n}\nhandle /a/b/* {\n respond 202\n}"))
    assert [(r.paths, r.respond.status if r.respond else 0) for r in cfg.routes] == [
        (["/a/b/*"], 202), (["/a/*"], 201), ([], 404),
    ]


def test_route_block_keeps_source_order(load_text: LoadText) -> None:
    cfg = load_text(site("route {\n reverse_proxy /x/* 127.0.0.1:1\n respond /x/y 200\n}"))
    assert [(r.paths, r.upstream is not None) for r in cfg.routes] == [(["/x/*"], True), (["/x/y"], False)]


def test_nested_matchers_are_intersected(load_text: LoadText) -> None:
    cfg = load_text(site("handle /a/* {\n respond /a/b 201\n respond /c 202\n}"))
    assert [(r.paths, r.respond.status if r.respond else 0) for r in cfg.routes] == [(["/a/b"], 201)]


def test_named_matcher_with_path_host_and_method(load_text: LoadText) -> None:
    cfg = load_text(site("@post {\n path /api/* /rpc\n host api.example.com\n method post\n}\nrespond @post 202"))
    assert cfg.routes == [
        Route(hosts=["api.example.com"], paths=["/api/*", "/rpc"], methods=["POST"], respond=Respond(status=202))
    ]


def test_single_line_named_matcher(load_text: LoadText) -> None:
    cfg = load_text(site("@get method GET\nreverse_proxy @get 127.0.0.1:1"))
    assert cfg.routes[0].methods == ["GET"]


def test_header_directive_edits_response_headers_of_later_handlers(load_text: LoadText) -> None:
    cfg = load_text(site("respond 200\nheader X-A 1\nheader {\n +X-B 2\n -Server\n}"))
    assert cfg.routes[0].response_headers == [
        HeaderOp(action="set", name="X-A", value="1"),
        HeaderOp(action="add", name="X-B", value="2"),
        HeaderOp(action="delete", name="Server"),
    ]


def test_host_specific_sites_come_before_catch_all_sites(load_text: LoadText) -> None:
    cfg = load_text(":8080 {\n respond 404\n}\napi.example.com:8080 {\n respond 200\n}\n")
    assert [r.hosts for r in cfg.routes] == [["api.example.com"], []]


def test_log_enables_access_logs(load_text: LoadText) -> None:
    assert load_text(site("log\nrespond 200")).telemetry.access_log == "all"
    assert load_text(site("log {\n output discard\n}\nrespond 200")).telemetry.access_log == "off"


def test_tls_with_certificate_files(load_text: LoadText) -> None:
    cfg = load_text(site("tls /etc/cert.pem /etc/key.pem\nrespond 200", "example.com"))
    assert (cfg.tls.enabled, cfg.tls.cert_path, cfg.tls.key_path) == (True, "/etc/cert.pem", "/etc/key.pem")
    assert cfg.listen == [":443"]


def test_tls_acme_with_cloudflare_dns(load_text: LoadText) -> None:
    cfg = load_text(
        site(
            "tls {\n issuer acme {\n  email ops@example.com\n  dir https://acme.test/dir\n }\n"
            " dns cloudflare {\n  api_token {env.CF_TOKEN}\n  zone_name example.com\n }\n"
            " propagation_delay 20s\n renewal_window 720h\n storage /var/lib/acme\n}\nrespond 200",
            "api.example.com",
        ),
        env={"CF_TOKEN": "cf-secret"},
    )
    acme = cfg.tls.acme
    assert (acme.enabled, acme.terms_agreed, acme.challenge) == (True, True, "dns-01")
    assert acme.domains == ["api.example.com"]
    assert (acme.email, acme.directory_url) == ("ops@example.com", "https://acme.test/dir")
    assert acme.dns_provider == "cloudflare"
    assert acme.dns_config is not None
    assert (acme.dns_config.api_token_env, acme.dns_config.zone_name) == ("CF_TOKEN", "example.com")
    assert acme.dns_config.api_token is None  # the secret stays in the environment
    assert (acme.dns_propagation_delay_secs, acme.renewal_window_secs) == (20.0, 720 * 3600)
    assert acme.storage_dir == "/var/lib/acme"


def test_tls_resolvers_names_the_dns_server_that_checks_the_record(load_text: LoadText) -> None:
    cfg = load_text(site("tls {\n dns cloudflare {env.CF}\n resolvers 1.1.1.1 8.8.8.8\n}\nrespond 200", "a.example.com"),
                    env={"CF": "x"})
    assert cfg.tls.acme.dns_resolver == "1.1.1.1:53"


def test_tls_dns_cloudflare_short_form(load_text: LoadText) -> None:
    cfg = load_text(site("tls {\n dns cloudflare {env.CF}\n}\nrespond 200", "a.example.com"), env={"CF": "x"})
    assert cfg.tls.acme.dns_config is not None and cfg.tls.acme.dns_config.api_token_env == "CF"


def test_global_options(load_text: LoadText) -> None:
    cfg = load_text(
        site(
            "respond 200",
            options=(
                "admin 127.0.0.1:3019\ngrace_period 15s\n"
                "servers {\n timeouts {\n  read_header 10s\n  idle 2m\n  read_body 1m\n }\n max_header_size 16KiB\n}\n"
                "email ops@example.com\nrenew_interval 6h\nstorage file_system {\n root /data/acme\n}"
            ),
        )
    )
    assert cfg.admin.listen == "127.0.0.1:3019"
    assert cfg.reliability.graceful_shutdown_grace_period_secs == 15.0
    assert (cfg.limits.header_timeout_secs, cfg.limits.idle_timeout_secs, cfg.limits.body_timeout_secs) == (10.0, 120.0, 60.0)
    assert cfg.limits.max_header_bytes == 16 * 1024
    assert cfg.tls.acme.email == "ops@example.com"
    assert cfg.tls.acme.renewal_check_interval_secs == 6 * 3600
    assert cfg.tls.acme.storage_dir == "/data/acme"


def test_admin_off(load_text: LoadText) -> None:
    assert load_text(site("respond 200", options="admin off")).admin.enabled is False


def test_ferrogate_options_block_uses_toml_keys(load_text: LoadText) -> None:
    cfg = load_text(
        site(
            "respond 200",
            options=(
                "ferrogate {\n reliability {\n  provider_dispatch_max_retries 4\n  provider_connect_timeout_secs 1500ms\n }\n"
                " telemetry {\n  access_log sampled\n  access_log_sample_rate 0.5\n }\n"
                " cluster {\n  counter_backend redis\n  redis_url redis://127.0.0.1:6379\n }\n"
                " limits {\n  max_body_bytes 10MB\n }\n storage {\n  path /tmp/state.db\n }\n"
                " metering {\n  export_enabled off\n }\n}"
            ),
        )
    )
    assert cfg.reliability.provider_dispatch_max_retries == 4
    assert cfg.reliability.provider_connect_timeout_secs == 1.5
    assert (cfg.telemetry.access_log, cfg.telemetry.access_log_sample_rate) == ("sampled", 0.5)
    assert (cfg.cluster.counter_backend, cfg.cluster.redis_url) == ("redis", "redis://127.0.0.1:6379")
    assert cfg.limits.max_body_bytes == 10_000_000
    assert cfg.storage.path == "/tmp/state.db"


AI = """
ai_gateway {
	provider openai {
		kind openai
		base_url https://api.openai.com/v1
		api_key {env.OPENAI_KEY}
	}
	provider mock mock
	model gpt-4o -> openai:gpt-4o {
		capabilities chat streaming tools
		input_price_per_1m 2.50
		output_price_per_1m 10
		context_window 128000
		routing_strategy priority
		fallback mock:gpt-4o {
			priority 2
			weight 3
		}
	}
	model local mock:llama3:8b
	api_key team-a {
		key {$TEAM_A_KEY:sk-team-a}
		tenant acme
		scopes models.read chat.completions
		allowed_models gpt-4o
		request_limit_per_minute 60
		monthly_token_budget 1000000
	}
	policy no-local {
		api_key_ids team-a
		models local
		message "not for you"
	}
	mcp_server github {
		transport streamable_http
		url https://mcp.example.com/
		auth_type headers
		header Authorization {env.GH_TOKEN}
		tools_to_execute search
		timeout_ms 10s
	}
	gateway_config cheap {
		name "Cheap"
		api_key_ids team-a
	}
	cache {
		ttl_secs 10m
	}
}
"""


def test_ai_gateway_block(load_text: LoadText) -> None:
    cfg = load_text(site(AI), env={"OPENAI_KEY": "sk-openai-secret", "GH_TOKEN": "gh-secret"})
    assert cfg.routes == [Route(paths=["/v1/*"], ai_gateway=True)]
    openai, mock = cfg.providers
    assert (openai.kind, openai.base_url, openai.api_key_env, openai.api_key) == (
        "openai", "https://api.openai.com/v1", "OPENAI_KEY", None,
    )
    assert (mock.name, mock.kind) == ("mock", "mock")
    gpt, local = cfg.models
    assert (gpt.provider, gpt.provider_model, gpt.capabilities) == ("openai", "gpt-4o", ["chat", "streaming", "tools"])
    assert (gpt.input_price_per_1m, gpt.output_price_per_1m) == (Decimal("2.50"), Decimal("10"))
    assert gpt.fallbacks[0].provider == "mock" and (gpt.fallbacks[0].priority, gpt.fallbacks[0].weight) == (2, 3)
    assert (local.provider, local.provider_model) == ("mock", "llama3:8b")
    (key,) = cfg.api_keys
    assert (key.key, key.tenant, key.scopes) == ("sk-team-a", "acme", ["models.read", "chat.completions"])
    assert (key.request_limit_per_minute, key.monthly_token_budget) == (60, 1_000_000)
    assert cfg.policies[0].models == ["local"] and cfg.policies[0].message == "not for you"
    server = cfg.mcp_servers[0]
    assert (server.timeout_ms, server.headers[0].value_env, server.headers[0].value) == (10_000, "GH_TOKEN", None)
    assert cfg.gateway_configs[0].name == "Cheap"
    assert (cfg.cache.enabled, cfg.cache.ttl_secs) == (True, 600)


def test_ai_gateway_with_inline_matcher(load_text: LoadText) -> None:
    cfg = load_text(site("ai_gateway /llm/* {\n provider mock mock\n}"))
    assert cfg.routes == [Route(paths=["/llm/*"], ai_gateway=True)]


def test_ai_gateway_inside_handle_path_prefixes_its_default_path(load_text: LoadText) -> None:
    cfg = load_text(site("handle_path /ai/* {\n ai_gateway\n}"))
    assert cfg.routes == [Route(paths=["/ai/v1/*"], strip_prefix="/ai", ai_gateway=True)]


def test_sites_on_different_ports_warn_that_routes_are_shared(load_full) -> None:  # type: ignore[no-untyped-def]
    loaded = load_full(":8080 {\n respond 200\n}\n:8081 {\n respond 201\n}\n")
    assert loaded.config.listen == [":8080", ":8081"]
    assert [(w.line, w.column) for w in loaded.warnings] == [(1, 1), (4, 1)]


def test_snippet_import_with_arguments(load_text: LoadText) -> None:
    cfg = load_text("(proxy) {\n\treverse_proxy {args[0]} 127.0.0.1:{args.1}\n}\n:8080 {\n\timport proxy /a/* 9001\n\timport proxy /b/* 9002\n}\n")
    assert [(r.paths, u.urls) for r, u in zip(cfg.routes, cfg.upstreams, strict=True)] == [
        (["/a/*"], ["http://127.0.0.1:9001"]), (["/b/*"], ["http://127.0.0.1:9002"]),
    ]


def test_import_of_a_file_relative_to_the_caddyfile(load_text: LoadText, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "ai.caddy").write_text("ai_gateway {\n\tprovider mock mock\n}\n")
    cfg = load_text(":8080 {\n\timport ai.caddy\n}\n")
    assert cfg.providers[0].name == "mock" and cfg.routes[0].ai_gateway


def test_import_of_an_unknown_name_is_an_error(errors_of) -> None:  # type: ignore[no-untyped-def]
    assert errors_of(":8080 {\n\timport nothing_here\n}\n") == [
        "Caddyfile:2:9: `nothing_here` is neither a snippet nor a readable file"
    ]


def test_errors_inside_an_imported_file_point_into_that_file(errors_of, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "bad.caddy").write_text("respond 200\nfrobnicate\n")
    assert errors_of(":8080 {\n\timport bad.caddy\n}\n") == ["bad.caddy:2:1: unknown directive `frobnicate`"]


def test_glob_path_matchers_pass_through(load_text: LoadText) -> None:
    cfg = load_text(site("@json path *.json /files/*/raw\nrespond @json 200"))
    assert cfg.routes[0].paths == ["*.json", "/files/*/raw"]


def test_glob_inside_a_compatible_prefix_is_kept(load_text: LoadText) -> None:
    cfg = load_text(site("handle /files/* {\n respond /files/*/raw 200\n}"))
    assert cfg.routes[0].paths == ["/files/*/raw"]


def test_uncombinable_globs_are_an_error(errors_of) -> None:  # type: ignore[no-untyped-def]
    assert errors_of(site("@json path *.json\nhandle /api/* {\n respond @json 200\n}")) == [
        "Caddyfile:4:2: cannot combine path matchers `/api/*` and `*.json`; write one pattern"
    ]


def test_a_bare_number_for_a_ms_key_is_milliseconds(tmp_path: Path) -> None:
    from ferrogate.config.load import load

    path = tmp_path / "Caddyfile"
    path.write_text(
        "{\n\tferrogate {\n\t\treliability {\n\t\t\tprovider_retry_backoff_ms 250\n\t\t}\n\t}\n}\n"
        ":8080 {\n\tai_gateway {\n\t\tprovider m {\n\t\t\tkind mock\n\t\t\tmock {\n\t\t\t\tlatency_ms 5\n\t\t\t}\n\t\t}\n\t}\n}\n"
    )
    config = load(path, env={}).config
    assert config.reliability.provider_retry_backoff_ms == 250
    assert config.providers[0].mock is not None and config.providers[0].mock.latency_ms == 5.0


def test_a_duration_for_a_ms_key_is_converted(tmp_path: Path) -> None:
    from ferrogate.config.load import load

    path = tmp_path / "Caddyfile"
    path.write_text("{\n\tferrogate {\n\t\treliability {\n\t\t\tprovider_retry_backoff_ms 2s\n\t\t}\n\t}\n}\n:8080 {\n\trespond ok\n}\n")
    assert load(path, env={}).config.reliability.provider_retry_backoff_ms == 2000
