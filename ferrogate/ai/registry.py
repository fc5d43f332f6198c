"""The model registry: logical model → candidates, compiled once per config.

A candidate is one (provider, provider_model) a logical model may be served
by: the model's primary target plus each enabled ``fallbacks`` entry, with its
own priority (lower first), weight, prices, capabilities and context window
(fallbacks inherit the model's when they leave them unset).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import orjson

from ferrogate._fastpath.clock import time
from ferrogate._fastpath.head import header_block
from ferrogate.ai.health import TargetKey
from ferrogate.ai.providers.base import ProviderAdapter
from ferrogate.config.model import Config, Fallback, Model

_PER_TOKEN = 1_000_000.0


class Candidate:
    """One target of a logical model. Immutable after compile."""

    __slots__ = (
        "adapter",
        "cached_input_pico",
        "capabilities",
        "context_window",
        "id_lines",
        "input_pico",
        "input_price",
        "key",
        "order",
        "output_pico",
        "output_price",
        "priced",
        "priority",
        "provider",
        "provider_model",
        "reasoning_pico",
        "weight",
    )

    def __init__(
        self,
        *,
        adapter: ProviderAdapter,
        provider_model: str,
        priority: int,
        weight: int,
        input_price: float | None,
        output_price: float | None,
        capabilities: frozenset[str],
        context_window: int | None,
        order: int,
        input_pico: int = 0,
        output_pico: int = 0,
        cached_input_pico: int | None = None,
        reasoning_pico: int | None = None,
    ) -> None:
        self.adapter = adapter
        self.provider = adapter.name
        self.provider_model = provider_model
        self.priority = priority
        self.weight = max(0, weight)
        self.input_price = input_price  # per token
        self.output_price = output_price  # per token
        self.priced = input_price is not None and output_price is not None
        # Exact prices per token in pico-USD (10^-12 USD) for budgets and accounting; 0 unpriced.
        self.input_pico = input_pico
        self.output_pico = output_pico
        self.cached_input_pico = input_pico if cached_input_pico is None else cached_input_pico
        self.reasoning_pico = output_pico if reasoning_pico is None else reasoning_pico
        self.capabilities = capabilities
        self.context_window = context_window
        self.key: TargetKey = (adapter.name, provider_model)
        self.order = order
        # Response headers naming who answered, encoded once.
        self.id_lines = header_block(
            (
                (b"x-ferrogate-provider", adapter.name.encode("latin-1")),
                (b"x-ferrogate-model", provider_model.encode("latin-1")),
            )
        )

    def cost_pico(self, prompt_tokens: int, completion_tokens: int) -> int:
        """The exact cost of a request in pico-USD (0 when the target has no prices)."""
        return prompt_tokens * self.input_pico + completion_tokens * self.output_pico

    def usage_cost_pico(self, prompt: int, completion: int, cached: int, reasoning: int) -> int:
        """The exact cost of reported usage: cached prompt tokens and reasoning tokens at their
        own prices (the same for a stream and a whole answer with the same usage)."""
        cached = min(cached, prompt)
        reasoning = min(reasoning, completion)
        return (
            (prompt - cached) * self.input_pico
            + cached * self.cached_input_pico
            + (completion - reasoning) * self.output_pico
            + reasoning * self.reasoning_pico
        )

    def estimated_cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        if self.input_price is None or self.output_price is None:
            return None
        return prompt_tokens * self.input_price + completion_tokens * self.output_price

    def __repr__(self) -> str:
        return f"Candidate({self.provider}:{self.provider_model}, p={self.priority}, w={self.weight})"


class ModelEntry:
    __slots__ = ("candidates", "capabilities", "max_output_tokens", "name", "strategy", "tenants", "uses_estimate")

    def __init__(self, model: Model, candidates: tuple[Candidate, ...]) -> None:
        self.name = model.name
        self.strategy = model.routing_strategy
        self.candidates = candidates
        self.capabilities = frozenset(model.capabilities)
        self.max_output_tokens = model.max_output_tokens
        self.tenants = frozenset(model.tenants) or None  # None: open to every key
        # Token estimates are only worth computing when something decides on them.
        self.uses_estimate = model.routing_strategy in ("lowest_cost", "balanced") or any(
            c.context_window is not None for c in candidates
        )


class Registry:
    __slots__ = ("model_bodies", "models", "models_body", "tenants_by_model")

    def __init__(self, models: dict[str, ModelEntry], models_body: bytes, model_bodies: dict[str, bytes]) -> None:
        self.models = models
        self.models_body = models_body  # precomputed GET /v1/models answer
        self.model_bodies = model_bodies  # precomputed GET /v1/models/{id} answers
        # Only the models limited to tenants (empty: no request needs the check).
        self.tenants_by_model = {name: e.tenants for name, e in models.items() if e.tenants is not None}


def _price(value: object) -> float | None:
    return float(value) / _PER_TOKEN if value is not None else None  # type: ignore[arg-type]


def _pico(value: Decimal | None) -> int:
    """A price per million tokens as pico-USD per token, rounded up (exact to six decimals)."""
    if value is None:
        return 0
    scaled = value * 1_000_000
    whole = int(scaled)
    return whole + 1 if scaled > whole else whole


def _pico_or_none(value: Decimal | None) -> int | None:
    return None if value is None else _pico(value)


def _candidate(model: Model, target: Model | Fallback, adapter: ProviderAdapter, order: int) -> Candidate:
    caps = target.capabilities if target.capabilities is not None else model.capabilities
    return Candidate(
        adapter=adapter,
        provider_model=target.provider_model,
        priority=target.priority,
        weight=target.weight,
        input_price=_price(target.input_price_per_1m),
        output_price=_price(target.output_price_per_1m),
        input_pico=_pico(target.input_price_per_1m),
        output_pico=_pico(target.output_price_per_1m),
        cached_input_pico=_pico_or_none(target.cached_input_price_per_1m),
        reasoning_pico=_pico_or_none(target.reasoning_price_per_1m),
        # A model that speaks the Responses API can serve plain chat too.
        capabilities=frozenset(caps) | ({"chat"} if "responses" in caps else frozenset()),
        context_window=target.context_window if target.context_window is not None else model.context_window,
        order=order,
    )


def compile_registry(config: Config, adapters: Mapping[str, ProviderAdapter]) -> Registry:
    """Build the registry; models whose providers are all disabled/unknown are left out."""
    models: dict[str, ModelEntry] = {}
    listing: list[dict[str, object]] = []
    created = int(time())
    for model in config.models:
        if not model.enabled:
            continue
        candidates: list[Candidate] = []
        targets: list[Model | Fallback] = [model, *(f for f in model.fallbacks if f.enabled)]
        for order, target in enumerate(targets):
            adapter = adapters.get(target.provider)
            if adapter is not None:
                candidates.append(_candidate(model, target, adapter, order))
        if not candidates:
            continue
        candidates.sort(key=lambda c: (c.priority, c.order))
        models[model.name] = ModelEntry(model, tuple(candidates))
        listing.append(
            {
                "id": model.name,
                "object": "model",
                "created": created,
                "owned_by": model.provider,
                "capabilities": list(model.capabilities),
                "context_window": model.context_window,
            }
        )
    body = orjson.dumps({"object": "list", "data": listing})
    return Registry(models, body, {str(m["id"]): orjson.dumps(m) for m in listing})
