"""Phase: pick the candidates for this request, in the order to try them.

Looks up the logical model (404 ``model_not_found``), works out what the
request needs (streaming, tools, vision, json_schema, embeddings) and how many
tokens it will roughly take, drops candidates that cannot serve it (400 saying
why when none is left), and orders the rest by the model's strategy. A gateway
config profile that routes (``ferrogate.governance.profiles``) narrows the
providers further, may order by its own strategy, and may keep only the first.
"""

from __future__ import annotations

import random
import re
from typing import Final

import msgspec

from ferrogate._fastpath.bytes_search import find
from ferrogate._fastpath.clock import monotonic
from ferrogate.ai.health import HealthBook
from ferrogate.ai.providers.base import ClientRequest, Endpoint
from ferrogate.ai.registry import Candidate, ModelEntry, Registry
from ferrogate.ai.schemas import ChatHead, MessagesHead, ResponsesHead
from ferrogate.ai.strategies import STRATEGIES, RequestEstimate
from ferrogate.config.model import ApiKey
from ferrogate.errors import GatewayError, bad_request
from ferrogate.governance.access import provider_allowed
from ferrogate.governance.policies import CompiledPolicy, PolicyBook
from ferrogate.governance.profiles import CompiledProfile
from ferrogate.pipeline.context import RequestContext
from ferrogate.pipeline.runtime import AiRuntime

_BYTES_PER_TOKEN: Final = 4  # rough, provider-independent estimate for routing decisions
_DEFAULT_COMPLETION_TOKENS: Final = 256
_IMAGE: Final = re.compile(rb'"image_url"|"input_image"|"type":\s*"image"')


def lookup_model(registry: Registry, name: str) -> ModelEntry:
    entry = registry.models.get(name)
    if entry is None:
        raise GatewayError(
            404,
            f"The model '{name}' does not exist or you do not have access to it.",
            code="model_not_found",
            param="model",
        )
    return entry


_EMBEDDINGS_NEEDS: Final = frozenset(("embeddings",))
# Finals, read as C statics: an imported name is a dict lookup at each use in a compiled module.
_EMBEDDINGS: Final = Endpoint.EMBEDDINGS
_CHAT_HEAD: Final = ChatHead
_RESPONSES_HEAD: Final = ResponsesHead
_MESSAGES_HEAD: Final = MessagesHead


def _needs_set(stream: bool, tools: bool, json_schema: bool, vision: bool) -> frozenset[str]:
    names = ["chat"]
    for flag, name in ((stream, "streaming"), (tools, "tools"), (json_schema, "json_schema"), (vision, "vision")):
        if flag:
            names.append(name)
    return frozenset(names)


# Every combination built once: the per-request answer is a dict probe, not a new set.
# Indexed by the four flags as bits (stream 8, tools 4, json_schema 2, vision 1): a tuple
# index, where a dict keyed by the flags' tuple built and hashed that tuple per request.
_NEEDS: Final[tuple[frozenset[str], ...]] = tuple(
    _needs_set(bool(i & 8), bool(i & 4), bool(i & 2), bool(i & 1)) for i in range(16)
)


def _mentions_image(body: bytes) -> bool:
    """Substring probes first (memchr-fast; one when the body never says ``image``, as most
    do not); the regex only when ``"image"`` occurs."""
    return find(body, b"image") != -1 and (
        find(body, b'"image_url"') != -1
        or find(body, b'"input_image"') != -1
        or (find(body, b'"image"') != -1 and _IMAGE.search(body) is not None)
    )


def present(raw: msgspec.Raw) -> bool:
    """True when a raw field was sent with a non-null value (here, not in the Structs' module,
    so this compiled phase does not call into interpreted code twice per request)."""
    return bool(raw) and bytes(raw).strip() != b"null"


def required_capabilities(req: ClientRequest) -> frozenset[str]:
    if req.endpoint is _EMBEDDINGS:
        return _EMBEDDINGS_NEEDS
    tools = json_schema = False
    head = req.head
    if isinstance(head, _CHAT_HEAD):
        tools = present(head.tools) or present(head.functions)
        json_schema = head.response_format is not None and head.response_format.type == "json_schema"
    elif isinstance(head, _RESPONSES_HEAD):
        tools = present(head.tools) and bytes(head.tools).strip() != b"[]"
        json_schema = (
            head.text is not None and head.text.format is not None and head.text.format.type == "json_schema"
        )
    elif isinstance(head, _MESSAGES_HEAD):
        tools = present(head.tools)
    return _NEEDS[(8 if req.stream else 0) | (4 if tools else 0) | (2 if json_schema else 0)
                  | (1 if _mentions_image(req.body) else 0)]


