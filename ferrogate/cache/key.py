"""Cache keys: who asked, where, for which model and target, and the body in canonical form.

The tenant is part of the key so one tenant's answers never reach another; the
provider and provider model of the first candidate are, so a routing change is a new
entry. Bodies that differ only in key order or whitespace are one entry.
"""

from __future__ import annotations

import hashlib

import orjson

_SEP = b"\x1f"


def canonical_body(body: bytes) -> bytes:
    """``body`` re-encoded with sorted keys and no whitespace. The parse phase left the fields it
    does not read unchecked, so a body that is not UTF-8 JSON throughout is keyed by its bytes."""
    try:
        return orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)
    except orjson.JSONDecodeError:
        return body


def cache_key(tenant: str | None, endpoint: str, model: str, provider: str, provider_model: str, body: bytes) -> bytes:
    who = _SEP.join((
        (tenant or "").encode(), endpoint.encode(), model.encode(), provider.encode(), provider_model.encode()
    ))
    return hashlib.blake2b(who + _SEP + canonical_body(body), digest_size=16).digest()
