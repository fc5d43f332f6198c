"""Write docs/configuration.md from the config model, so the reference cannot fall behind.

Every table and key comes from ``ferrogate/config/model.py`` (types and defaults read
from the msgspec structs); what a key does comes from ``DESCRIPTIONS`` below; which
keys are accepted but not enforced yet comes from ``config/unenforced.py``'s list.
``tests/test_docs_configuration.py`` fails when the checked-in file differs from what
this prints, or when a key has no description.

    python scripts/gen_configuration_doc.py > docs/configuration.md.new && mv docs/configuration.md.new docs/configuration.md

The sections from ``HAND_WRITTEN_FROM`` on are edited in the doc itself and kept.
"""

from __future__ import annotations

import types
import typing
from decimal import Decimal
from pathlib import Path

import msgspec

from ferrogate.config import model

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
# Everything from this heading on is written by hand in the doc itself (prose and examples)
# and carried over as is; only the tables above it are generated.
HAND_WRITTEN_FROM = "## Caddyfile values"

# (table heading, struct, TOML path, Caddyfile form of the table)
SECTIONS: list[tuple[str, type[msgspec.Struct], str, str]] = [
    ("Top level", model.Config, "", "one site block per address: `:8080 { ... }`"),
    ("[admin]", model.Admin, "admin", "global option `admin ADDRESS` / `admin off`; the rest in `ferrogate { admin { KEY VALUE } }`"),
    ("[limits]", model.Limits, "limits", "global `servers { timeouts {...} max_header_size N }`, or `ferrogate { limits { KEY VALUE } }`"),
    ("[telemetry]", model.Telemetry, "telemetry", "site `log` (access_log all), global `log { level L }`, or `ferrogate { telemetry { KEY VALUE } }`"),
    ("[metering]", model.Metering, "metering", "`ferrogate { metering { KEY VALUE } }`"),
    ("[storage]", model.Storage, "storage", "`ferrogate { storage { KEY VALUE } }`"),
    ("[cache]", model.Cache, "cache", "`ai_gateway { cache { KEY VALUE } }` or `ferrogate { cache { ... } }`"),
    ("[governance]", model.Governance, "governance", "`ferrogate { governance { KEY VALUE } }`"),
    ("[agentic]", model.Agentic, "agentic", "`ferrogate { agentic { KEY VALUE } }`"),
    ("[reliability]", model.Reliability, "reliability", "global `grace_period D`, or `ferrogate { reliability { KEY VALUE } }`"),
    ("[tls]", model.Tls, "tls", "site `tls CERT KEY`, `tls { ... }`"),
    ("[[tls.certificates]]", model.TlsCertificate, "tls.certificates", "(TOML only)"),
    ("[tls.acme]", model.Acme, "tls.acme", "site `tls { issuer acme { email E dir URL } storage DIR dns cloudflare {...} renewal_window_secs N ... }`"),
    ("tls.acme.dns_config", model.DnsConfig, "tls.acme.dns_config", "`dns cloudflare { api_token T zone_name Z }`"),
    ("[cluster]", model.Cluster, "cluster", "`ferrogate { cluster { KEY VALUE } }`"),
    ("[[upstreams]]", model.Upstream, "upstreams", "`reverse_proxy URL... { lb_policy P transport http {...} header_up ... }`"),
    ("upstreams.health", model.PassiveHealth, "upstreams.health", "`reverse_proxy { fail_duration D max_fails N }`"),
    ("request_headers / response_headers entries", model.HeaderOp, "headers", "`header_up` / `header_down` (`Name value`, `+Name value`, `-Name`)"),
    ("[[routes]]", model.Route, "routes", "`handle`, `handle_path`, `route`, `respond`, `reverse_proxy`, matchers (`@name`, `path`, `host`, `method`)"),
    ("routes.respond", model.Respond, "routes.respond", "`respond [MATCHER] BODY [STATUS]`"),
    ("[[providers]]", model.Provider, "providers", "`ai_gateway { provider NAME { KEY VALUE } }` (`api_key {env.X}` becomes `api_key_env`)"),
    ("providers.mock", model.MockSettings, "providers.mock", "`provider NAME { kind mock mock { KEY VALUE } }`"),
    ("[[models]]", model.Model, "models", "`ai_gateway { model LOGICAL -> PROVIDER:MODEL { KEY VALUE  fallback PROVIDER:MODEL {...} } }`"),
    ("models.fallbacks entries", model.Fallback, "models.fallbacks", "`fallback PROVIDER:MODEL { KEY VALUE }`"),
    ("[[api_keys]]", model.ApiKey, "api_keys", "`ai_gateway { api_key ID { KEY VALUE } }` (`key {$X}` becomes `key_env`)"),
    ("[[tenants]]", model.Tenant, "tenants", "`ai_gateway { tenant ID { KEY VALUE } }`"),
    ("[[policies]]", model.Policy, "policies", "`ai_gateway { policy NAME { KEY VALUE } }`"),
    ("[[gateway_configs]]", model.GatewayProfile, "gateway_configs", "`ai_gateway { gateway_config ID { KEY VALUE } }`"),
    ("[[mcp_servers]]", model.McpServer, "mcp_servers", "`ai_gateway { mcp_server NAME { KEY VALUE  header NAME {env.X} } }`"),
    ("mcp_servers.headers entries", model.McpHeader, "mcp_servers.headers", "`header NAME VALUE` (VALUE may be `{env.X}`)"),
]

