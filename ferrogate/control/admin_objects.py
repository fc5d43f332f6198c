"""Admin API: ``/admin/v1/api-keys``, ``/tenants``, ``/policies``, ``/gateway-configs`` (list,
create, show, update, delete; ``api-keys/{id}/rotate``) and ``/admin/v1/audit-events``.

A key's secret is in exactly one answer: the one that made it (create, rotate).
Reads show neither the secret nor its hash. Objects from the config file are listed
with ``source: config`` and refuse writes (409 naming the file and line: change
them there). Writes may send ``If-Match: "<revision>"`` (the ``ETag`` of a read);
an object changed since gets 412 instead of a silent overwrite. A policy's id is its
``name``; the others' is ``id``.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import sqlite3
from typing import Any
from urllib.parse import parse_qs

import msgspec

from ferrogate.config.load import load
from ferrogate.config.model import Config
from ferrogate.control.admin_access import header_value, require_json
from ferrogate.control.object_manager import (
    API_KEY,
    ID_PATTERN,
    KINDS,
    Entry,
    InvalidObject,
    Kind,
    ObjectManager,
    public_fields,
)
from ferrogate.errors import GatewayError
from ferrogate.store.admin_objects import RevisionConflict

Headers = list[tuple[bytes, bytes]]
AdminResponse = tuple[int, Headers, bytes]

ROOT = "/admin/v1/"
AUDIT_PATH = "/admin/v1/audit-events"
_JSON: Headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
_encode = msgspec.json.Encoder().encode
_BY_SEGMENT = {kind.segment: kind for kind in KINDS}
_ID = re.compile(ID_PATTERN)


class ObjectsApi:
    """The object routes over an :class:`ObjectManager`."""

    __slots__ = ("manager",)

    def __init__(self, manager: ObjectManager) -> None:
        self.manager = manager

    def owns(self, path: str) -> bool:
        if path == AUDIT_PATH:
            return True
        if not path.startswith(ROOT):
            return False
        return path[len(ROOT) :].split("/", 1)[0] in _BY_SEGMENT

    async def handle(self, method: str, path: str, query: bytes, headers: Headers, body: bytes, actor: str) -> AdminResponse:
        if path == AUDIT_PATH:
            _allow(method, ("GET",), path, headers)
            return await self._audit(query)
        segment, _, rest = path[len(ROOT) :].partition("/")
        kind = _BY_SEGMENT[segment]
        parts = rest.split("/") if rest else []
        forwarded_for = header_value(headers, b"x-forwarded-for")
        remote = forwarded_for.decode("latin-1") if forwarded_for is not None else None
        if not parts:
            _allow(method, ("GET", "POST"), path, headers)
            return self._list(kind, query) if method in ("GET", "HEAD") else await self._create(kind, body, actor, remote)
        key = parts[0]
        if kind is API_KEY and len(parts) == 2 and parts[1] == "rotate":
            _allow(method, ("POST",), path, headers)
            await self._writable(kind, key)
            grace = _object(body).get("grace_secs", 0)
            if not isinstance(grace, int | float) or isinstance(grace, bool) or not 0 <= grace <= 30 * 86400:
                raise GatewayError(400, "grace_secs must be a number of seconds from 0 to 2592000", code="invalid_request", param="grace_secs")
            entry, secret = await self._guarded(kind, self.manager.rotate(key, _if_match(headers), float(grace), actor, remote))
            return _answer(200, {"key": _view(kind, entry), "secret": secret}, entry.revision)
        if len(parts) != 1:
            raise GatewayError(404, f"no admin endpoint at {path}", code="not_found")
        _allow(method, ("GET", "PUT", "PATCH", "DELETE"), path, headers)
        if method in ("GET", "HEAD"):
            return self._show(kind, key)
        await self._writable(kind, key)
        if method == "DELETE":
            await self._guarded(kind, self.manager.delete(kind, key, _if_match(headers), actor, remote))
            return 204, [(b"cache-control", b"no-store")], b""
        updated = _updated(kind, self.manager.objects[kind.name][key].value, body)
        entry = await self._guarded(kind, self.manager.update(kind, updated, _if_match(headers), actor, remote))
        return _answer(200, _view(kind, entry), entry.revision)

    # -- reads

    def _list(self, kind: Kind, query: bytes) -> AdminResponse:
        params = _params(query)
        limit = _limit(params, self.manager.config)
        after = _cursor(params.get("cursor"))
        views = [_config_view(kind, v) for v in getattr(self.manager.config, kind.config_list)]
        views += [_view(kind, e) for e in self.manager.objects[kind.name].values()]
        for name in ("tenant", "source"):
            wanted = params.get(name)
            if wanted is not None:
                views = [v for v in views if v.get(name) == wanted]
        field = kind.id_field
        views.sort(key=lambda v: str(v[field]))
        page = [v for v in views if after is None or str(v[field]) > after][:limit]
        more = len(page) == limit and any(str(v[field]) > str(page[-1][field]) for v in views)
        next_cursor = _make_cursor(str(page[-1][field])) if more else None
        return 200, list(_JSON), _encode({"object": "list", "data": page, "next_cursor": next_cursor})

    def _show(self, kind: Kind, key: str) -> AdminResponse:
        entry = self.manager.objects[kind.name].get(key)
        if entry is not None:
            return _answer(200, _view(kind, entry), entry.revision)
        value = self.manager.config_object(kind, key)
        if value is None:
            raise GatewayError(404, f"no {_label(kind)} {key!r}", code="not_found")
        return 200, list(_JSON), _encode(_config_view(kind, value))

    async def _audit(self, query: bytes) -> AdminResponse:
        params = _params(query)
        limit = _limit(params, self.manager.config)
        raw_cursor = params.get("cursor")
        after = 0 if raw_cursor is None else _int(raw_cursor, "cursor")
        events = await self.manager.audit_events(after, limit)
        next_cursor = str(events[-1].seq) if len(events) == limit else None
        return 200, list(_JSON), _encode({"object": "list", "data": events, "next_cursor": next_cursor})

    # -- writes

    async def _create(self, kind: Kind, body: bytes, actor: str, remote: str | None) -> AdminResponse:
        fields = _object(body)
        for name in kind.secret_fields:
            if name in fields:
                raise GatewayError(400, f"do not send '{name}': the gateway makes the secret and shows it once", code="invalid_request", param=name)
        if kind.id_field == "id":
            fields.setdefault("id", kind.name.split("_")[-1] + "_" + base64.b32encode(os.urandom(10)).decode().lower())
        value = _convert(kind, fields)
        key = str(getattr(value, kind.id_field))
        if not _ID.fullmatch(key):
            raise GatewayError(
                400, f"'{kind.id_field}' must match {ID_PATTERN} (letters, digits and . _ : @ -)",
                code="invalid_request", param=kind.id_field,
            )
        if key in self.manager.objects[kind.name] or self.manager.config_object(kind, key) is not None:
            raise GatewayError(409, f"a {_label(kind)} {key!r} exists already", code="conflict", param=kind.id_field)
        try:
            entry, secret = await self.manager.create(kind, value, actor, remote)
        except InvalidObject as exc:
            raise GatewayError(400, str(exc), code="invalid_request") from None
        except sqlite3.IntegrityError:
            raise GatewayError(409, f"a {_label(kind)} {key!r} exists already", code="conflict", param=kind.id_field) from None
        view = _view(kind, entry)
        return _answer(201, {"key": view, "secret": secret} if kind is API_KEY else view, entry.revision)

    async def _writable(self, kind: Kind, key: str) -> None:
        if key in self.manager.objects[kind.name]:
            return
        if self.manager.config_object(kind, key) is None:
            raise GatewayError(404, f"no {_label(kind)} {key!r}", code="not_found")
        where = await asyncio.to_thread(self._where, kind, key)
        raise GatewayError(
            409, f"{_label(kind)} {key!r} comes from the config file ({where}): change it there", code="config_owned"
        )

    def _where(self, kind: Kind, key: str) -> str:
        """``file:line`` of a config object (the file as it is now; its name alone if it no longer loads)."""
        try:
            loaded = load(self.manager.config_path, env=self.manager.env)
        except Exception:
            return str(self.manager.config_path)
        for i, value in enumerate(getattr(loaded.config, kind.config_list)):
            if str(getattr(value, kind.id_field)) == key:
                pos = loaded.source_map.position((kind.config_list, i))
                return f"{pos.file}:{pos.line}"
        return str(self.manager.config_path)

    async def _guarded(self, kind: Kind, job: Any) -> Any:
        try:
            return await job
        except RevisionConflict as exc:
            raise GatewayError(
                412, f"the {_label(kind)} changed since the revision you read (it is at {exc.current}): read it again",
                code="revision_mismatch",
            ) from None
        except InvalidObject as exc:
            raise GatewayError(400, str(exc), code="invalid_request") from None
        except KeyError as exc:
            raise GatewayError(404, f"no {_label(kind)} {exc.args[0]!r}", code="not_found") from None


def _label(kind: Kind) -> str:
    return {"api_key": "API key", "gateway_config": "gateway config"}.get(kind.name, kind.name)


def _view(kind: Kind, entry: Entry) -> dict[str, object]:
    out = public_fields(kind, entry.value)
    out.update(source="api", revision=entry.revision, created_at=entry.created_at, updated_at=entry.updated_at)
    return out


def _config_view(kind: Kind, value: Any) -> dict[str, object]:
    out = public_fields(kind, value)
    out.update(source="config", revision=out.get("revision") if kind.name == "gateway_config" else None)
    return out


def _updated(kind: Kind, old: Any, body: bytes) -> Any:
    """``old`` with the fields the body sends (a partial update; the id and secrets stay)."""
    fields = _object(body)
    for name in (*kind.secret_fields, kind.id_field, "revision"):
        if name in fields:
            raise GatewayError(400, f"'{name}' cannot be changed here", code="invalid_request", param=name)
    merged = msgspec.to_builtins(old)
    merged.update(fields)
    return _convert(kind, merged)


def _convert(kind: Kind, fields: dict[str, Any]) -> Any:
    try:
        return msgspec.convert(fields, kind.struct, str_keys=True)
    except msgspec.ValidationError as exc:
        raise GatewayError(400, f"invalid {_label(kind)}: {exc}", code="invalid_request") from None


def _object(body: bytes) -> dict[str, Any]:
    try:
        value = msgspec.json.decode(body or b"{}")
    except msgspec.DecodeError as exc:
        raise GatewayError(400, f"the body is not JSON: {exc}", code="invalid_request") from None
    except RecursionError:  # msgspec gives up on very deep nesting this way, not as a DecodeError
        raise GatewayError(400, "the body is nested too deeply", code="invalid_request") from None
    if not isinstance(value, dict):
        raise GatewayError(400, "the body must be a JSON object", code="invalid_request")
    return value


def _answer(status: int, view: object, revision: int) -> AdminResponse:
    return status, [*_JSON, (b"etag", b'"%d"' % revision)], _encode(view)


def _if_match(headers: Headers) -> int | None:
    value = header_value(headers, b"if-match")
    if value is None or value == b"*":
        return None
    raw = value.decode("latin-1")
    text = raw.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise GatewayError(400, "If-Match must be a revision from an ETag, like \"3\"", code="invalid_request")
    return int(text)


def _allow(method: str, methods: tuple[str, ...], path: str, headers: Headers) -> None:
    """405 for a method this path does not serve, then 415 for a write without JSON."""
    if method == "HEAD" and "GET" in methods:
        return
    if method not in methods:
        raise GatewayError(
            405, f"{method} is not allowed on {path}", code="method_not_allowed",
            headers=((b"allow", ", ".join(methods).encode()),),
        )
    require_json(method, headers)


def _params(query: bytes) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(query.decode("latin-1"), keep_blank_values=True).items()}


def _limit(params: dict[str, str], config: Config) -> int:
    """The page size asked for, at most ``storage.admin_list_max_limit`` (larger asks get that)."""
    storage = config.storage
    raw = params.get("limit")
    if raw is None:
        return storage.admin_list_default_limit
    limit = _int(raw, "limit")
    if limit < 1:
        raise GatewayError(400, "limit must be at least 1", code="invalid_request", param="limit")
    return min(limit, storage.admin_list_max_limit)


def _int(raw: str, name: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise GatewayError(400, f"{name} must be a whole number", code="invalid_request", param=name)
    return int(raw)


def _make_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def _cursor(raw: str | None) -> str | None:
    """Where the page starts: after the id a ``next_cursor`` names. A cursor that is not one of
    ours is read as an id itself, which only moves the page (it names nothing secret)."""
    if raw is None or raw == "":
        return None
    try:
        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return raw
