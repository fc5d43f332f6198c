"""Gateway config profiles (``[[gateway_configs]]``), chosen per request by ``x-ferrogate-config``.

A request naming a profile gets it only if the profile lists its key (or lists no
keys); an unknown id is the client's mistake (400), a profile the key may not use
is 403. The chosen profile's id and revision go back in response headers and to
the account phase. Its ``cache_enabled`` can only turn caching off, never on
beyond ``[cache].enabled``; with no response cache built yet, nothing is cached
either way.
"""

from __future__ import annotations

from collections.abc import Iterable

from ferrogate._fastpath.head import header_block
from ferrogate.config.model import ApiKey, GatewayProfile
from ferrogate.errors import GatewayError, bad_request

HEADER = b"x-ferrogate-config"
_SHOWN_ID_CHARS = 64


class CompiledProfile:
    __slots__ = ("block", "headers", "id", "key_ids", "revision")

    def __init__(self, profile: GatewayProfile) -> None:
        self.id = profile.id
        self.revision = profile.revision
        self.key_ids = frozenset(profile.api_key_ids)
        # Header pairs (for error answers) and their block (for 2xx answers), built once.
        self.headers = (
            (HEADER, profile.id.encode()),
            (b"x-ferrogate-config-revision", b"%d" % profile.revision),
        )
        self.block = header_block(self.headers)


class ProfileBook:
    __slots__ = ("_by_id",)

    def __init__(self, profiles: Iterable[GatewayProfile]) -> None:
        self._by_id = {p.id: CompiledProfile(p) for p in profiles}

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
