"""Virtual keys: which key a presented token names, and whether it may act now.

Used by the AI pipeline's authenticate phase and by the admin API (scopes
``admin.read`` / ``admin.write``), so a key behaves the same on both. Keys from
``[[api_keys]]`` are hashed once per config (one dict probe per request); with no
keys configured the data plane is open (the development default, logged loudly
at start).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Final

from ferrogate._fastpath.clock import time
from ferrogate.config.model import ApiKey
from ferrogate.errors import GatewayError
from ferrogate.governance.keys import KeyIndex


def _expiry(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


# Verified tokens remembered per Authenticator (so per config): bounded, so random
# tokens cannot grow it; only tokens that matched a key are kept.
_VERIFIED_CAP: Final = 4096


class VerifiedKey:
    """A key a presented token matched, with what every request checks of it read out once: a
    field of the key's Struct read from compiled code is a generic attribute lookup (~160
    instructions), and its scopes are a list."""

    __slots__ = ("disabled", "expiry", "id", "key", "scopes")

    def __init__(self, key: ApiKey, expiry: float | None) -> None:
        self.key = key
        self.id = key.id
        self.disabled = key.disabled
        self.expiry = expiry
        self.scopes = frozenset(key.scopes)


class Authenticator:
    __slots__ = ("_expiry", "_index", "_verified", "enabled")

    def __init__(self, api_keys: list[ApiKey], env: Mapping[str, str] | None = None) -> None:
        self.enabled = bool(api_keys)
        self._index = KeyIndex.from_config(api_keys, env=env)
        # By key object, not id: a rotated key's old secret, still in its grace period, is a
        # second copy of the key with an expiry of its own.
        self._expiry = {id(k): _expiry(k.expires_at) for k in api_keys}
        # presented token -> key: skips the HMAC on every request after a key's first one
        self._verified: dict[bytes, VerifiedKey] = {}

    def check(self, token: bytes | None, scope: str) -> ApiKey:
        """The key ``token`` names, if it is usable and holds ``scope``; 401/403 otherwise."""
        return self.verify(token, scope).key

    def verify(self, token: bytes | None, scope: str) -> VerifiedKey:
        """:meth:`check`, answering with the key's per-request facts beside it."""
        if token is None:
            raise GatewayError(
                401,
                "missing API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'",
                code="missing_api_key",
            )
        verified = self._verified.get(token)
        if verified is None:
            key = self._index.lookup(token.decode("latin-1"))
            if key is None:
                raise GatewayError(401, "invalid API key", code="invalid_api_key")
            if len(self._verified) >= _VERIFIED_CAP:
                self._verified.clear()
            verified = self._verified[token] = VerifiedKey(key, self._expiry.get(id(key)))
        if verified.disabled:
            raise GatewayError(401, f"API key {verified.id!r} is disabled", code="api_key_disabled")
        expiry = verified.expiry
        if expiry is not None and time() >= expiry:
            raise GatewayError(401, f"API key {verified.id!r} has expired", code="api_key_expired")
        if scope not in verified.scopes and "*" not in verified.scopes:
            raise GatewayError(
                403, f"API key {verified.id!r} lacks the scope {scope!r}", code="insufficient_scope"
            )
        return verified


def presented_key(auth: bytes | None, api_key: bytes | None) -> bytes | None:
    """The key a client sent: ``Authorization: Bearer <key>``, else ``x-api-key``."""
    token = bearer_token(auth)
    if token is not None:
        return token
    return api_key.strip() if api_key else None


def _is_space(c: int) -> bool:
    """What ``bytes.strip()`` strips: space, HT, LF, VT, FF, CR."""
    return c == 32 or 9 <= c <= 13


def bearer_token(auth: bytes | None) -> bytes | None:
    if auth is not None:
        end = len(auth) - 1
        if end >= 7 and auth[:7] == b"Bearer " and not _is_space(auth[7]) and not _is_space(auth[end]):
            return auth[7:]  # the usual shape, nothing to strip: no bytes method calls (400 instructions each)
        scheme, _, value = auth.partition(b" ")
        if scheme.lower() == b"bearer":
            value = value.strip()
            if value:
                return value
    return None