DESCRIPTIONS: dict[str, str] = {
    "listen": "public listen addresses (`host:port`, `:port`, `[::]:port`)",
    "admin": "see [admin]", "limits": "see [limits]", "telemetry": "see [telemetry]", "metering": "see [metering]",
    "storage": "see [storage]", "cache": "see [cache]", "governance": "see [governance]", "agentic": "see [agentic]", "tenants": "see [[tenants]]", "reliability": "see [reliability]", "tls": "see [tls]",
    "cluster": "see [cluster]", "upstreams": "see [[upstreams]]", "routes": "see [[routes]]",
    "providers": "see [[providers]]", "models": "see [[models]]", "api_keys": "see [[api_keys]]",
    "policies": "see [[policies]]", "gateway_configs": "see [[gateway_configs]]", "mcp_servers": "see [[mcp_servers]]",
    "admin.enabled": "serve the admin API (control process) at all",
    "admin.listen": "the admin listener, loopback by default",
    "admin.token_env": "environment variable holding the admin bearer token",
    "admin.public": "forward `/admin/*` from the public port (always with credentials); false leaves the path to routes",
    "admin.hosts": "host names the admin API answers to besides IP literals and localhost (DNS-rebinding guard)",
    "admin.allowed_origins": "browser origins allowed to call the admin API; any other `Origin` is refused",
    "admin.max_config_bytes": "largest config text `POST /admin/v1/config/validate` accepts (413 past it)",
    "limits.max_header_bytes": "request line + headers (431 past it)",
    "limits.max_body_bytes": "request body (413 past it)",
    "limits.header_timeout_secs": "time to receive a request head (408)",
    "limits.idle_timeout_secs": "idle keep-alive connection lifetime",
    "limits.body_timeout_secs": "time between request body reads",
    "limits.max_pipelined_requests": "queued pipelined requests before reading pauses",
    "limits.write_timeout_secs": "a client that reads nothing this long is disconnected (0: off)",
    "limits.encoded_slash": "`%2F` in a path: `reject` (400) or `keep` (passed on encoded)",
    "telemetry.access_log": "`off`, `error` (5xx and abandoned), `sampled`, `all`: JSON lines on stdout",
    "telemetry.access_log_sample_rate": "percent (0-100) of non-error requests logged in `sampled` mode",
    "telemetry.access_log_error_rate_limit_per_sec": "error lines per second, the rest counted as `suppressed`",
    "telemetry.service_name": "service name for telemetry",
    "telemetry.otlp_endpoint": "OTLP/HTTP endpoint",
    "telemetry.log_bodies": "log request/response bodies",
    "telemetry.log_level": "process log level (`run --log-level` overrides)",
    "telemetry.log_format": "process logs as `text` or `json` lines on stderr",
    "telemetry.metrics_token_env": "env var holding a bearer token `GET /metrics` then requires",
    "telemetry.metrics_public": "also serve `/metrics` on the public port (needs `metrics_token_env`)",
    "telemetry.metrics_key_label": "add a `key_id` label to `ferrogate_requests_total`",
    "telemetry.request_records": "one record per AI request (request log, metering, usage, per-model metrics, OTLP); false turns all of them off",
    "metering.export_enabled": "export metering events",
    "metering.export_endpoint": "where metering events go",
    "metering.export_token_env": "variable holding the export bearer token",
    "storage.path": "the embedded SQLite store (WAL), relative to the config file; spent budgets live there (`:memory:`: nothing is kept)",
    "storage.request_log_retention_records": "request logs kept",
    "storage.audit_event_retention_records": "audit events kept",
    "storage.billing_event_retention_records": "metering events kept",
    "storage.admin_list_default_limit": "admin list page size",
    "storage.admin_list_max_limit": "largest admin list page",
    "cache.enabled": "the exact-match answer cache (then per model `cache_enabled`, per key and profile); streamed answers too",
    "cache.mode": "only `exact_match`",
    "cache.ttl_secs": "how long an answer is served from the cache",
    "cache.max_records": "answers kept per node (least recently used evicted, per 8-way bucket)",
    "cache.max_bytes": "memory for the cached answers of a node, shared by its workers (sized at start); an answer over an eighth of it is not cached",
    "reliability.provider_circuit_breaker_failure_threshold": "consecutive failures that open a provider's breaker",
    "reliability.provider_circuit_breaker_cooldown_secs": "open breaker's wait before one probe",
    "reliability.provider_connect_timeout_secs": "connect to a provider",
    "reliability.provider_first_byte_timeout_secs": "wait for a provider's answer to start",
    "reliability.provider_stream_idle_timeout_secs": "gap allowed between streamed reads",
    "reliability.provider_dispatch_timeout_secs": "whole request to a provider",
    "reliability.provider_dispatch_max_retries": "retries (same or next candidate) on retryable failures",
    "reliability.provider_retry_backoff_ms": "base backoff between retries",
    "reliability.provider_retry_after_cap_secs": "longest `Retry-After` honoured",
    "reliability.provider_response_body_max_bytes": "largest non-streamed provider answer (502 past it)",
    "reliability.provider_stream_max_event_bytes": "one unfinished SSE event; past it the stream ends with an error event",
    "reliability.graceful_shutdown_grace_period_secs": "in-flight requests and streams finish within this on stop/reload",
    "reliability.graceful_shutdown_timeout_secs": "hard stop after this",
    "reliability.graceful_upgrade_pid_file": "supervisor pid file (default `.ferrogate/ferrogate.pid` beside the config)",
    "reliability.graceful_upgrade_sock": "socket a new supervisor takes the listeners over from",
    "tls.enabled": "serve TLS on the public listener",
    "tls.cert_path": "certificate chain (PEM); relative paths are relative to the config file",
    "tls.key_path": "its private key",
    "tls.certificates": "more pairs, chosen by SNI (first pair is the default)",
    "tls.http2": "accepted; the listener speaks HTTP/1.1 (ALPN `http/1.1`)",
    "tls.acme": "see [tls.acme]",
    "tls.certificates.cert_path": "certificate chain (PEM)", "tls.certificates.key_path": "its private key",
    "tls.acme.enabled": "obtain certificates with ACME",
    "tls.acme.domains": "names to certify (wildcards with dns-01)",
    "tls.acme.email": "ACME account contact",
    "tls.acme.directory_url": "ACME directory",
    "tls.acme.ca_file": "CA bundle for a test ACME server",
    "tls.acme.terms_agreed": "agree to the CA's terms",
    "tls.acme.challenge": "`http-01` or `dns-01`",
    "tls.acme.http_challenge_listen": "where HTTP-01 challenges are answered, bound only while an order runs; a port of its own (not a public listener's)",
    "tls.acme.storage_dir": "account key, account URL and certificates, files 0600 written atomically (relative to the config file)",
    "tls.acme.dns_provider": "`cloudflare` or `hook`",
    "tls.acme.dns_config": "see tls.acme.dns_config",
    "tls.acme.dns_propagation_delay_secs": "wait after publishing a DNS record",
    "tls.acme.dns_resolver": "`host:port` of a DNS server asked for the TXT record (after the delay, for up to 120 s) before the CA is told to look",
    "tls.acme.dns_hook": "program run as `HOOK set PAYLOAD.json` / `HOOK cleanup PAYLOAD.json` (payload 0600: domain, record_name, record_type, record_value, ttl; stopped after 120 s)",
    "tls.acme.renewal_window_secs": "renew this long before expiry",
    "tls.acme.renewal_check_interval_secs": "how often expiry is checked",
    "tls.acme.renewal_retry_interval_secs": "retry after a failed renewal",
    "tls.acme.auto_graceful_reload": "accepted for compatibility, and unnecessary: a renewed certificate goes to new connections at once on every worker, with no reload or upgrade",
    "tls.acme.dns_config.api_token": "Cloudflare API token (literal, as the original FerroGate reads it; sent only in the Authorization header, never logged)",
    "tls.acme.dns_config.api_token_env": "variable holding it",
    "tls.acme.dns_config.zone_name": "Cloudflare zone (unset: the record's parent names are tried, longest first)",
    "tls.acme.dns_config.api_base_url": "API base URL (tests)",
    "cluster.enabled": "cluster mode: with a shared state (`state_backend`/`state_file`), each control start keeps `/readyz` at 503 `catching_up` until the shared objects were read once (warned about without one)",
    "cluster.node_id": "`auto`: $FERROGATE_NODE_ID, else the host name; on process logs (`node`), request records and metering events (`node_id`) and the status",
    "cluster.counter_backend": "`local` (shared memory, exact across one node's workers) or `redis` (exact across nodes; fails closed: 503 `governance_backend_unavailable` while Redis is unreachable)",
    "cluster.state_backend": "`local`; `redis`: objects made over the admin API (keys, tenants, policies, profiles) shared by every node through `redis_url`; `file`: through `state_file`. Applied on each node within a second; a write the shared state does not take is refused: 503 `shared_state_unavailable`",
    "cluster.redis_url": "`redis://`, `rediss://` or `unix://` URL of the counters' Redis (one server, not Redis Cluster)",
    "cluster.state_file": "the shared state as one JSON file on a volume every node mounts (set alone, it means `state_backend = \"file\"`; relative to the config file); writes take an exclusive `flock` on `<file>.lock` and replace the file atomically; limits in docs/operations.md",
    "upstreams.name": "referenced by routes",
    "upstreams.urls": "`http://host:port` / `https://host:port` (no path)",
    "upstreams.lb_policy": "how a target is picked",
    "upstreams.ca_file": "CA bundle for HTTPS upstreams",
    "upstreams.tls_server_name": "SNI / verified name",
    "upstreams.tls_insecure_skip_verify": "skip certificate verification",
    "upstreams.connect_timeout_secs": "connect", "upstreams.first_byte_timeout_secs": "wait for the answer, and between reads",
    "upstreams.total_timeout_secs": "whole exchange",
    "upstreams.keepalive_idle_secs": "idle pooled connection lifetime",
    "upstreams.max_idle_conns": "idle connections kept per target",
    "upstreams.health": "passive health (see upstreams.health)",
    "upstreams.request_headers": "edits on the way up", "upstreams.response_headers": "edits on the way down",
    "upstreams.health.max_fails": "failures before a target is taken out",
    "upstreams.health.cooldown_secs": "how long it stays out",
    "headers.action": "`set`, `add`, `delete`",
    "headers.name": "header name",
    "headers.value": "value; placeholders like `{http.request.host}`, `{env.NAME}`",
    "routes.name": "for logs and errors",
    "routes.hosts": "host matchers (`*.example.com`)",
    "routes.paths": "path matchers (`/exact`, `/prefix/*`, `*.ext`), on the normalised path",
    "routes.methods": "method matchers",
    "routes.strip_prefix": "removed before forwarding", "routes.add_prefix": "added before forwarding",
    "routes.request_headers": "edits on the way up", "routes.response_headers": "edits on the way down",
    "routes.upstream": "handler: proxy to this upstream",
    "routes.respond": "handler: a static answer",
    "routes.ai_gateway": "handler: the AI endpoints under this route's paths",
    "routes.respond.status": "status", "routes.respond.body": "body", "routes.respond.headers": "headers",
    "providers.name": "referenced by models", "providers.kind": "provider adapter",
    "providers.base_url": "API base URL", "providers.api_key_env": "variable holding the provider key",
    "providers.api_key": "the provider key, literal (prefer api_key_env)",
    "providers.ca_file": "CA bundle", "providers.headers": "extra upstream headers",
    "providers.openrouter_http_referer": "sent as `HTTP-Referer`", "providers.openrouter_x_title": "sent as `X-Title`",
    "providers.api_version": "Azure API version", "providers.deployments": "Azure: model → deployment",
    "providers.anthropic_version": "`anthropic-version` header",
    "providers.default_max_tokens": "Anthropic: max_tokens when the client sets none",
    "providers.mock": "mock settings", "providers.enabled": "route to it at all",
    "providers.mock.latency_ms": "delay before answering", "providers.mock.prompt_tokens": "fixed prompt tokens (default: body size / 4)",
    "providers.mock.completion_tokens": "completion tokens", "providers.mock.stream_chunks": "chunks per stream",
    "providers.mock.reply": "the reply text",
    "models.name": "logical model name clients send", "models.provider": "primary provider",
    "models.provider_model": "the provider's model name",
    "models.capabilities": "what the model supports",
    "models.input_price_per_1m": "price per 1M input tokens (decimal)", "models.output_price_per_1m": "per 1M output tokens",
    "models.cached_input_price_per_1m": "per 1M prompt tokens read from the provider's cache (default: the input price)",
    "models.reasoning_price_per_1m": "per 1M reasoning tokens (default: the output price)",
    "models.cache_enabled": "cache this model's answers", "models.context_window": "context window",
    "models.max_output_tokens": "output limit", "models.routing_strategy": "how the primary and fallbacks are ordered",
    "models.priority": "primary's priority", "models.weight": "primary's weight", "models.enabled": "serve it at all",
    "models.tenants": "only keys of these tenants may use or see it (empty: every key)",
    "models.fallbacks": "other candidates",
    "models.fallbacks.provider": "provider", "models.fallbacks.provider_model": "its model",
    "models.fallbacks.priority": "lower first", "models.fallbacks.weight": "for weighted routing",
    "models.fallbacks.input_price_per_1m": "price", "models.fallbacks.output_price_per_1m": "price",
    "models.fallbacks.cached_input_price_per_1m": "price", "models.fallbacks.reasoning_price_per_1m": "price",
    "models.fallbacks.capabilities": "overrides the model's", "models.fallbacks.context_window": "context window",
    "models.fallbacks.enabled": "use it at all",
    "api_keys.id": "key id (shown in logs, never the key)",
    "api_keys.key": "the key in clear (development)", "api_keys.key_env": "variable holding the key",
    "api_keys.key_hash": "stored form from `ferrogate hash-key`",
    "api_keys.tenant": "the tenant it belongs to (models and policies can name it)", "api_keys.scopes": "what the key may call (`*`: everything, admin included)",
    "api_keys.allowed_models": "names or glob patterns", "api_keys.denied_models": "names or glob patterns (deny wins)",
    "api_keys.allowed_providers": "names or glob patterns", "api_keys.denied_providers": "names or glob patterns",
    "api_keys.request_limit_per_minute": "requests per minute (a window opens at the first request and lasts 60 s); over it: 429 `rate_limit_exceeded`",
    "api_keys.token_limit_per_minute": "tokens per minute, counting each request's reservation until it settles",
    "api_keys.monthly_token_budget": "tokens per UTC calendar month (resets 00:00:00 UTC on the 1st); over it: 429 `budget_exceeded`",
    "api_keys.daily_token_budget": "tokens per UTC day (resets 00:00:00 UTC)",
    "api_keys.token_budget": "tokens per `token_budget_period_secs`",
    "api_keys.token_budget_period_secs": "the period of `token_budget`, counted from the Unix epoch (3600: every hour on the hour)",
    "api_keys.monthly_cost_budget_usd": "USD per UTC calendar month, from the model prices (exact decimal)",
    "api_keys.daily_cost_budget_usd": "USD per UTC day, from the model prices (exact decimal)",
    "tenants.request_limit_per_minute": "requests per minute (a window opens at the first request and lasts 60 s); over it: 429 `rate_limit_exceeded` (shared by its keys)",
    "tenants.token_limit_per_minute": "tokens per minute, counting each request's reservation until it settles (shared by its keys)",
    "tenants.monthly_token_budget": "tokens per UTC calendar month (resets 00:00:00 UTC on the 1st); over it: 429 `budget_exceeded` (shared by its keys)",
    "tenants.daily_token_budget": "tokens per UTC day (resets 00:00:00 UTC) (shared by its keys)",
    "tenants.token_budget": "tokens per `token_budget_period_secs` (shared by its keys)",
    "tenants.token_budget_period_secs": "the period of `token_budget`, counted from the Unix epoch (3600: every hour on the hour) (shared by its keys)",
    "tenants.monthly_cost_budget_usd": "USD per UTC calendar month, from the model prices (exact decimal) (shared by its keys)",
    "tenants.daily_cost_budget_usd": "USD per UTC day, from the model prices (exact decimal) (shared by its keys)",
    "tenants.id": "tenant id, as `api_keys.tenant` names it", "tenants.name": "a label",
    "agentic.max_steps": "model calls one `x-ferrogate-tools: auto` chat request may make, its answer included (1-50); past it the last answer goes back with its tool calls unrun",
    "agentic.max_tool_calls_per_step": "tool calls one model answer may have the gateway run (1-64); an answer asking for more goes back to the client unrun",
    "governance.default_max_output_tokens": "output tokens a request reserves when it names no maximum and its model has no `max_output_tokens`",
    "api_keys.cache_enabled": "`false`: never cache this key's requests (unset: as the model says)", "api_keys.disabled": "refuse the key (401)",
    "api_keys.expires_at": "ISO 8601; refused after (401)",
    "api_keys.metadata": "your own labels (string values), for the admin API and request logs",
    "policies.name": "name", "policies.effect": "`deny`", "policies.enabled": "evaluate it",
    "policies.api_key_ids": "keys it applies to (empty: any)", "policies.tenants": "tenants it applies to (empty: any)",
    "policies.models": "logical models, globs allowed (`mcp_tool:SERVER-TOOL` for tools)",
    "policies.providers": "providers, globs allowed (`mcp:SERVER`); set: the policy skips candidates",
    "policies.message": "the error message",
    "gateway_configs.id": "selected by `x-ferrogate-config`", "gateway_configs.name": "name",
    "gateway_configs.revision": "revision (sent back in `x-ferrogate-config-revision`)",
    "gateway_configs.cache_enabled": "`false` turns caching off for its requests (it cannot turn it on)",
    "gateway_configs.api_key_ids": "keys allowed to use it (empty: any key; others get 403)",
    "gateway_configs.routing_strategy": "replaces the model's `routing_strategy` for its requests (unset: the model's)",
    "gateway_configs.fallbacks_enabled": (
        "`false`: only the first candidate in strategy order is tried (retries on it still apply); "
        "its failure is the answer"
    ),
    "gateway_configs.allowed_providers": (
        "keep only candidates on these providers (names or globs), after the key's lists and the "
        "policies: it narrows, never widens (none left: 400 `no_eligible_provider`); empty: no narrowing"
    ),
    "gateway_configs.max_retries": "replaces `reliability.provider_dispatch_max_retries` for its requests (>= 0)",
    "gateway_configs.first_byte_timeout_secs": (
        "replaces `reliability.provider_first_byte_timeout_secs` for its requests (> 0)"
    ),
    "gateway_configs.dispatch_timeout_secs": (
        "replaces `reliability.provider_dispatch_timeout_secs` (per-attempt total and retry deadline) "
        "for its requests (> 0)"
    ),
    "mcp_servers.name": "tool namespace", "mcp_servers.transport": "`streamable_http`, `sse`, `stdio`",
    "mcp_servers.url": "server URL", "mcp_servers.command": "stdio program", "mcp_servers.args": "its arguments",
    "mcp_servers.env": "its environment", "mcp_servers.auth_type": "`none`, `bearer`, `headers`",
    "mcp_servers.headers": "headers (see entries)", "mcp_servers.tools_to_execute": "tools that may run (deny by default)",
    "mcp_servers.tools_to_auto_execute": "tools run in automatic loops", "mcp_servers.tool_include": "tools exposed",
    "mcp_servers.timeout_ms": "call timeout",
    "mcp_servers.price_per_call": "USD metered per call of this server's tools that ran (a decimal string), spent from cost budgets",
    "mcp_servers.tool_prices": "per-tool prices overriding `price_per_call` (`{ search = \"0.01\" }`; bare or namespaced names)",
    "mcp_servers.headers.name": "header name", "mcp_servers.headers.value_env": "variable holding the value",
    "mcp_servers.headers.value": "literal value",
}

