"""Gateway config profiles (``[[gateway_configs]]``), chosen per request by ``x-ferrogate-config``.

A request naming a profile gets it only if the profile lists its key (or lists no
keys); an unknown id is the client's mistake (400), a profile the key may not use
is 403. The chosen profile's id and revision go back in response headers and to
the account phase. Its ``cache_enabled`` can only turn caching off, never on
beyond ``[cache].enabled`` and the model's (``pipeline/cache_lookup.py``).

A profile may also change how its requests are routed, inside what the key and
the policies already allow (it narrows, never widens):

- ``routing_strategy`` replaces the model's strategy;
- ``allowed_providers`` (names or globs) drops every candidate on another
  provider, after the key's provider lists and the deny policies have had their
  say; none left is the usual 400 ``no_eligible_provider``, saying why;
- ``fallbacks_enabled = false`` keeps only the first candidate in the strategy's
  order (the primary under ``priority``): its failure is the answer, no other
  provider is tried;
- ``max_retries``, ``first_byte_timeout_secs`` and ``dispatch_timeout_secs``
  replace the ``[reliability]`` values of the same meaning
  (``provider_dispatch_max_retries``, ``provider_first_byte_timeout_secs``,
  ``provider_dispatch_timeout_secs``) for its requests.

Everything is resolved here, once per config: the phases read finished values
(a ``Timeouts`` of its own, the retry count, the deadline), and a request without
a profile pays one ``ctx.profile is None`` test where each is read.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from ferrogate._fastpath.head import header_block
from ferrogate._fastpath.upstream import Timeouts
from ferrogate.config.model import ApiKey, GatewayProfile, Reliability
from ferrogate.errors import GatewayError, bad_request
from ferrogate.governance.access import NameMatcher

HEADER = b"x-ferrogate-config"
_SHOWN_ID_CHARS = 64
_DEFAULT_RELIABILITY = Reliability()
_ESTIMATING_STRATEGIES = frozenset(("lowest_cost", "balanced"))
_T = TypeVar("_T")


class CompiledProfile:
    __slots__ = (
        "allowed_providers",
        "block",
        "cache_enabled",
        "dispatch_timeout_secs",
        "headers",
        "id",
        "key_ids",
        "max_retries",
        "primary_only",
        "revision",
        "routes",
        "strategy",
        "timeouts",
        "uses_estimate",
    )

    def __init__(self, profile: GatewayProfile, reliability: Reliability = _DEFAULT_RELIABILITY) -> None:
        self.id = profile.id
        self.cache_enabled = profile.cache_enabled  # False turns the cache off; it never turns it on
        self.revision = profile.revision
        self.key_ids = frozenset(profile.api_key_ids)
        # Header pairs (for error answers) and their block (for 2xx answers), built once.
        self.headers = (
            (HEADER, profile.id.encode()),
            (b"x-ferrogate-config-revision", b"%d" % profile.revision),
        )
        self.block = header_block(self.headers)
        # Routing (read by select): None keeps the model's own strategy.
        self.strategy = profile.routing_strategy
        self.uses_estimate = self.strategy in _ESTIMATING_STRATEGIES
        self.primary_only = not profile.fallbacks_enabled
        self.allowed_providers = NameMatcher(list(profile.allowed_providers))
        # Whether select has anything to change: a profile that only limits keys or
        # caching leaves the candidates exactly as they would be without it.
        self.routes = self.strategy is not None or self.primary_only or bool(self.allowed_providers)
        # Dispatch (read by dispatch): [reliability] with this profile's overrides, resolved.
        self.max_retries = _or(profile.max_retries, reliability.provider_dispatch_max_retries)
        self.dispatch_timeout_secs = _or(profile.dispatch_timeout_secs, reliability.provider_dispatch_timeout_secs)
        self.timeouts = Timeouts(
            connect=reliability.provider_connect_timeout_secs,
            first_byte=_or(profile.first_byte_timeout_secs, reliability.provider_first_byte_timeout_secs),
            total=self.dispatch_timeout_secs,
            idle=reliability.provider_stream_idle_timeout_secs,
        )

    def allows_provider(self, provider: str) -> bool:
        """Whether the profile leaves candidates on ``provider`` in (no list: all)."""
        return not self.allowed_providers or self.allowed_providers.matches(provider)


def _or(value: _T | None, default: _T) -> _T:
    return default if value is None else value


class ProfileBook:
    __slots__ = ("_by_id",)

    def __init__(self, profiles: Iterable[GatewayProfile], reliability: Reliability = _DEFAULT_RELIABILITY) -> None:
        self._by_id = {p.id: CompiledProfile(p, reliability) for p in profiles}

    @property
    def empty(self) -> bool:
        return not self._by_id

    def choose(self, requested: bytes, key: ApiKey | None) -> CompiledProfile:
        """The profile a request names, if its key may use it; 400 / 403 otherwise."""
        name = requested.decode(errors="replace").strip()
        profile = self._by_id.get(name)
        if profile is None:
            shown = name if len(name) <= _SHOWN_ID_CHARS else name[:_SHOWN_ID_CHARS] + "..."
            raise bad_request(f"unknown gateway config {shown!r} (x-ferrogate-config)", code="unknown_gateway_config")
        if profile.key_ids and (key is None or key.id not in profile.key_ids):
            who = f"API key {key.id!r}" if key is not None else "a request without an API key"
            raise GatewayError(
                403, f"{who} may not use gateway config {profile.id!r}", code="gateway_config_not_allowed"
            )
        return profile
