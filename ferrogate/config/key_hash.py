"""The stored form of a virtual key (``key_hash = "hmac-sha256:<64 hex>"``).

Part of the configuration's vocabulary: ``validate`` compares stored forms, and
``ferrogate.governance.keys`` looks keys up by them. Why a keyed hash rather than
a slow KDF is explained there.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping

PREFIX = "hmac-sha256:"
_DEFAULT_SECRET = b"ferrogate/virtual-key/v1"
SECRET_ENV = "FERROGATE_KEY_HASH_SECRET"


def hash_secret(env: Mapping[str, str] | None) -> bytes:
    """The HMAC key: FERROGATE_KEY_HASH_SECRET, else the built-in constant."""
    value = (os.environ if env is None else env).get(SECRET_ENV)
    return value.encode() if value else _DEFAULT_SECRET


def hash_key(secret: str, *, env: Mapping[str, str] | None = None) -> str:
    """Stored form of a virtual key: ``hmac-sha256:<64 hex>``."""
    digest = hmac.new(hash_secret(env), secret.encode(), hashlib.sha256).hexdigest()
    return PREFIX + digest
