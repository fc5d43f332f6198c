"""Per-request state shared by the phases (Pingora's CTX): one object, slots only."""

from __future__ import annotations

from asyncio import Future
from typing import Any

from ferrogate._fastpath.exchange import HttpExchange
from ferrogate.ai.providers.base import ClientRequest, Endpoint
from ferrogate.ai.registry import Candidate
from ferrogate.ai.usage import Usage
from ferrogate.cache.answer_cache import AnswerCache
from ferrogate.config.model import ApiKey
from ferrogate.errors import ErrorFlavor, GatewayError
from ferrogate.governance.limiter import Ticket
from ferrogate.governance.profiles import CompiledProfile


class RequestContext:
    __slots__ = (
        "api_key",
        "attempt_log",
        "attempts",
        "cache",
        "cache_fetch",
        "cache_hit",
        "cache_key",
        "cache_state",
        "candidate",
        "candidates",
        "cost",
        "cost_pico",
        "endpoint",
        "error",
        "exchange",
        "first_byte_at",
        "flavor",
        "model",
        "parent_span_id",
        "profile",
        "provider",
        "provider_model",
        "received_at",
        "request",
        "request_bytes",
        "request_id",
        "saved_cost_pico",
        "scope",
        "span_id",
        "status",
        "stream",
        "ticket",
        "tool_loop",
        "trace_id",
        "trace_sampled",
        "upstream_secs",
        "usage",
    )

    def __init__(
        self,
        exchange: HttpExchange,
        request_id: bytes,
        endpoint: Endpoint | None,
        scope: str,
        flavor: ErrorFlavor,
        received_at: float,
    ) -> None:
        self.exchange = exchange
        self.request_id = request_id
        self.endpoint = endpoint  # None for the endpoints that reach no provider (/v1/models)
        self.scope = scope  # the key scope this endpoint needs
        self.flavor = flavor  # the error shape the endpoint's clients parse
        self.received_at = received_at  # perf_counter() when the pipeline took the request
        self.upstream_secs = 0.0  # time spent waiting on upstreams (excluded from overhead)
        self.api_key: ApiKey | None = None
        self.request: ClientRequest | None = None
        self.request_bytes = 0  # the body's size (the usage estimate), kept after the body goes
        self.model: str | None = None
        self.profile: CompiledProfile | None = None  # chosen by x-ferrogate-config
        self.candidates: list[Candidate] = []
        self.provider: str | None = None
        self.provider_model: str | None = None
        self.attempts = 0
        self.candidate: Candidate | None = None
        self.stream = False
        self.tool_loop = False  # x-ferrogate-tools: auto (a chat request): the gateway runs its tool calls
        self.usage: Usage | None = None
        self.cost: float | None = None
        self.cost_pico: int | None = None  # exact, in 10^-12 USD
        self.ticket: Ticket | None = None  # what admit reserved, settled by account
        self.cache: AnswerCache | None = None  # where relay stores the answer (a cacheable miss)
        self.cache_key: bytes | None = None
        # Redis mode: the cache key and its GET, sent beside the admission (cache_lookup awaits it)
        self.cache_fetch: tuple[bytes, Future[Any]] | None = None
        self.cache_state: bytes | None = None  # the x-ferrogate-cache header line
        self.cache_hit = False  # answered from the cache: dispatch does nothing
        self.saved_cost_pico = 0  # what a cache hit would have cost
        self.status = 0
        self.error: GatewayError | None = None
        self.first_byte_at = 0.0  # perf_counter() when the answer's first byte went out; 0: none
        # (provider, provider_model, started, ended, status, error kind, span id) per upstream try
        self.attempt_log: list[tuple[str, str, float, float, int, str | None, str | None]] = []
        self.trace_id: str | None = None  # set when tracing is on
        self.span_id: str | None = None
        self.parent_span_id: str | None = None
        self.trace_sampled = True  # the sampler's decision: spans are exported for this request

    def let_body_go(self) -> None:
        """Drop the client's body once a stream has started: nothing sends it again (no
        fallback after the first byte), and a long prompt held for a long stream is the
        largest thing an open stream keeps. Its decoded head goes too (its raw fields are
        slices of the body)."""
        req = self.request
        if req is not None:
            req.body = b""
            req.head = None

    def overhead_ms(self, now: float) -> float:
        """Time in the gateway so far, excluding upstream waits."""
        return max(0.0, (now - self.received_at - self.upstream_secs) * 1000.0)
