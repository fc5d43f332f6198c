# mypy: disable-error-code="misc"
# (msgspec subclasses inherit frozen=True from _Section; mypy's dataclass_transform model does not see that.)
"""The canonical configuration: one tree of frozen msgspec Structs.

Both front ends (TOML and the Caddyfile adapter) produce a :class:`Config`.
Key names are the TOML spelling (docs/configuration.md lists every key). Every
struct forbids unknown fields, so a misspelled key is an error, never silently
ignored. Settings that nothing acts on at run time yet are parsed and validated
here all the same, and config/unenforced.py warns about each one a config uses.

Why one module: the structs are one tree, read top to bottom as the reference of
every key, and its root :class:`Config` names every table. Split by table, each
part would import a shared base and the root would import every part back; the
docs generator and both front ends use the tree as one namespace (``model.Route``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base for every config struct."""


# --------------------------------------------------------------------------- limits


class Limits(_Section):
    """HTTP/1.1 limits enforced by the fast-path server."""

    max_header_bytes: int = 32 * 1024
    max_body_bytes: int = 32 * 1024 * 1024
    header_timeout_secs: float = 30.0
    idle_timeout_secs: float = 75.0
    body_timeout_secs: float = 60.0
    max_pipelined_requests: int = 16
    # A client that reads nothing of what we send for this long is disconnected (and the
    # upstream request behind it released); 0 turns the check off.
    write_timeout_secs: float = 60.0
    # An encoded slash (%2F) in a request path: refused with 400, or kept encoded and passed on.
    encoded_slash: Literal["reject", "keep"] = "reject"


# --------------------------------------------------------------------------- admin / telemetry


class Admin(_Section):
    enabled: bool = True
    listen: str = "127.0.0.1:2019"
    token_env: str | None = None
    # /admin on the public port (always authenticated); false leaves the path to user routes.
    public: bool = True
    # Host names the admin API answers to besides IP literals and localhost (DNS rebinding).
    hosts: list[str] = []
    # Origins whose browser requests are allowed; any other Origin header is refused.
    allowed_origins: list[str] = []
    # Largest config text POST /admin/v1/config/validate accepts.
    max_config_bytes: int = 1024 * 1024


AccessLogMode = Literal["off", "error", "sampled", "all"]


class Telemetry(_Section):
    access_log: AccessLogMode = "error"
    access_log_sample_rate: float = 1.0  # percent of requests (0-100), as the original FerroGate
    access_log_error_rate_limit_per_sec: int = 50
    service_name: str = "ferrogate"
    otlp_endpoint: str | None = None
    log_bodies: bool = False
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"
    # GET /metrics: open on the admin listener unless this names the env var of a bearer
    # token; on the public port only with metrics_public (and then always with the token).
    metrics_token_env: str | None = None
    metrics_public: bool = False
    metrics_key_label: bool = False  # key ids as a label of ferrogate_requests_total
    # false: no record per AI request (no request log, metering, usage, per-model metrics or
    # traces); response counts by status, gauges and the access log stay.
    request_records: bool = True


class Metering(_Section):
    export_enabled: bool = False
    export_endpoint: str | None = None
    export_token_env: str | None = None


class Storage(_Section):
    path: str = ".ferrogate/state.db"
    request_log_retention_records: int = 100_000
    audit_event_retention_records: int = 100_000
    billing_event_retention_records: int = 1_000_000
    admin_list_default_limit: int = 50
    admin_list_max_limit: int = 1000


class Cache(_Section):
    enabled: bool = False
    mode: Literal["exact_match"] = "exact_match"
    ttl_secs: int = 300
    max_records: int = 10_000
    # Memory for the cached answers of one node (shared by its workers); an answer over an
    # eighth of it is not cached.
    max_bytes: int = 64 * 1024 * 1024


# --------------------------------------------------------------------------- agentic


class Agentic(_Section):
    """The automatic tool loop a chat request opts into with ``x-ferrogate-tools: auto``."""

    # Model calls one request may make (the answer included): past it the last answer goes
    # back to the client with its tool calls unrun.
    max_steps: int = 5
    # Tool calls one model answer may have run for it; an answer asking for more goes back
    # to the client unrun.
    max_tool_calls_per_step: int = 8


