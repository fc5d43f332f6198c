"""Admin API: ``/admin/v1/api-keys`` (list, create, show, update, rotate, revoke) and
``/admin/v1/audit-events``.

A key's secret is in exactly one answer: the one that made it (create, rotate).
Reads show neither the secret nor its hash. Keys from the config file are listed
with ``source: config`` and refuse writes (409 naming the file and line: change
them there). Writes may send ``If-Match: "<revision>"`` (the ``ETag`` of a read);
a key changed since gets 412 instead of a silent overwrite.
"""

from __future__ import annotations

import asyncio
import base64
import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import msgspec

from ferrogate.config.load import load
from ferrogate.config.model import ApiKey, Config
from ferrogate.control.key_manager import InvalidKey, KeyManager
from ferrogate.errors import GatewayError
from ferrogate.store.api_keys import RevisionConflict, StoredKey

Headers = list[tuple[bytes, bytes]]
AdminResponse = tuple[int, Headers, bytes]

PREFIX = "/admin/v1/api-keys"
AUDIT_PATH = "/admin/v1/audit-events"
_SECRET_FIELDS = ("key", "key_env", "key_hash")
_JSON: Headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
_encode = msgspec.json.Encoder(decimal_format="string").encode


class KeysApi:
    """The key routes over a :class:`KeyManager`."""

    __slots__ = ("_config_path", "_env", "config", "manager")

    def __init__(self, manager: KeyManager, config: Config, config_path: Path, env: Mapping[str, str]) -> None:
        self.manager = manager
        self.config = config
        self._config_path = config_path
        self._env = env

    def owns(self, path: str) -> bool:
        return path in (PREFIX, AUDIT_PATH) or path.startswith(PREFIX + "/")

    async def handle(self, method: str, path: str, query: bytes, headers: Headers, body: bytes, actor: str) -> AdminResponse:
        if path == AUDIT_PATH:
            _allow(method, ("GET",), path)
            return await self._audit(query)
        rest = path[len(PREFIX) :].strip("/")
        parts = rest.split("/") if rest else []
        remote = _header(headers, b"x-forwarded-for")
        if not parts:
            _allow(method, ("GET", "POST"), path)
            return self._list(query) if method in ("GET", "HEAD") else await self._create(body, actor, remote)
        key_id = parts[0]
        if len(parts) == 2 and parts[1] == "rotate":
            _allow(method, ("POST",), path)
            await self._writable(key_id)
            stored, secret = await self._guarded(self.manager.rotate(key_id, _if_match(headers), actor, remote))
            return _answer(200, {"key": _view(stored), "secret": secret}, stored.revision)
        if len(parts) != 1:
            raise GatewayError(404, f"no admin endpoint at {path}", code="not_found")
        _allow(method, ("GET", "PUT", "PATCH", "DELETE"), path)
        if method in ("GET", "HEAD"):
            return self._show(key_id)
        await self._writable(key_id)
        if method == "DELETE":
            await self._guarded(self.manager.delete(key_id, _if_match(headers), actor, remote))
            return 204, [(b"cache-control", b"no-store")], b""
        updated = _updated(self.manager.keys[key_id].key, body)
        stored = await self._guarded(self.manager.update(updated, _if_match(headers), actor, remote))
        return _answer(200, _view(stored), stored.revision)

    # -- reads

    def _list(self, query: bytes) -> AdminResponse:
        params = _params(query)
        limit = _limit(params, self.config)
        after = _cursor(params.get("cursor"))
        views = [_config_view(k) for k in self.config.api_keys] + [_view(s) for s in self.manager.keys.values()]
        for name in ("tenant", "source"):
            wanted = params.get(name)
            if wanted is not None:
                views = [v for v in views if v.get(name) == wanted]
        views.sort(key=lambda v: str(v["id"]))
        page = [v for v in views if after is None or str(v["id"]) > after][:limit]
        more = len(page) == limit and any(str(v["id"]) > str(page[-1]["id"]) for v in views)
        next_cursor = _make_cursor(str(page[-1]["id"])) if more else None
        return 200, list(_JSON), _encode({"object": "list", "data": page, "next_cursor": next_cursor})

    def _show(self, key_id: str) -> AdminResponse:
        stored = self.manager.keys.get(key_id)
        if stored is not None:
            return _answer(200, _view(stored), stored.revision)
        key = self.manager.config_key(key_id)
        if key is None:
            raise GatewayError(404, f"no API key {key_id!r}", code="not_found")
        return 200, list(_JSON), _encode(_config_view(key))

    async def _audit(self, query: bytes) -> AdminResponse:
        params = _params(query)
        limit = _limit(params, self.config)
        after = _int(params.get("cursor") or "0", "cursor")
        events = await self.manager.audit_events(after, limit)
        next_cursor = str(events[-1].seq) if len(events) == limit else None
        return 200, list(_JSON), _encode({"object": "list", "data": events, "next_cursor": next_cursor})

    # -- writes

    async def _create(self, body: bytes, actor: str, remote: str | None) -> AdminResponse:
        fields = _object(body)
        for name in _SECRET_FIELDS:
            if name in fields:
                raise GatewayError(400, f"do not send '{name}': the gateway makes the secret and shows it once", code="invalid_request", param=name)
        fields.setdefault("id", "key_" + base64.b32encode(os.urandom(10)).decode().lower())
        key = _convert(fields)
        if key.id in self.manager.keys or self.manager.config_key(key.id) is not None:
            raise GatewayError(409, f"an API key {key.id!r} exists already", code="conflict", param="id")
        try:
            stored, secret = await self.manager.create(key, actor, remote)
        except InvalidKey as exc:
            raise GatewayError(400, str(exc), code="invalid_request") from None
        except sqlite3.IntegrityError:
            raise GatewayError(409, f"an API key {key.id!r} exists already", code="conflict", param="id") from None
        return _answer(201, {"key": _view(stored), "secret": secret}, stored.revision)

    async def _writable(self, key_id: str) -> None:
        if key_id in self.manager.keys:
            return
        if self.manager.config_key(key_id) is None:
            raise GatewayError(404, f"no API key {key_id!r}", code="not_found")
        where = await asyncio.to_thread(self._where, key_id)
        raise GatewayError(
            409, f"API key {key_id!r} comes from the config file ({where}): change it there", code="config_owned"
        )

    def _where(self, key_id: str) -> str:
        """``file:line`` of a config key (the file as it is now; its name alone if it no longer loads)."""
        try:
            loaded = load(self._config_path, env=self._env)
        except Exception:
            return str(self._config_path)
        for i, key in enumerate(loaded.config.api_keys):
            if key.id == key_id:
                pos = loaded.source_map.position(("api_keys", i))
                return f"{pos.file}:{pos.line}"
        return str(self._config_path)

    async def _guarded(self, job: Any) -> Any:
        try:
            return await job
        except RevisionConflict as exc:
            raise GatewayError(
                412, f"the key changed since revision you read (it is at {exc.current}): read it again", code="revision_mismatch"
            ) from None
        except InvalidKey as exc:
            raise GatewayError(400, str(exc), code="invalid_request") from None
        except KeyError as exc:
            raise GatewayError(404, f"no API key {exc.args[0]!r}", code="not_found") from None


