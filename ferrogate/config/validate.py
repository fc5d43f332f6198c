"""Cross-reference and consistency checks over a typed :class:`Config`.

Type errors are caught while converting; this module checks what types cannot
express: names that must exist or be unique, handler counts, TLS/ACME
combinations, referenced environment variables. Each diagnostic points at the
offending entry through the front end's :class:`SourceMap`. Messages name keys
and variables only, never their secret values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime

from ferrogate.config.diagnostics import Diagnostic, ModelPath, SourceMap
from ferrogate.config.key_hash import hash_key
from ferrogate.config.model import Config, Quota, Route
from ferrogate.config.patterns import is_pattern
from ferrogate.config.redis_url import parse_redis_url
from ferrogate.config.validate_tls import check_tls
from ferrogate.config.validate_tools import check_agentic, check_mcp_servers

KEY_HASH_RE = re.compile(r"^hmac-sha256:[0-9a-f]{64}$")
_NEEDS_BASE_URL = frozenset({"openai-compatible", "azure"})
_QUOTA_COUNTS = (
    "request_limit_per_minute",
    "token_limit_per_minute",
    "monthly_token_budget",
    "daily_token_budget",
    "token_budget",
)


def validate_config(config: Config, smap: SourceMap, env: Mapping[str, str]) -> list[Diagnostic]:
    """Return every problem found (empty list = valid)."""
    out: list[Diagnostic] = []
    _Checker(config, smap, env, out).run()
    return out


class _Checker:
    def __init__(self, config: Config, smap: SourceMap, env: Mapping[str, str], out: list[Diagnostic]) -> None:
        self.c = config
        self.smap = smap
        self.env = env
        self.out = out

    def err(self, path: ModelPath, message: str) -> None:
        self.out.append(self.smap.diagnostic(path, message))

    def run(self) -> None:
        self.listeners()
        self.uniqueness()
        self.providers()
        self.models()
        self.upstreams_and_routes()
        self.api_keys()
        self.model_tenants()
        self.policies_and_profiles()
        self.mcp_servers()
        self.tls()
        self.misc()

    # ------------------------------------------------------------------ pieces

    def listeners(self) -> None:
        if not self.c.listen:
            self.err(("listen",), "`listen` needs at least one address")
        for i, addr in enumerate(self.c.listen):
            if not _is_host_port(addr):
                self.err(("listen", i), f"listen address `{addr}` is not host:port (e.g. 0.0.0.0:8080 or :8080)")
        seen: dict[tuple[str, str], str] = {}
        for i, addr in enumerate(self.c.listen):
            key = _bind_key(addr)
            if key is not None and key in seen:
                self.err(("listen", i), f"listen address `{addr}` is the same as `{seen[key]}`")
            elif key is not None:
                seen[key] = addr
        admin = self.c.admin.listen
        if self.c.admin.enabled and not _is_host_port(admin):
            self.err(("admin", "listen"), f"admin listen address `{admin}` is not host:port")
        elif self.c.admin.enabled:
            admin_key = _bind_key(admin)
            for addr in self.c.listen:
                other = _bind_key(addr)
                if admin_key and other and admin_key[1] == other[1] and (admin_key[0] == other[0] or "*" in (admin_key[0], other[0])):
                    self.err(("admin", "listen"), f"admin listen address `{admin}` collides with public listener `{addr}`")
                    break
        if self.c.admin.token_env:
            self.need_env(("admin", "token_env"), self.c.admin.token_env)

    def uniqueness(self) -> None:
        groups: list[tuple[str, str, Iterable[str]]] = [
            ("providers", "name", (p.name for p in self.c.providers)),
            ("models", "name", (m.name for m in self.c.models)),
            ("upstreams", "name", (u.name for u in self.c.upstreams)),
            ("api_keys", "id", (k.id for k in self.c.api_keys)),
            ("tenants", "id", (t.id for t in self.c.tenants)),
            ("policies", "name", (p.name for p in self.c.policies)),
            ("mcp_servers", "name", (s.name for s in self.c.mcp_servers)),
            ("gateway_configs", "id", (g.id for g in self.c.gateway_configs)),
        ]
        for section, field, names in groups:
            first: dict[str, int] = {}
            for i, name in enumerate(names):
                if name in first:
                    where = self.smap.position((section, first[name], field))
                    self.err(
                        (section, i, field),
                        f"duplicate {section} {field} `{name}` (first defined at line {where.line})",
                    )
                else:
                    first[name] = i

    def providers(self) -> None:
        for i, p in enumerate(self.c.providers):
            if p.kind in _NEEDS_BASE_URL and not p.base_url:
                self.err(("providers", i), f"provider `{p.name}` of kind `{p.kind}` needs `base_url`")
            if p.base_url and not p.base_url.startswith(("http://", "https://")):
                self.err(("providers", i, "base_url"), f"provider `{p.name}`: base_url must start with http:// or https://")
            if p.api_key is not None and p.api_key_env is not None:
                self.err(("providers", i, "api_key"), f"provider `{p.name}`: set `api_key` or `api_key_env`, not both")
            if p.api_key_env and p.enabled:
                self.need_env(("providers", i, "api_key_env"), p.api_key_env)
            if p.mock is not None and p.kind != "mock":
                self.err(("providers", i, "mock"), f"provider `{p.name}`: `mock` settings need kind `mock`")

    def models(self) -> None:
        providers = {p.name for p in self.c.providers}
        for i, m in enumerate(self.c.models):
            if m.provider not in providers:
                self.err(("models", i, "provider"), f"model `{m.name}` names unknown provider `{m.provider}`")
            for j, fb in enumerate(m.fallbacks):
                if fb.provider not in providers:
                    self.err(
                        ("models", i, "fallbacks", j, "provider"),
                        f"model `{m.name}` fallback names unknown provider `{fb.provider}`",
                    )
                if fb.weight < 0:
                    self.err(("models", i, "fallbacks", j, "weight"), "weight must be >= 0")
            for key in ("input_price_per_1m", "output_price_per_1m"):
                price = getattr(m, key)
                if price is not None and price < 0:
                    self.err(("models", i, key), f"model `{m.name}`: {key} must be >= 0")
            if m.weight < 0:
                self.err(("models", i, "weight"), "weight must be >= 0")

    def upstreams_and_routes(self) -> None:
        for i, u in enumerate(self.c.upstreams):
            if not u.urls:
                self.err(("upstreams", i, "urls"), f"upstream `{u.name}` needs at least one url")
            for j, url in enumerate(u.urls):
                if not url.startswith(("http://", "https://")):
                    self.err(("upstreams", i, "urls", j), f"upstream `{u.name}`: url `{url}` must start with http:// or https://")
        upstreams = {u.name for u in self.c.upstreams}
        for i, r in enumerate(self.c.routes):
            self.route(i, r, upstreams)

    def route(self, i: int, r: Route, upstreams: set[str]) -> None:
        handlers = [h for h, on in (("upstream", r.upstream is not None), ("respond", r.respond is not None), ("ai_gateway", r.ai_gateway)) if on]
        label = f"route `{r.name}`" if r.name else f"route #{i + 1}"
        if not handlers:
            self.err(("routes", i), f"{label} has no handler (set one of upstream, respond, ai_gateway)")
        elif len(handlers) > 1:
            self.err(("routes", i), f"{label} has several handlers ({', '.join(handlers)}); set exactly one")
        if r.upstream is not None and r.upstream not in upstreams:
            self.err(("routes", i, "upstream"), f"{label} names unknown upstream `{r.upstream}`")
        for j, p in enumerate(r.paths):
            if not p.startswith(("/", "*")):
                self.err(("routes", i, "paths", j), f"{label}: path `{p}` must start with / (or be a * pattern)")
        for key in ("strip_prefix", "add_prefix"):
            value = getattr(r, key)
            if value is not None and not value.startswith("/"):
                self.err(("routes", i, key), f"{label}: {key} must start with /")
        if r.respond is not None and not 100 <= r.respond.status <= 999:
            self.err(("routes", i, "respond", "status"), f"{label}: status {r.respond.status} is not an HTTP status")

    def api_keys(self) -> None:
        models = {m.name for m in self.c.models}
        providers = {p.name for p in self.c.providers}
        hashes: dict[str, int] = {}
        for i, k in enumerate(self.c.api_keys):
            given = [f for f in ("key", "key_env", "key_hash") if getattr(k, f) is not None]
            if not given:
                self.err(("api_keys", i), f"api key `{k.id}` needs `key`, `key_env` or `key_hash`")
            if len(given) > 1:
                self.err(("api_keys", i, given[1]), f"api key `{k.id}`: set one of `key`, `key_env`, `key_hash`, not {' and '.join(given)}")
            if k.key_env is not None:
                self.need_env(("api_keys", i, "key_env"), k.key_env)
            if k.key is not None and not k.key:
                self.err(("api_keys", i, "key"), f"api key `{k.id}`: `key` is empty")
            if k.key_hash is not None and not KEY_HASH_RE.fullmatch(k.key_hash):
                self.err(
                    ("api_keys", i, "key_hash"),
                    f"api key `{k.id}`: key_hash must look like hmac-sha256:<64 hex digits> (use `ferrogate hash-key`)",
                )
            stored = k.key_hash
            secret = k.key or (self.env.get(k.key_env) if k.key_env else None)
            if stored is None and secret:
                stored = hash_key(secret, env=self.env)
            if stored is not None:
                if stored in hashes:
                    self.err(("api_keys", i), f"api key `{k.id}` has the same secret as `{self.c.api_keys[hashes[stored]].id}`")
                else:
                    hashes[stored] = i
            for field in ("allowed_models", "denied_models"):
                for j, name in enumerate(getattr(k, field)):
                    if not is_pattern(name) and name not in models:
                        self.err(("api_keys", i, field, j), f"api key `{k.id}`: {field} names unknown model `{name}`")
            for field in ("allowed_providers", "denied_providers"):
                for j, name in enumerate(getattr(k, field)):
                    if not is_pattern(name) and name not in providers:
                        self.err(("api_keys", i, field, j), f"api key `{k.id}`: {field} names unknown provider `{name}`")
            if k.expires_at is not None and not _is_datetime(k.expires_at):
                self.err(("api_keys", i, "expires_at"), f"api key `{k.id}`: expires_at must be an ISO 8601 date-time")
            self.quota(("api_keys", i), f"api key `{k.id}`", k)
        for i, t in enumerate(self.c.tenants):
            self.quota(("tenants", i), f"tenant `{t.id}`", t)

    def quota(self, at: ModelPath, who: str, q: Quota) -> None:
        for field in _QUOTA_COUNTS:
            value = getattr(q, field)
            if value is not None and value < 0:
                self.err((*at, field), f"{who}: {field} must be >= 0")
        for field in ("monthly_cost_budget_usd", "daily_cost_budget_usd"):
            cost = getattr(q, field)
            if cost is not None and (not cost.is_finite() or cost < 0):
                self.err((*at, field), f"{who}: {field} must be a decimal >= 0")
        if (q.token_budget is None) != (q.token_budget_period_secs is None):
            given = "token_budget" if q.token_budget is not None else "token_budget_period_secs"
            self.err((*at, given), f"{who}: token_budget and token_budget_period_secs go together")
        if q.token_budget_period_secs is not None and q.token_budget_period_secs <= 0:
            self.err((*at, "token_budget_period_secs"), f"{who}: token_budget_period_secs must be > 0")

    def known_tenants(self) -> set[str]:
        return {k.tenant for k in self.c.api_keys if k.tenant is not None} | {t.id for t in self.c.tenants}

    def model_tenants(self) -> None:
        tenants = self.known_tenants()
        for i, m in enumerate(self.c.models):
            for j, tenant in enumerate(m.tenants):
                if tenant not in tenants:
                    self.err(("models", i, "tenants", j), f"model `{m.name}` names tenant `{tenant}`, which no api key belongs to and [[tenants]] does not define")

    def policies_and_profiles(self) -> None:
        key_ids = {k.id for k in self.c.api_keys}
        models = {m.name for m in self.c.models}
        providers = {p.name for p in self.c.providers}
        mcp = {s.name for s in self.c.mcp_servers}
        tenants = self.known_tenants()
        for i, p in enumerate(self.c.policies):
            for j, kid in enumerate(p.api_key_ids):
                if kid not in key_ids:
                    self.err(("policies", i, "api_key_ids", j), f"policy `{p.name}` names unknown api key `{kid}`")
            for j, tenant in enumerate(p.tenants):
                if tenant not in tenants:
                    self.err(("policies", i, "tenants", j), f"policy `{p.name}` names tenant `{tenant}`, which no api key belongs to and [[tenants]] does not define")
            for j, name in enumerate(p.models):
                if not is_pattern(name) and not name.startswith("mcp_tool:") and name not in models:
                    self.err(("policies", i, "models", j), f"policy `{p.name}` names unknown model `{name}`")
            for j, name in enumerate(p.providers):
                if name.startswith("mcp:"):
                    if name[4:] not in mcp:
                        self.err(("policies", i, "providers", j), f"policy `{p.name}` names unknown MCP server `{name[4:]}`")
                elif not is_pattern(name) and name not in providers:
                    self.err(("policies", i, "providers", j), f"policy `{p.name}` names unknown provider `{name}`")
        for i, g in enumerate(self.c.gateway_configs):
            for j, kid in enumerate(g.api_key_ids):
                if kid not in key_ids:
                    self.err(("gateway_configs", i, "api_key_ids", j), f"gateway config `{g.id}` names unknown api key `{kid}`")
            for j, name in enumerate(g.allowed_providers):
                if not is_pattern(name) and name not in providers:
                    self.err(("gateway_configs", i, "allowed_providers", j), f"gateway config `{g.id}` names unknown provider `{name}`")
            if g.max_retries is not None and g.max_retries < 0:
                self.err(("gateway_configs", i, "max_retries"), f"gateway config `{g.id}`: max_retries must be >= 0")
            for field in ("first_byte_timeout_secs", "dispatch_timeout_secs"):
                secs = getattr(g, field)
                if secs is not None and secs <= 0:
                    self.err(("gateway_configs", i, field), f"gateway config `{g.id}`: {field} must be > 0")

    def mcp_servers(self) -> None:
        check_mcp_servers(self.c, self.err, self.need_env)
        check_agentic(self.c, self.err)

    def tls(self) -> None:
        check_tls(self.c, self.err, self.need_env)

    def misc(self) -> None:
        if self.c.cluster.counter_backend == "redis" and not self.c.cluster.redis_url:
            self.err(("cluster", "counter_backend"), "counter_backend redis needs `redis_url`")
        cluster = self.c.cluster
        if cluster.state_backend == "redis" and not cluster.redis_url:
            self.err(("cluster", "state_backend"), "state_backend redis needs `redis_url`")
        if cluster.state_backend == "file" and cluster.state_file is None:
            self.err(("cluster", "state_backend"), "state_backend file needs `state_file` (a path every node mounts)")
        if cluster.state_backend == "redis" and cluster.state_file is not None:
            self.err(("cluster", "state_file"), "state_file and state_backend redis are two homes for the shared"
                     " objects: keep one")
        if cluster.state_file is not None and not cluster.state_file.strip():
            self.err(("cluster", "state_file"), "state_file is empty")
        url = self.c.cluster.redis_url
        if url is not None:
            try:
                parse_redis_url(url)
            except ValueError as exc:  # the message never repeats the URL (it may hold a password)
                self.err(("cluster", "redis_url"), str(exc))
        cache = self.c.cache
        for key, value, least in (("ttl_secs", cache.ttl_secs, 1), ("max_records", cache.max_records, 1), ("max_bytes", cache.max_bytes, 64 * 1024)):
            if value < least:
                self.err(("cache", key), f"cache.{key} must be at least {least}")
        if self.c.metering.export_enabled:
            if not self.c.metering.export_endpoint:
                self.err(("metering", "export_enabled"), "metering export needs `export_endpoint`")
            if self.c.metering.export_token_env:
                self.need_env(("metering", "export_token_env"), self.c.metering.export_token_env)
            endpoint = self.c.metering.export_endpoint
            if endpoint and not endpoint.startswith(("http://", "https://")):
                self.err(("metering", "export_endpoint"), "export_endpoint is the receiver's URL (http:// or https://)")
            if not self.c.telemetry.request_records:
                self.err(("metering", "export_enabled"), "metering export needs request records: `telemetry.request_records = true`")
        telemetry = self.c.telemetry
        if telemetry.otlp_endpoint is not None and not telemetry.request_records:
            self.err(("telemetry", "otlp_endpoint"), "OTLP export is made from request records: `telemetry.request_records = true`")
        if telemetry.metrics_token_env:
            self.need_env(("telemetry", "metrics_token_env"), telemetry.metrics_token_env)
        if telemetry.metrics_public and not telemetry.metrics_token_env:
            self.err(("telemetry", "metrics_public"), "metrics on the public port need `metrics_token_env` (a bearer token)")
        if telemetry.metrics_public and not self.c.admin.enabled:
            self.err(("telemetry", "metrics_public"), "metrics on the public port are served by the admin listener: enable [admin]")
        if telemetry.otlp_endpoint is not None and not telemetry.otlp_endpoint.startswith(("http://", "https://")):
            self.err(("telemetry", "otlp_endpoint"), "otlp_endpoint is the base URL of an OTLP/HTTP receiver (http:// or https://)")
        lim = self.c.limits
        for key in ("max_header_bytes", "max_body_bytes", "header_timeout_secs", "idle_timeout_secs", "body_timeout_secs", "max_pipelined_requests"):
            if getattr(lim, key) <= 0:
                self.err(("limits", key), f"limits.{key} must be > 0")
        if not 0.0 <= self.c.telemetry.access_log_sample_rate <= 100.0:
            self.err(
                ("telemetry", "access_log_sample_rate"),
                "access_log_sample_rate is a percentage of requests and must be between 0 and 100",
            )
        adm = self.c.storage
        if adm.admin_list_default_limit > adm.admin_list_max_limit:
            self.err(("storage", "admin_list_default_limit"), "admin_list_default_limit must not exceed admin_list_max_limit")
        for field in ("admin_list_default_limit", "admin_list_max_limit", "audit_event_retention_records"):
            if getattr(adm, field) < 1:
                self.err(("storage", field), f"{field} must be at least 1")

    def need_env(self, path: ModelPath, name: str) -> None:
        if name not in self.env:
            self.err(path, f"environment variable `{name}` is not set")


def _is_host_port(addr: str) -> bool:
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        return False
    return host.startswith("[") == host.endswith("]")


def _bind_key(addr: str) -> tuple[str, str] | None:
    """(host, port) with every wildcard host spelled ``*``; None for port 0 (ephemeral)."""
    if not _is_host_port(addr):
        return None
    host, _, port = addr.rpartition(":")
    if int(port) == 0:
        return None
    if host in ("", "0.0.0.0", "[::]", "*"):
        host = "*"
    return host.lower(), port


def _is_datetime(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True