# --------------------------------------------------------------------------- reliability


class Governance(_Section):
    # What a request reserves for its output when it names no maximum and its model has
    # no max_output_tokens.
    default_max_output_tokens: int = 4096


class Reliability(_Section):
    provider_circuit_breaker_failure_threshold: int = 5
    provider_circuit_breaker_cooldown_secs: float = 30.0
    provider_connect_timeout_secs: float = 5.0
    provider_first_byte_timeout_secs: float = 60.0
    provider_stream_idle_timeout_secs: float = 60.0
    provider_dispatch_timeout_secs: float = 600.0
    provider_dispatch_max_retries: int = 2
    provider_retry_backoff_ms: int = 100
    provider_retry_after_cap_secs: float = 10.0
    provider_response_body_max_bytes: int = 64 * 1024 * 1024
    # One server-sent event still without its end from a provider: past this the stream ends
    # with an error event instead of buffering on.
    provider_stream_max_event_bytes: int = 1024 * 1024
    graceful_shutdown_grace_period_secs: float = 30.0
    graceful_shutdown_timeout_secs: float = 40.0
    graceful_upgrade_pid_file: str | None = None
    graceful_upgrade_sock: str | None = None


# --------------------------------------------------------------------------- tls / acme


class DnsConfig(_Section):
    api_token: str | None = None
    api_token_env: str | None = None
    zone_name: str | None = None
    api_base_url: str | None = None


class Acme(_Section):
    enabled: bool = False
    domains: list[str] = []
    email: str | None = None
    directory_url: str = "https://acme-v02.api.letsencrypt.org/directory"
    ca_file: str | None = None
    terms_agreed: bool = False
    challenge: Literal["http-01", "dns-01"] = "http-01"
    http_challenge_listen: str = "0.0.0.0:80"
    storage_dir: str = ".ferrogate/acme"
    dns_provider: Literal["cloudflare", "hook"] | None = None
    dns_config: DnsConfig | None = None
    dns_propagation_delay_secs: float = 10.0
    # host:port of a DNS server asked for the TXT record before the CA is told to look
    # (after the propagation delay); None: the delay alone.
    dns_resolver: str | None = None
    dns_hook: str | None = None
    renewal_window_secs: int = 30 * 24 * 3600
    renewal_check_interval_secs: int = 12 * 3600
    renewal_retry_interval_secs: int = 3600
    auto_graceful_reload: bool = True


class TlsCertificate(_Section):
    """One more certificate pair for the public listener, chosen by SNI."""

    cert_path: str
    key_path: str


class Tls(_Section):
    enabled: bool = False
    cert_path: str | None = None
    key_path: str | None = None
    certificates: list[TlsCertificate] = []
    http2: bool = False
    acme: Acme = Acme()


# --------------------------------------------------------------------------- cluster


class Cluster(_Section):
    enabled: bool = False
    node_id: str = "auto"
    counter_backend: Literal["local", "redis"] = "local"
    # Where objects made over the admin API (keys, tenants, policies, profiles) are shared by
    # every node, each change applied on every node within a second: redis (redis_url) or
    # file (state_file on a volume every node mounts; a state_file alone means file).
    state_backend: Literal["local", "redis", "file"] = "local"
    redis_url: str | None = None
    state_file: str | None = None

    @property
    def shared_state(self) -> Literal["local", "redis", "file"]:
        """The home of shared admin objects (a lone ``state_file`` is the reference's file state)."""
        if self.state_backend == "local" and self.state_file is not None:
            return "file"
        return self.state_backend


# --------------------------------------------------------------------------- generic proxy


class HeaderOp(_Section):
    """One header edit. ``value`` may hold placeholders such as ``{http.request.host}``."""

    action: Literal["set", "add", "delete"]
    name: str
    value: str = ""


class PassiveHealth(_Section):
    """A failing upstream is taken out for ``cooldown_secs`` after ``max_fails`` failures."""

    max_fails: int = 1
    cooldown_secs: float = 10.0