def _view(stored: StoredKey) -> dict[str, object]:
    out = _public(stored.key)
    out.update(source="api", revision=stored.revision, created_at=stored.created_at, updated_at=stored.updated_at)
    return out


def _config_view(key: ApiKey) -> dict[str, object]:
    out = _public(key)
    out.update(source="config", revision=None)
    return out


def _public(key: ApiKey) -> dict[str, object]:
    fields: dict[str, object] = msgspec.to_builtins(key)
    for name in _SECRET_FIELDS:
        fields.pop(name, None)
    return fields


def _updated(old: ApiKey, body: bytes) -> ApiKey:
    """``old`` with the fields the body sends (a partial update; id and secrets stay)."""
    fields = _object(body)
    for name in (*_SECRET_FIELDS, "id"):
        if name in fields:
            raise GatewayError(400, f"'{name}' cannot be changed (rotate makes a new secret)", code="invalid_request", param=name)
    merged = msgspec.to_builtins(old)
    merged.update(fields)
    return _convert(merged)


def _convert(fields: dict[str, Any]) -> ApiKey:
    try:
        return msgspec.convert(fields, ApiKey, dec_hook=None, str_keys=True)
    except msgspec.ValidationError as exc:
        raise GatewayError(400, f"invalid API key: {exc}", code="invalid_request") from None


def _object(body: bytes) -> dict[str, Any]:
    try:
        value = msgspec.json.decode(body or b"{}")
    except msgspec.DecodeError as exc:
        raise GatewayError(400, f"the body is not JSON: {exc}", code="invalid_request") from None
    if not isinstance(value, dict):
        raise GatewayError(400, "the body must be a JSON object", code="invalid_request")
    return value


def _answer(status: int, view: object, revision: int) -> AdminResponse:
    return status, [*_JSON, (b"etag", b'"%d"' % revision)], _encode(view)


def _if_match(headers: Headers) -> int | None:
    raw = _header(headers, b"if-match")
    if raw is None or raw == "*":
        return None
    text = raw.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise GatewayError(400, "If-Match must be a revision from an ETag, like \"3\"", code="invalid_request")
    return int(text)


def _allow(method: str, methods: tuple[str, ...], path: str) -> None:
    if method == "HEAD" and "GET" in methods:
        return
    if method not in methods:
        raise GatewayError(
            405, f"{method} is not allowed on {path}", code="method_not_allowed",
            headers=((b"allow", ", ".join(methods).encode()),),
        )


def _params(query: bytes) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(query.decode("latin-1")).items()}


def _limit(params: dict[str, str], config: Config) -> int:
    storage = config.storage
    raw = params.get("limit")
    if raw is None:
        return storage.admin_list_default_limit
    limit = _int(raw, "limit")
    if not 1 <= limit <= storage.admin_list_max_limit:
        raise GatewayError(400, f"limit must be from 1 to {storage.admin_list_max_limit}", code="invalid_request", param="limit")
    return limit


def _int(raw: str, name: str) -> int:
    if not raw.isdigit():
        raise GatewayError(400, f"{name} must be a whole number", code="invalid_request", param=name)
    return int(raw)


def _make_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def _cursor(raw: str | None) -> str | None:
    if raw is None:
        return None
    try:
        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise GatewayError(400, "cursor is not one this API gave", code="invalid_request", param="cursor") from None


def _header(headers: Headers, name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None
