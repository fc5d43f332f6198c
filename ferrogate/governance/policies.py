"""Deny policies (``[[policies]]``): which requests, and which of their providers, are refused.

A policy matches when each selector it sets matches (an empty list matches
anything): ``api_key_ids`` the caller's key, ``tenants`` the key's tenant,
``models`` the logical model (exact names or globs). Without ``providers`` it
refuses the request itself: the govern phase answers 403 ``policy_denied``
before any provider is chosen. With ``providers`` it refuses those providers
for the matching requests: select drops every candidate on one (a fallback on
another provider still serves), and only when no candidate is left is the
request refused, naming the policy. A request without a key (no keys
configured) matches only policies that name neither keys nor tenants.
Enabled policies are checked in config order; the first that matches decides.
``mcp_tool:`` models and ``mcp:`` providers name MCP tools and servers: a policy
whose models or providers name only those never matches a model request.
"""

from __future__ import annotations

from collections.abc import Iterable

from ferrogate.config.model import ApiKey, Policy
from ferrogate.errors import GatewayError
from ferrogate.governance.access import NameMatcher


class CompiledPolicy:
    __slots__ = ("key_ids", "message", "models", "name", "providers", "tenants")

    def __init__(self, policy: Policy) -> None:
        self.name = policy.name
        self.message = policy.message or "this request is denied by policy"
        self.key_ids = frozenset(policy.api_key_ids)
        self.tenants = frozenset(policy.tenants)
        self.models = NameMatcher([m for m in policy.models if not m.startswith("mcp_tool:")])
        self.providers = NameMatcher([p for p in policy.providers if not p.startswith("mcp:")])

    def applies_to(self, key: ApiKey | None, model: str) -> bool:
        """Whether the key, tenant and model selectors all match."""
        if self.key_ids and (key is None or key.id not in self.key_ids):
            return False
        if self.tenants and (key is None or key.tenant not in self.tenants):
            return False
        return not self.models or self.models.matches(model)

    def error(self) -> GatewayError:
        return GatewayError(403, f"{self.message} (policy '{self.name}')", code="policy_denied")


def _for_models(policy: Policy) -> bool:
    """Whether the policy can match a model request (not only MCP tools or servers)."""
    tools_only = bool(policy.models) and all(m.startswith("mcp_tool:") for m in policy.models)
    servers_only = bool(policy.providers) and all(p.startswith("mcp:") for p in policy.providers)
    return policy.enabled and not tools_only and not servers_only


class PolicyBook:
    """The enabled policies of one config that apply to model requests, by what they refuse."""

    __slots__ = ("_provider_rules", "_request_rules")

    def __init__(self, policies: Iterable[Policy]) -> None:
        compiled = [CompiledPolicy(p) for p in policies if _for_models(p)]
        self._request_rules = tuple(p for p in compiled if not p.providers)
        self._provider_rules = tuple(p for p in compiled if p.providers)

    @property
    def empty(self) -> bool:
        return not self._request_rules and not self._provider_rules

    def refusing_request(self, key: ApiKey | None, model: str) -> CompiledPolicy | None:
        """The first policy that refuses this key this model outright."""
        for policy in self._request_rules:
            if policy.applies_to(key, model):
                return policy
        return None

    def refusing_provider(self, key: ApiKey | None, model: str, provider: str) -> CompiledPolicy | None:
        """The first policy that refuses ``provider`` for this key and model."""
        for policy in self._provider_rules:
            if policy.providers.matches(provider) and policy.applies_to(key, model):
                return policy
        return None