class Upstream(_Section):
    name: str
    urls: list[str]
    lb_policy: Literal["round_robin", "least_conn", "first", "random"] = "round_robin"
    ca_file: str | None = None
    tls_server_name: str | None = None
    tls_insecure_skip_verify: bool = False
    connect_timeout_secs: float = 5.0
    first_byte_timeout_secs: float = 60.0
    total_timeout_secs: float | None = None
    keepalive_idle_secs: float = 60.0
    max_idle_conns: int = 128
    health: PassiveHealth = PassiveHealth()
    request_headers: list[HeaderOp] = []
    response_headers: list[HeaderOp] = []


class Respond(_Section):
    status: int = 200
    body: str = ""
    headers: dict[str, str] = {}


RouteHandler = Literal["proxy", "respond", "ai_gateway"]


class Route(_Section):
    """One route: matchers plus exactly one terminal handler.

    Routes are tried in order; the first whose matchers all match wins.
    ``paths`` entries are exact (``/healthz``) or prefix (``/v1/*``) patterns.
    """

    name: str | None = None
    hosts: list[str] = []
    paths: list[str] = []
    methods: list[str] = []
    strip_prefix: str | None = None
    add_prefix: str | None = None
    request_headers: list[HeaderOp] = []
    response_headers: list[HeaderOp] = []
    upstream: str | None = None
    respond: Respond | None = None
    ai_gateway: bool = False


# --------------------------------------------------------------------------- AI providers and models


ProviderKind = Literal[
    "openai-compatible", "openai", "azure", "openrouter", "anthropic", "gemini", "xai", "mock"
]

Capability = Literal["chat", "streaming", "tools", "vision", "embeddings", "json_schema", "responses"]

RoutingStrategy = Literal["priority", "weighted", "lowest_cost", "lowest_latency", "balanced"]


class MockSettings(_Section):
    """Behaviour of the built-in offline ``mock`` provider (deterministic)."""

    latency_ms: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int = 16
    stream_chunks: int = 8
    reply: str = "This is a deterministic reply from the FerroGate mock provider."


class Provider(_Section):
    name: str
    kind: ProviderKind
    base_url: str | None = None
    api_key_env: str | None = None
    api_key: str | None = None
    ca_file: str | None = None
    headers: dict[str, str] = {}
    openrouter_http_referer: str | None = None
    openrouter_x_title: str | None = None
    api_version: str | None = None
    deployments: dict[str, str] = {}
    anthropic_version: str = "2023-06-01"
    default_max_tokens: int = 4096
    mock: MockSettings | None = None
    enabled: bool = True


class Fallback(_Section):
    provider: str
    provider_model: str
    priority: int = 1
    weight: int = 1
    input_price_per_1m: Decimal | None = None
    output_price_per_1m: Decimal | None = None
    # Prompt tokens read from the provider's prompt cache, and reasoning tokens, when the
    # model prices them apart (unset: the input and output prices).
    cached_input_price_per_1m: Decimal | None = None
    reasoning_price_per_1m: Decimal | None = None
    capabilities: list[Capability] | None = None
    context_window: int | None = None
    enabled: bool = True


class Model(_Section):
    name: str
    provider: str
    provider_model: str
    capabilities: list[Capability] = msgspec.field(default_factory=lambda: ["chat", "streaming"])
    input_price_per_1m: Decimal | None = None
    output_price_per_1m: Decimal | None = None
    # Prompt tokens read from the provider's prompt cache, and reasoning tokens, when the
    # model prices them apart (unset: the input and output prices).
    cached_input_price_per_1m: Decimal | None = None
    reasoning_price_per_1m: Decimal | None = None
    cache_enabled: bool = False
    context_window: int | None = None
    max_output_tokens: int | None = None
    routing_strategy: RoutingStrategy = "priority"
    priority: int = 0
    weight: int = 1
    enabled: bool = True
    tenants: list[str] = []  # empty: every key; else only keys of these tenants
    fallbacks: list[Fallback] = []


# --------------------------------------------------------------------------- governance


Scope = Literal[
    "models.read",
    "chat.completions",
    "responses.create",
    "embeddings.create",
    "messages.create",
    "tools.read",
    "tools.execute",
    "admin.read",
    "admin.write",
    "*",
]


