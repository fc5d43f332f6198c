"""The compiled AI path: everything the per-request phases read, built once per config."""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable, Mapping
from typing import Any, Final

from ferrogate._fastpath.number_bytes import hex_between
from ferrogate._fastpath.upstream import Timeouts
from ferrogate.ai.health import HealthBook
from ferrogate.ai.health_status import TargetStatus
from ferrogate.ai.providers.base import Endpoint, ProviderAdapter
from ferrogate.ai.providers.catalog import ProviderUnavailable, build_adapter
from ferrogate.ai.registry import Registry, compile_registry
from ferrogate.ai.translate import messages as messages_translation
from ferrogate.ai.translate import responses as responses_translation
from ferrogate.cache.answer_cache import AnswerCache, compile_cache
from ferrogate.cache.shm_store import ShmCache
from ferrogate.config.model import Config, Reliability
from ferrogate.config.node_identity import resolve_node_id
from ferrogate.config.otel_env import TraceSampler, otel_settings
from ferrogate.governance.authenticator import Authenticator
from ferrogate.governance.counter_table import CounterTable
from ferrogate.governance.limiter import LocalLimiter
from ferrogate.governance.policies import PolicyBook
from ferrogate.governance.profiles import ProfileBook
from ferrogate.governance.quotas import QuotaBook
from ferrogate.governance.redis_limiter import RedisLimiter
from ferrogate.governance.tool_policies import ToolPolicyBook
from ferrogate.pipeline.tool_desk import ToolDesk
from ferrogate.pipeline.trace_context import Tracer

log = logging.getLogger("ferrogate.ai")
# adapter_for runs per request: enum members read once (from the class, several hundred instructions each).
_MESSAGES: Final = Endpoint.MESSAGES
_RESPONSES: Final = Endpoint.RESPONSES

Observer = Callable[[Any], None]
"""Called with every finished AI request's context (the account phase's hand-off)."""


class AiRuntime:
    __slots__ = (
        "_events",
        "_ids",
        "_make_limiter",
        "_request_prefix",
        "_wrapped",
        "adapters",
        "auth",
        "cache",
        "default_max_output",
        "event_prefix",
        "governed",
        "health",
        "id_prefix",
        "limiter",
        "max_event_bytes",
        "max_response_bytes",
        "node_id",
        "observer",
        "policies",
        "pools",
        "profiles",
        "quotas",
        "registry",
        "reliability",
        "rng",
        "streams",
        "timeouts",
        "tool_policies",
        "tools",
        "tracer",
    )

    def __init__(
        self,
        *,
        registry: Registry,
        adapters: dict[str, ProviderAdapter],
        auth: Authenticator,
        reliability: Reliability,
        policies: PolicyBook | None = None,
        profiles: ProfileBook | None = None,
        limiter: LocalLimiter | RedisLimiter | None = None,
        default_max_output: int = 4096,
        cache: AnswerCache | None = None,
        pools: Any,
        observer: Observer | None = None,
        rng: random.Random | None = None,
        make_limiter: Callable[[QuotaBook], LocalLimiter | RedisLimiter] | None = None,
        sampler: TraceSampler | None = None,
        tools: ToolDesk | None = None,
        tool_policies: ToolPolicyBook | None = None,
        node_id: str | None = None,
    ) -> None:
        self.registry = registry
        self.node_id = node_id  # stamped on every request record
        self.tools = tools  # the node's MCP tools (None: no [[mcp_servers]])
        self.tool_policies = tool_policies if tool_policies is not None else ToolPolicyBook(())
        self._make_limiter = make_limiter  # for keys with limits that arrive over the admin API
        self.adapters = adapters
        self.auth = auth
        # None when no enabled policy applies to model requests: one test per request.
        self.policies = policies if policies is not None and not policies.empty else None
        self.profiles = profiles if profiles is not None and not profiles.empty else None
        # The limiter, and its book of which keys it governs: None when no key or tenant has limits.
        self.limiter = limiter
        self.quotas = limiter.book if limiter is not None else None
        self.default_max_output = default_max_output
        self.cache = cache  # the exact-match answer cache; None when nothing can be cached
        # Whether the govern phase has more than the key's own lists to check.
        self.governed = (
            self.policies is not None or self.profiles is not None or bool(registry.tenants_by_model)
        )
        self.reliability = reliability
        self.pools = pools
        self.health = HealthBook(
            threshold=reliability.provider_circuit_breaker_failure_threshold,
            cooldown=reliability.provider_circuit_breaker_cooldown_secs,
        )
        self.timeouts = Timeouts(
            connect=reliability.provider_connect_timeout_secs,
            first_byte=reliability.provider_first_byte_timeout_secs,
            total=reliability.provider_dispatch_timeout_secs,
            idle=reliability.provider_stream_idle_timeout_secs,
        )
        self.max_response_bytes = reliability.provider_response_body_max_bytes
        self.max_event_bytes = reliability.provider_stream_max_event_bytes
        self.observer = observer
        self.rng = rng or random.Random()
        # Makes trace ids, decides sampling and sends traceparent upstream; None: OTLP export is off.
        self.tracer = Tracer(sampler, self.rng) if sampler is not None else None
        self.streams = 0  # AI streams being relayed now (for the in-flight gauge)
        self._wrapped: dict[tuple[str, Endpoint], ProviderAdapter] = {}
        self.id_prefix = os.urandom(5).hex().encode()
        self._request_prefix = b"req_" + self.id_prefix
        self._ids = 0  # a plain int, as _events
        self.event_prefix = "evt_" + os.urandom(5).hex() + "_"
        self._events = 0  # a plain int: mypyc adds and formats it natively

    def use_objects(self, config: Config, env: Mapping[str, str] | None) -> None:
        """Authenticate and govern with ``config``'s keys, tenants, policies and profiles from
        now on (the config file's plus the admin API's).

        A request in flight keeps the key and the books it started with and settles against
        the slots it reserved in; the next one sees the new objects (a revoked key: 401)."""
        self.auth = Authenticator(config.api_keys, env=env)
        book = QuotaBook(config.api_keys, config.tenants)
        if self.limiter is None and not book.empty and self._make_limiter is not None:
            self.limiter = self._make_limiter(book)
        elif self.limiter is not None:
            self.limiter.use_book(book)
        self.quotas = self.limiter.book if self.limiter is not None and not book.empty else None
        policies = PolicyBook(config.policies)
        self.policies = policies if not policies.empty else None
        profiles = ProfileBook(config.gateway_configs, config.reliability)
        self.profiles = profiles if not profiles.empty else None
        self.tool_policies = ToolPolicyBook(config.policies)
        self.governed = self.policies is not None or self.profiles is not None or bool(self.registry.tenants_by_model)

    def breaker_status(self, now: float) -> list[TargetStatus]:
        """Circuit breaker and latency state per (provider, provider_model), for the admin API.
        ``now`` is ``time.monotonic()``: the clock every breaker decision uses."""
        return self.health.status(now)

    def new_event_id(self) -> str:
        """Unique across workers and restarts: a random per-runtime prefix (40 bits) and a counter
        (decimal: a hex format call cost more than the rest of the record's fields)."""
        n = self._events + 1
        self._events = n
        return self.event_prefix + str(n)

    def new_request_id(self) -> bytes:
        """A worker-unique id: random per-worker prefix plus a counter (no syscall, no uuid)."""
        self._ids += 1
        return hex_between(self._request_prefix, self._ids, b"", 8)

    def adapter_for(
        self, adapter: ProviderAdapter, endpoint: Endpoint, *, native_responses: bool = False
    ) -> ProviderAdapter:
        """The adapter that serves ``endpoint`` for this provider.

        ``/v1/messages`` always goes through the Messages-over-chat wrapper; Responses
        go to the provider natively when its kind speaks /responses or the model lists
        the ``responses`` capability, otherwise through the Responses-over-chat wrapper.
        Wrappers are built once per provider and endpoint."""
        if endpoint is _MESSAGES or (
            endpoint is _RESPONSES and not (adapter.native_responses or native_responses)
        ):
            key = (adapter.name, endpoint)
            wrapped = self._wrapped.get(key)
            if wrapped is None:
                translation = messages_translation if endpoint is _MESSAGES else responses_translation
                wrapped = self._wrapped[key] = translation.wrap(adapter)
            return wrapped
        return adapter


