"""Virtual API keys: the stored form and the per-request lookup.

Why a keyed hash (HMAC-SHA256) and not bcrypt/argon2:

* Virtual keys are generated secrets with >= 128 bits of entropy, not
  human-chosen passwords. A slow KDF exists to make *guessing low-entropy input*
  expensive; against a random 128-bit key, brute force is already infeasible, so
  the slowness buys nothing.
* Every request must be authenticated. A KDF tuned to ~50 ms would cost more
  than the whole gateway's per-request budget and would be an easy CPU
  exhaustion target for anyone sending random keys.
* A salted KDF cannot be indexed: you need the key's id (and salt) before you can
  hash, so the client would have to send an id too, or the gateway would try
  every stored key. HMAC with one fixed secret is deterministic, so the stored
  form is a dictionary key and lookup is one hash plus one dict probe (~1 µs).
* The HMAC secret (``FERROGATE_KEY_HASH_SECRET``, or a built-in domain-separation
  constant) means a leaked table of stored hashes cannot even be checked against
  candidate keys without also knowing that secret.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sys
from collections.abc import Iterable, Mapping

from ferrogate.config.key_hash import PREFIX, SECRET_ENV, hash_key, hash_secret
from ferrogate.config.model import ApiKey

__all__ = ["PREFIX", "SECRET_ENV", "KeyIndex", "hash_key", "hash_key_command", "read_secret"]



def read_secret() -> str:
    """The secret from stdin when piped, else from a prompt that does not echo it."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    return getpass.getpass("virtual key to hash: ")


def hash_key_command(secret: str) -> int:
    """``ferrogate hash-key``: print the stored form (never the secret)."""
    if not secret:
        print("error: the secret must not be empty", file=sys.stderr)
        return 1
    if not os.environ.get(SECRET_ENV):
        print(
            f"warning: {SECRET_ENV} is unset, so the built-in HMAC key is used: anyone holding the"
            f" stored hashes can test guesses against them; set {SECRET_ENV} (the same value for"
            " `hash-key` and the gateway)",
            file=sys.stderr,
        )
    print(hash_key(secret))
    return 0


class KeyIndex:
    """Stored hash -> :class:`ApiKey`, built once per config; one dict probe per request.

    Keys configured with a plaintext ``key`` (development) are hashed at build time,
    so the per-request path never compares plaintext secrets.
    """

    __slots__ = ("_by_hash", "_secret")

    def __init__(self, by_hash: dict[str, ApiKey], secret: bytes) -> None:
        self._by_hash = by_hash
        self._secret = secret

    @classmethod
    def from_config(cls, api_keys: Iterable[ApiKey], *, env: Mapping[str, str] | None = None) -> KeyIndex:
        by_hash: dict[str, ApiKey] = {}
        environ = os.environ if env is None else env
        for key in api_keys:
            secret = key.key or (environ.get(key.key_env) if key.key_env else None)
            if key.key_hash is not None:
                by_hash[key.key_hash] = key
            elif secret:
                by_hash[hash_key(secret, env=env)] = key
        return cls(by_hash, hash_secret(env))

    def lookup(self, presented: str) -> ApiKey | None:
        """The ApiKey whose secret is ``presented``, or None (disabled/expired is the caller's job)."""
        if not presented:
            return None
        digest = PREFIX + hmac.new(self._secret, presented.encode(), hashlib.sha256).hexdigest()
        found = self._by_hash.get(digest)
        if found is None:
            return None
        # The dict probe already matched the full digest; compare once more in constant
        # time so the final decision never depends on a short-circuiting comparison.
        stored = found.key_hash if found.key_hash is not None else digest
        return found if hmac.compare_digest(stored, digest) else None

    def __len__(self) -> int:
        return len(self._by_hash)

    def __contains__(self, presented: object) -> bool:
        return isinstance(presented, str) and self.lookup(presented) is not None