class Quota(_Section):
    """Limits and budgets, for an API key or a tenant (whose keys share them).

    Calendar periods are UTC: a month's budget resets at 00:00:00 UTC on the 1st, a
    day's at 00:00:00 UTC; ``token_budget`` resets every ``token_budget_period_secs``
    counted from the Unix epoch. Costs are USD, exact decimals."""

    request_limit_per_minute: int | None = None
    token_limit_per_minute: int | None = None
    monthly_token_budget: int | None = None
    daily_token_budget: int | None = None
    token_budget: int | None = None
    token_budget_period_secs: int | None = None
    monthly_cost_budget_usd: Decimal | None = None
    daily_cost_budget_usd: Decimal | None = None


class ApiKey(Quota, kw_only=True):
    id: str
    key: str | None = None
    key_env: str | None = None  # the key is read from this environment variable at start
    key_hash: str | None = None
    tenant: str | None = None
    scopes: list[Scope] = msgspec.field(
        default_factory=lambda: [
            "models.read",
            "chat.completions",
            "responses.create",
            "embeddings.create",
            "messages.create",
        ]
    )
    allowed_models: list[str] = []
    denied_models: list[str] = []
    allowed_providers: list[str] = []
    denied_providers: list[str] = []
    cache_enabled: bool | None = None
    disabled: bool = False
    expires_at: str | None = None
    metadata: dict[str, str] = {}  # labels of the operator's own (owner, team, ticket...)


class Tenant(Quota, kw_only=True):
    """A tenant's own limits and budgets, shared by every key that names it."""

    id: str
    name: str | None = None


class Policy(_Section):
    name: str
    effect: Literal["deny"] = "deny"
    enabled: bool = True
    api_key_ids: list[str] = []
    tenants: list[str] = []
    models: list[str] = []
    providers: list[str] = []
    message: str | None = None


class GatewayProfile(_Section):
    id: str
    name: str | None = None
    revision: int = 1
    cache_enabled: bool | None = None
    api_key_ids: list[str] = []
    # Overrides for the requests that choose the profile; None keeps the model's or [reliability]'s.
    routing_strategy: RoutingStrategy | None = None
    fallbacks_enabled: bool = True  # false: one candidate only, no fallback
    allowed_providers: list[str] = []  # narrows the candidates (names or globs); empty: no narrowing
    max_retries: int | None = None
    first_byte_timeout_secs: float | None = None
    dispatch_timeout_secs: float | None = None


class McpHeader(_Section):
    name: str
    value_env: str | None = None
    value: str | None = None


class McpServer(_Section):
    name: str
    transport: Literal["streamable_http", "sse", "stdio"]
    url: str | None = None
    command: str | None = None
    args: list[str] = []
    env: dict[str, str] = {}
    auth_type: Literal["none", "bearer", "headers"] = "none"
    headers: list[McpHeader] = []
    tools_to_execute: list[str] = []
    tools_to_auto_execute: list[str] = []
    tool_include: list[str] = []
    timeout_ms: int = 30_000
    # USD metered for each call of this server's tools that ran (and spent from cost
    # budgets); tool_prices sets it per tool (bare or namespaced names).
    price_per_call: Decimal | None = None
    tool_prices: dict[str, Decimal] = {}


# --------------------------------------------------------------------------- root


class Config(_Section):
    """The whole gateway configuration."""

    listen: list[str] = msgspec.field(default_factory=lambda: ["0.0.0.0:8080"])
    admin: Admin = Admin()
    limits: Limits = Limits()
    telemetry: Telemetry = Telemetry()
    metering: Metering = Metering()
    storage: Storage = Storage()
    cache: Cache = Cache()
    governance: Governance = Governance()
    agentic: Agentic = Agentic()
    reliability: Reliability = Reliability()
    tls: Tls = Tls()
    cluster: Cluster = Cluster()
    upstreams: list[Upstream] = []
    routes: list[Route] = []
    providers: list[Provider] = []
    models: list[Model] = []
    api_keys: list[ApiKey] = []
    tenants: list[Tenant] = []
    policies: list[Policy] = []
    gateway_configs: list[GatewayProfile] = []
    mcp_servers: list[McpServer] = []