# Tables whose Caddyfile block takes every model key by its TOML name (`KEY VALUE...`).
SAME_NAME = frozenset({
    "admin", "limits", "telemetry", "metering", "storage", "cache", "reliability", "cluster", "providers",
    "providers.mock", "models", "models.fallbacks", "api_keys", "policies", "gateway_configs", "mcp_servers",
    "tls.acme.dns_config",
})

# Caddyfile spellings that differ from `KEY VALUE` in the table's block ("—": TOML only).
CADDY: dict[str, str] = {
    "admin": "`ferrogate { admin { } }`", "limits": "`ferrogate { limits { } }`",
    "telemetry": "`ferrogate { telemetry { } }`", "metering": "`ferrogate { metering { } }`",
    "storage": "`ferrogate { storage { } }`", "cache": "`ai_gateway { cache { } }`",
    "reliability": "`ferrogate { reliability { } }`", "tls": "site `tls`", "cluster": "`ferrogate { cluster { } }`",
    "upstreams": "`reverse_proxy`", "routes": "site directives", "providers": "`ai_gateway { provider … }`",
    "models": "`ai_gateway { model … }`", "api_keys": "`ai_gateway { api_key … }`",
    "policies": "`ai_gateway { policy … }`", "gateway_configs": "`ai_gateway { gateway_config … }`",
    "mcp_servers": "`ai_gateway { mcp_server … }`",
    "listen": "the site address (`:8080`, `host:port`)",
    "admin.enabled": "`admin off` (global), or `enabled false`",
    "admin.listen": "`admin ADDRESS` (global), or `listen ADDRESS`",
    "limits.max_header_bytes": "`servers { max_header_size 32KB }`, or the key",
    "limits.header_timeout_secs": "`servers { timeouts { read_header 30s } }`, or the key",
    "limits.idle_timeout_secs": "`servers { timeouts { idle 75s } }`, or the key",
    "limits.body_timeout_secs": "`servers { timeouts { read_body 60s } }`, or the key",
    "telemetry.access_log": "site `log` (`all`; `level ERROR`: `error`; `output discard`: `off`), or the key",
    "telemetry.log_level": "`debug` / `log { level L }` (global), or the key",
    "reliability.graceful_shutdown_grace_period_secs": "`grace_period 30s` (global), or the key",
    "cache.enabled": "`ai_gateway { cache { } }` turns it on; or `enabled B`",
    "tls.enabled": "any site `tls` directive",
    "tls.cert_path": "`tls CERT KEY`",
    "tls.key_path": "`tls CERT KEY`",
    "tls.http2": "`servers { protocols h1 h2 }` (global) / `tls { protocols h1 h2 }`",
    "tls.acme.enabled": "`tls EMAIL` or `tls { issuer acme }`",
    "tls.acme.domains": "the site addresses' host names",
    "tls.acme.email": "`email E` (global), `tls EMAIL`, `issuer acme { email E }`",
    "tls.acme.directory_url": "`acme_ca URL` (global), `tls { ca URL }`, `issuer acme { dir URL }`",
    "tls.acme.ca_file": "`acme_ca_root F` (global), `tls { ca_root F }`, `issuer acme { trusted_roots F }`",
    "tls.acme.terms_agreed": "set by `tls EMAIL` / `issuer acme`",
    "tls.acme.challenge": "`dns ...` sets `dns-01`",
    "tls.acme.http_challenge_listen": "`tls { http_challenge_listen ADDR }`",
    "tls.acme.storage_dir": "`storage file_system DIR` (global), `tls { storage DIR }`",
    "tls.acme.dns_provider": "`tls { dns cloudflare ... }` / `dns hook PROG`, `acme_dns ...` (global)",
    "tls.acme.dns_config": "`tls { dns cloudflare { ... } }`",
    "tls.acme.dns_propagation_delay_secs": "`tls { propagation_delay 10s }`",
    "tls.acme.dns_hook": "`tls { dns hook PROGRAM }`",
    "tls.acme.dns_resolver": "`tls { resolvers ADDR }` (the first; port 53 when none)",
    "tls.acme.renewal_window_secs": "`tls { renewal_window 720h }`",
    "tls.acme.renewal_check_interval_secs": "`renew_interval 12h` (global), `tls { renewal_check_interval 12h }`",
    "tls.acme.renewal_retry_interval_secs": "`tls { renewal_retry_interval 1h }`",
    "tls.acme.auto_graceful_reload": "`tls { auto_graceful_reload B }`",
    "tls.acme.dns_config.api_token": "`dns cloudflare TOKEN`, or `api_token TOKEN`",
    "tls.acme.dns_config.api_token_env": "`api_token {env.X}` / `dns cloudflare {env.X}`",
    "upstreams.name": "generated: `upstream-N`",
    "upstreams.urls": "`reverse_proxy URL...` / `to URL...`",
    "upstreams.lb_policy": "`lb_policy P`",
    "upstreams.ca_file": "`transport http { tls_trusted_ca_certs F }`",
    "upstreams.tls_server_name": "`transport http { tls_server_name N }`",
    "upstreams.tls_insecure_skip_verify": "`transport http { tls_insecure_skip_verify }`",
    "upstreams.connect_timeout_secs": "`transport http { dial_timeout 5s }`",
    "upstreams.first_byte_timeout_secs": "`transport http { response_header_timeout 60s }`",
    "upstreams.keepalive_idle_secs": "`transport http { keepalive 60s }`",
    "upstreams.max_idle_conns": "`transport http { keepalive_idle_conns N }`",
    "upstreams.health": "`fail_duration` / `max_fails`",
    "upstreams.request_headers": "`header_up`",
    "upstreams.response_headers": "`header_down`",
    "upstreams.health.max_fails": "`max_fails N`",
    "upstreams.health.cooldown_secs": "`fail_duration 10s`",
    "headers.action": "`Name value` set, `+Name value` add, `-Name` delete",
    "headers.name": "`Name`",
    "headers.value": "`value`",
    "routes.hosts": "site address host, `host` matcher",
    "routes.paths": "`path` matcher, a directive's path argument",
    "routes.methods": "`method` matcher",
    "routes.strip_prefix": "`handle_path`, `uri strip_prefix`",
    "routes.response_headers": "`header [MATCHER] Name value`",
    "routes.upstream": "`reverse_proxy`",
    "routes.respond": "`respond`",
    "routes.ai_gateway": "`ai_gateway [MATCHER] { }` (default `/v1/*`)",
    "routes.respond.status": "`respond BODY STATUS`",
    "routes.respond.body": "`respond BODY`, `body`",
    "providers.name": "`provider NAME [KIND]`",
    "providers.kind": "`provider NAME KIND`, or `kind K`",
    "providers.api_key_env": "`api_key {env.X}`, or `api_key_env X`",
    "providers.api_key": "`api_key LITERAL`",
    "providers.mock": "`mock { ... }`",
    "models.name": "`model NAME -> PROVIDER:MODEL`",
    "models.provider": "`model NAME -> PROVIDER:MODEL`",
    "models.provider_model": "`model NAME -> PROVIDER:MODEL`",
    "models.fallbacks": "`fallback PROVIDER:MODEL { ... }`",
    "models.fallbacks.provider": "`fallback PROVIDER:MODEL`",
    "models.fallbacks.provider_model": "`fallback PROVIDER:MODEL`",
    "api_keys.id": "`api_key ID`",
    "api_keys.key": "`key LITERAL`",
    "api_keys.key_env": "`key {$X}` / `key {env.X}`, or `key_env X`",
    "policies.name": "`policy NAME`",
    "gateway_configs.id": "`gateway_config ID`",
    "mcp_servers.name": "`mcp_server NAME`",
    "mcp_servers.headers": "`header NAME VALUE`",
    "mcp_servers.headers.name": "`header NAME ...`",
    "mcp_servers.headers.value_env": "`header NAME {env.X}`",
    "mcp_servers.headers.value": "`header NAME LITERAL`",
}


