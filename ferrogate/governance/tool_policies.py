"""Deny policies for MCP tools: which keys may not list or run which tools.

A policy applies to a tool call when each selector it sets matches: ``api_key_ids``
the caller's key, ``tenants`` the key's tenant, ``models`` an ``mcp_tool:<server>-<tool>``
entry (exact or glob) naming the tool, ``providers`` an ``mcp:<server>`` entry naming
its server. A policy whose models (or providers) name only models (or LLM providers)
is about model requests and never matches a tool; one with neither models nor
providers (keys or tenants only) refuses its keys every tool as it refuses every
model. Enabled policies are checked in config order; the first that matches decides.
"""

from __future__ import annotations

from collections.abc import Iterable

from ferrogate.config.model import ApiKey, Policy
from ferrogate.errors import GatewayError
from ferrogate.governance.access import NameMatcher

TOOL_PREFIX = "mcp_tool:"
SERVER_PREFIX = "mcp:"


class ToolPolicy:
    __slots__ = ("key_ids", "message", "name", "servers", "tenants", "tools")

    def __init__(self, policy: Policy) -> None:
        self.name = policy.name
        self.message = policy.message or "this tool is denied by policy"
        self.key_ids = frozenset(policy.api_key_ids)
        self.tenants = frozenset(policy.tenants)
        self.tools = NameMatcher([m[len(TOOL_PREFIX):] for m in policy.models if m.startswith(TOOL_PREFIX)])
        self.servers = NameMatcher([p[len(SERVER_PREFIX):] for p in policy.providers if p.startswith(SERVER_PREFIX)])

    def applies_to(self, key: ApiKey | None, server: str, tool: str) -> bool:
        if self.key_ids and (key is None or key.id not in self.key_ids):
            return False
        if self.tenants and (key is None or key.tenant not in self.tenants):
            return False
        if self.tools and not self.tools.matches(tool):
            return False
        return not self.servers or self.servers.matches(server)

    def error(self) -> GatewayError:
        return GatewayError(403, f"{self.message} (policy '{self.name}')", code="policy_denied")


def _for_tools(policy: Policy) -> bool:
    """Whether the policy can match a tool: its models and providers selectors, when set,
    must name MCP tools and servers."""
    if not policy.enabled:
        return False
    if policy.models and not any(m.startswith(TOOL_PREFIX) for m in policy.models):
        return False
    return not (policy.providers and not any(p.startswith(SERVER_PREFIX) for p in policy.providers))


class ToolPolicyBook:
    __slots__ = ("_rules",)

    def __init__(self, policies: Iterable[Policy]) -> None:
        self._rules = tuple(ToolPolicy(p) for p in policies if _for_tools(p))

    def refusing(self, key: ApiKey | None, server: str, tool: str) -> ToolPolicy | None:
        """The first policy that refuses this key the tool ``tool`` (namespaced: ``server-x``)."""
        for policy in self._rules:
            if policy.applies_to(key, server, tool):
                return policy
        return None