_NO_ESTIMATE: Final = RequestEstimate(0, 0)


def estimate(req: ClientRequest, entry: ModelEntry) -> RequestEstimate:
    prompt = max(1, len(req.body) // _BYTES_PER_TOKEN)
    head = req.head
    completion: int | None = None
    if isinstance(head, _CHAT_HEAD):
        completion = head.max_completion_tokens or head.max_tokens
    elif isinstance(head, _RESPONSES_HEAD):
        completion = head.max_output_tokens
    elif isinstance(head, _MESSAGES_HEAD):
        completion = head.max_tokens
    if req.endpoint is _EMBEDDINGS:
        completion = 0
    if completion is None:
        completion = entry.max_output_tokens or _DEFAULT_COMPLETION_TOKENS
    return RequestEstimate(prompt, completion)


def select_candidates(
    registry: Registry,
    health: HealthBook,
    req: ClientRequest,
    key: ApiKey | None,
    now: float,
    rng: random.Random,
    policies: PolicyBook | None = None,
    profile: CompiledProfile | None = None,
) -> tuple[ModelEntry, list[Candidate]]:
    entry = lookup_model(registry, req.model)
    needs = required_capabilities(req)
    est = estimate(req, entry) if entry.uses_estimate else _NO_ESTIMATE
    eligible: list[Candidate] = []
    reasons: list[str] = []
    refused_by: CompiledPolicy | None = None
    for cand in entry.candidates:
        if not needs <= cand.capabilities:
            missing = sorted(needs - cand.capabilities)
            reasons.append(f"{cand.provider}:{cand.provider_model} lacks {', '.join(missing)}")
            continue
        if cand.context_window is not None and est.prompt_tokens + est.completion_tokens > cand.context_window:
            reasons.append(
                f"{cand.provider}:{cand.provider_model} has a {cand.context_window}-token context "
                f"window; this request needs about {est.prompt_tokens + est.completion_tokens}"
            )
            continue
        if key is not None and not provider_allowed(key, cand.provider):
            reasons.append(f"{cand.provider}:{cand.provider_model} is not allowed for this API key")
            continue
        if policies is not None:
            refusing = policies.refusing_provider(key, req.model, cand.provider)
            if refusing is not None:
                refused_by = refused_by or refusing
                continue
        eligible.append(cand)
    if profile is not None and profile.routes:
        return entry, _order_for_profile(profile, entry, eligible, reasons, refused_by, req, est, health, now, rng)
    if not eligible:
        raise _none_eligible(req, reasons, refused_by)
    if len(eligible) == 1:
        return entry, eligible
    return entry, STRATEGIES[entry.strategy](eligible, est, health, now, rng)


def _order_for_profile(
    profile: CompiledProfile,
    entry: ModelEntry,
    eligible: list[Candidate],
    reasons: list[str],
    refused_by: CompiledPolicy | None,
    req: ClientRequest,
    est: RequestEstimate,
    health: HealthBook,
    now: float,
    rng: random.Random,
) -> list[Candidate]:
    """The candidates under a profile's routing overrides: only narrower than without it."""
    if profile.allowed_providers:
        kept: list[Candidate] = []
        for cand in eligible:
            if profile.allows_provider(cand.provider):
                kept.append(cand)
            else:
                reasons.append(
                    f"{cand.provider}:{cand.provider_model} is not allowed by gateway config {profile.id!r}"
                )
        eligible = kept
    if not eligible:
        raise _none_eligible(req, reasons, refused_by)
    if len(eligible) > 1:
        if est is _NO_ESTIMATE and profile.uses_estimate:
            est = estimate(req, entry)
        eligible = STRATEGIES[profile.strategy or entry.strategy](eligible, est, health, now, rng)
    return eligible[:1] if profile.primary_only else eligible


def _none_eligible(req: ClientRequest, reasons: list[str], refused_by: CompiledPolicy | None) -> GatewayError:
    if refused_by is not None:
        return refused_by.error()  # the candidates that could serve it are all refused
    return bad_request(
        f"no provider of model '{req.model}' can serve this request: " + "; ".join(reasons),
        param="model",
        code="no_eligible_provider",
    )


def select(rt: AiRuntime, ctx: RequestContext) -> None:
    req = ctx.request
    assert req is not None
    ctx.candidates = select_candidates(
        rt.registry, rt.health, req, ctx.api_key, monotonic(), rt.rng, rt.policies, ctx.profile
    )[1]
    return None
