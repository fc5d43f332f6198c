"""Phase: may this key use the model it asked for?

Runs after parse (it needs the model) and before select, so a refused request
reaches no provider: first the gateway config profile the request names
(``x-ferrogate-config``: unknown 400, not for this key 403), then the key's own model lists and the model's tenants, then the deny policies
that refuse the request outright (``ferrogate.governance.policies``). The key's
provider lists and the policies that refuse providers apply per candidate in
select.
"""

from __future__ import annotations

from ferrogate.governance.access import check_model_access, check_tenant_access
from ferrogate.governance.profiles import HEADER as PROFILE_HEADER
from ferrogate.pipeline.context import RequestContext
from ferrogate.pipeline.runtime import AiRuntime


def govern(rt: AiRuntime, ctx: RequestContext) -> None:
    if rt.governed:
        _govern_with_rules(rt, ctx)
        return None
    # No profile, tenant-limited model or policy in the config: only the key's own lists.
    key = ctx.api_key
    if key is not None and (key.allowed_models or key.denied_models):
        model = ctx.model
        assert model is not None
        check_model_access(key, model)
    return None


def _govern_with_rules(rt: AiRuntime, ctx: RequestContext) -> None:
    key = ctx.api_key
    model = ctx.model
    assert model is not None
    profiles = rt.profiles
    if profiles is not None:
        requested = ctx.exchange.request.header(PROFILE_HEADER)
        if requested is not None:
            ctx.profile = profiles.choose(requested, key)
    if key is not None and (key.allowed_models or key.denied_models):
        check_model_access(key, model)
    tenants = rt.registry.tenants_by_model.get(model)
    if tenants is not None:
        check_tenant_access(key, model, tenants)
    policies = rt.policies
    if policies is not None:
        refusing = policies.refusing_request(key, model)
        if refusing is not None:
            raise refusing.error()
