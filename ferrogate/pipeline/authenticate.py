"""Phase: who is calling, and does their key hold this endpoint's scope?

The token comes from ``Authorization: Bearer`` (``x-api-key`` only without one);
the key checks themselves are :mod:`ferrogate.governance.authenticator`, shared
with the admin API.
"""

from __future__ import annotations

from ferrogate.governance.authenticator import bearer_token
from ferrogate.pipeline.context import RequestContext
from ferrogate.pipeline.runtime import AiRuntime


def authenticate(rt: AiRuntime, ctx: RequestContext) -> None:
    auth = rt.auth
    if not auth.enabled:
        return None
    request = ctx.exchange.request
    token = bearer_token(request.header(b"authorization"))
    if token is None:
        api_key = request.header(b"x-api-key")  # looked up only without a bearer token
        token = api_key.strip() if api_key else None
    verified = auth.verify(token, ctx.scope)
    ctx.api_key = verified.key
    ctx.exchange.log_key_id = verified.id
    return None