def compile_ai_runtime(
    config: Config,
    pools: Any,
    *,
    env: Mapping[str, str] | None = None,
    observer: Observer | None = None,
    rng: random.Random | None = None,
    counters: CounterTable | None = None,
    clock: Callable[[], float] | None = None,
    cache_segment: ShmCache | None = None,
    tools: ToolDesk | None = None,
) -> AiRuntime:
    """``counters`` is the node's shared table (a worker's); without one, a runtime whose
    config has limits gets a table of its own (a single process, e.g. tests)."""
    environ = env if env is not None else os.environ
    adapters: dict[str, ProviderAdapter] = {}
    for provider in config.providers:
        if not provider.enabled:
            continue
        try:
            adapters[provider.name] = build_adapter(provider, env=env, config=config)
        except ProviderUnavailable as exc:
            log.warning("provider %s skipped: %s", provider.name, exc)
    return AiRuntime(
        registry=compile_registry(config, adapters),
        adapters=adapters,
        auth=Authenticator(config.api_keys, env=env),
        reliability=config.reliability,
        policies=PolicyBook(config.policies),
        profiles=ProfileBook(config.gateway_configs, config.reliability),
        limiter=_limiter(config, counters, clock),
        default_max_output=config.governance.default_max_output_tokens,
        cache=compile_cache(config, cache_segment),
        pools=pools,
        observer=observer,
        rng=rng,
        make_limiter=lambda book: _make_limiter(config, book, counters, clock),
        sampler=otel_settings(environ).sampler if config.telemetry.otlp_endpoint is not None else None,
        tools=tools if config.mcp_servers else None,
        tool_policies=ToolPolicyBook(config.policies),
        node_id=resolve_node_id(config.cluster, environ),
    )


def _make_limiter(
    config: Config, book: QuotaBook, counters: CounterTable | None, clock: Callable[[], float] | None
) -> LocalLimiter | RedisLimiter:
    cluster = config.cluster
    if cluster.counter_backend == "redis" and cluster.redis_url:
        return RedisLimiter(cluster.redis_url, book, clock)
    return LocalLimiter(counters if counters is not None else CounterTable.create(), book, clock)


def _limiter(
    config: Config, counters: CounterTable | None, clock: Callable[[], float] | None
) -> LocalLimiter | RedisLimiter | None:
    book = QuotaBook(config.api_keys, config.tenants)
    return None if book.empty else _make_limiter(config, book, counters, clock)
