"""Phase: may this key use the model it asked for?

Runs after parse (it needs the model) and before select, so a refused model
reaches no provider. The key's provider lists are applied per candidate in
select.
"""

from __future__ import annotations

from ferrogate.governance.access import check_model_access
from ferrogate.pipeline.context import RequestContext
from ferrogate.pipeline.runtime import AiRuntime


def govern(rt: AiRuntime, ctx: RequestContext) -> None:
    key = ctx.api_key
    if key is not None and (key.allowed_models or key.denied_models) and ctx.model is not None:
        check_model_access(key, ctx.model)
    return None
