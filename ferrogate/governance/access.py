"""Allow and deny lists of a key (models, providers): exact names or glob patterns.

``denied_models = ["exp*"]`` must deny ``expensive``: entries with ``*``, ``?`` or
``[`` are shell-style patterns (``fnmatch``, case-sensitive), the rest exact names.
A deny entry wins over an allow entry; an empty allow list allows everything.
``fnmatch`` caches each compiled pattern, so no request compiles one.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from ferrogate.config.model import ApiKey
from ferrogate.config.patterns import is_pattern
from ferrogate.errors import GatewayError


def matches_any(name: str, entries: list[str]) -> bool:
    return any(entry == name or (is_pattern(entry) and fnmatchcase(name, entry)) for entry in entries)


class NameMatcher:
    """A list of names and globs compiled once: a set probe, then only the globs are tried."""

    __slots__ = ("exact", "patterns")

    def __init__(self, entries: list[str]) -> None:
        self.exact = frozenset(e for e in entries if not is_pattern(e))
        self.patterns = tuple(e for e in entries if is_pattern(e))

    def __bool__(self) -> bool:
        return bool(self.exact) or bool(self.patterns)

    def matches(self, name: str) -> bool:
        return name in self.exact or any(fnmatchcase(name, pattern) for pattern in self.patterns)


def listed_allows(name: str, allowed: list[str], denied: list[str]) -> bool:
    """Whether ``name`` passes a deny list and (if not empty) an allow list."""
    if denied and matches_any(name, denied):
        return False
    return not allowed or matches_any(name, allowed)


def model_allowed(key: ApiKey | None, model: str) -> bool:
    """The one check of a key's model lists (auth, listing, lookup all use it)."""
    return key is None or listed_allows(model, key.allowed_models, key.denied_models)


def provider_allowed(key: ApiKey | None, provider: str) -> bool:
    return key is None or listed_allows(provider, key.allowed_providers, key.denied_providers)


def tenant_allowed(key: ApiKey | None, tenants: frozenset[str]) -> bool:
    """Whether a model limited to ``tenants`` is open to the key (its tenant is one of them)."""
    return key is not None and key.tenant is not None and key.tenant in tenants


def check_tenant_access(key: ApiKey | None, model: str, tenants: frozenset[str]) -> None:
    """403 when the model is limited to tenants the key does not belong to."""
    if not tenant_allowed(key, tenants):
        who = f"API key {key.id!r}" if key is not None else "a request without an API key"
        raise GatewayError(
            403, f"{who} may not use model {model!r}: it is limited to other tenants", code="model_not_allowed", param="model"
        )


def check_model_access(key: ApiKey | None, model: str) -> None:
    """403 when the key may not use the logical model (before any provider is asked)."""
    if not model_allowed(key, model):
        assert key is not None
        raise GatewayError(
            403, f"API key {key.id!r} may not use model {model!r}", code="model_not_allowed", param="model"
        )


def visible_models(key: ApiKey | None, model_ids: list[str]) -> list[str]:
    """The models a key may see in ``/v1/models`` (all of them without lists)."""
    if key is None or not (key.allowed_models or key.denied_models):
        return model_ids
    return [m for m in model_ids if model_allowed(key, m)]
