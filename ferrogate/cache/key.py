"""Cache keys: who asked, where, for which model and target, and the body in canonical form.

The tenant is part of the key so one tenant's answers never reach another; the
provider and provider model of the first candidate are, so a routing change is a new
entry. Bodies that differ only in key order or whitespace are one entry.
"""

from __future__ import annotations

import hashlib
from typing import Final

import orjson

try:
    from ferrogate.cache._canonical_json import canonical
except ImportError:  # not built: every body takes orjson's round trip
    canonical = None  # type: ignore[assignment]

_SEP: Final = b"\x1f"
_MAX_IDENTITIES: Final = 4096
Identity = tuple[str | None, str, str, str, str]  # tenant, endpoint, model, provider, provider_model


def canonical_body(body: bytes) -> bytes:
    """``body`` re-encoded with sorted keys and no whitespace. The parse phase left the fields it
    does not read unchecked, so a body that is not UTF-8 JSON throughout (or nests deeper than
    orjson writes) is keyed by its bytes."""
    try:
        return orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):  # dumps refuses what loads took past 254 levels
        return body


def fast_canonical_body(body: bytes) -> bytes:
    """:func:`canonical_body`, the same bytes: in one C pass (``_canonical_json.c``, no Python
    objects built) when the body has nothing it cannot prove orjson would print the same
    way (an exponent, an escaped key ...), else by orjson's round trip."""
    if canonical is not None:
        out = canonical(body)
        if out is not None:
            return out
    return canonical_body(body)


def _identity(tenant: str | None, endpoint: str, model: str, provider: str, provider_model: str) -> bytes:
    return _SEP.join((
        (tenant or "").encode(), endpoint.encode(), model.encode(), provider.encode(), provider_model.encode()
    ))


def cache_key(tenant: str | None, endpoint: str, model: str, provider: str, provider_model: str, body: bytes) -> bytes:
    who = _identity(tenant, endpoint, model, provider, provider_model)
    return hashlib.blake2b(who + _SEP + canonical_body(body), digest_size=16).digest()


class CacheKeys:
    """:func:`cache_key`, the same bytes, for less CPU: the body is made canonical in C when it
    can be (:func:`fast_canonical_body`), and the hash of each identity's part (tenant ..
    provider model) is kept and copied for each body, instead of encoding, joining and hashing
    it again.
    Identities are few (keys' tenants x models x endpoints); past ``_MAX_IDENTITIES`` the kept
    states are dropped and made again."""

    __slots__ = ("_states",)

    def __init__(self) -> None:
        self._states: dict[Identity, hashlib.blake2b] = {}

    def key(
        self, tenant: str | None, endpoint: str, model: str, provider: str, provider_model: str, body: bytes
    ) -> bytes:
        states = self._states
        identity = (tenant, endpoint, model, provider, provider_model)
        state = states.get(identity)
        if state is None:
            if len(states) >= _MAX_IDENTITIES:
                states.clear()
            who = _identity(tenant, endpoint, model, provider, provider_model)
            state = states[identity] = hashlib.blake2b(who + _SEP, digest_size=16)
        running = state.copy()
        running.update(fast_canonical_body(body))
        return running.digest()