def _caddy(section: str, key: str, name: str) -> str:
    if key in CADDY:
        return CADDY[key]
    return f"`{name} …`" if section in SAME_NAME else "—"


# Keys (or whole tables) accepted but without effect yet: mirrors config/unenforced.py.
NOT_ENFORCED = (
    "telemetry.log_bodies", "tls.http2", "cluster.enabled", "tls.acme.auto_graceful_reload",
)


def _type(tp: object) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type(a) for a in args)
    if origin is list:
        inner = _type(args[0])
        return f"list of {inner}" if "`" in inner else f"list[{inner}]"
    if origin is dict:
        return f"dict[{_type(args[0])}, {_type(args[1])}]"
    if tp is type(None):
        return "None"
    if tp is Decimal:
        return "decimal"
    return getattr(tp, "__name__", str(tp))


def _default(field: msgspec.structs.FieldInfo) -> str:
    if field.required:
        return "required"
    value = field.default if field.default is not msgspec.NODEFAULT else field.default_factory()
    if isinstance(value, msgspec.Struct):
        return "(table)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Decimal):
        return f"`{value}`"
    return f"`{value!r}`".replace("'", '"') if value not in (None, [], {}) else ("none" if value is None else f"`{value}`")


def render() -> str:
    out = [
        "# Configuration reference",
        "",
        "The tables are generated from `ferrogate/config/model.py` by `scripts/gen_configuration_doc.py`",
        "(a test checks they are current); the sections after them are written by hand in this file.",
        "TOML spelling first; both front ends load into the same model. For the Caddyfile",
        "directives themselves, matchers and snippets see [`config/README.md`](../config/README.md);",
        "`config/full.toml` shows every section. \u26a0 marks settings that are accepted but have no",
        "effect yet: `ferrogate validate` and `ferrogate run` warn about each one with its file:line.",
        "",
        "The sections after the tables cover Caddyfile values, environment placeholders, request",
        "paths, the built-in endpoints and who may use the admin API.",
        "",
    ]
    for title, struct, path, caddy in SECTIONS:
        out += [f"## {title}", "", f"Caddyfile: {caddy}.", "", "| key | type | default | Caddyfile | what it does |", "|---|---|---|---|---|"]
        for field in msgspec.structs.fields(struct):
            key = f"{path}.{field.name}" if path else field.name
            lookup = key
            description = DESCRIPTIONS[lookup]
            if any(lookup.startswith(p) if p.endswith(".") else lookup == p for p in NOT_ENFORCED):
                description = "\u26a0 " + description
            out.append(f"| `{field.name}` | {_type(field.type)} | {_default(field)} | {_caddy(path, key, field.name)} | {description} |")
        out.append("")
    return "\n".join(out) + "\n" + _hand_written()


def _hand_written() -> str:
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    at = text.find(HAND_WRITTEN_FROM)
    return text[at:] if at >= 0 else HAND_WRITTEN_FROM + "\n"


if __name__ == "__main__":
    print(render(), end="")
