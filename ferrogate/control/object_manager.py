"""The control process's admin objects: the store's, checked like the config's, pushed to workers.

API keys, tenants, policies and gateway configs can be made over the admin API;
they live in the store (``store.admin_objects``) next to the config file's, which
stay read-only over the API. Every change is checked by the same validation the
config file gets (the config with the API's objects and the change added), written
in one transaction with its audit event, and then sent to every worker as one
:class:`ipc.AdminObjects` snapshot, which the worker swaps in at once.

SQLite runs on one store thread (a single-thread executor), never on the event
loop; the one thread also serialises the writes.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from ferrogate import ipc
from ferrogate.config.diagnostics import SourceMap
from ferrogate.config.key_hash import hash_key
from ferrogate.config.model import ApiKey, Config, GatewayProfile, Policy, Tenant
from ferrogate.config.validate import validate_config
from ferrogate.store.admin_objects import (
    KIND_PLACES,
    KIND_TYPES,
    AuditEvent,
    ObjectStore,
    PreviousSecret,
    RevisionConflict,
    StoredObject,
)
from ferrogate.store.database import open_store, store_path

if TYPE_CHECKING:
    from ferrogate.control.shared_state import SharedState

log = logging.getLogger("ferrogate.control.objects")

SECRET_PREFIX = "sk-fg-"
ID_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"  # what an object made over the API may be named
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of admin object: its struct, where it sits in the config, its route."""

    name: str  # the store's kind and the audit events' prefix
    segment: str  # /admin/v1/<segment>
    struct: type[msgspec.Struct]
    id_field: str
    config_list: str  # the Config field holding the config file's objects of this kind
    secret_fields: tuple[str, ...] = ()  # never read in, never shown


API_KEY = Kind("api_key", "api-keys", ApiKey, "id", "api_keys", ("key", "key_env", "key_hash"))
TENANT = Kind("tenant", "tenants", Tenant, "id", "tenants")
POLICY = Kind("policy", "policies", Policy, "name", "policies")
GATEWAY_CONFIG = Kind("gateway_config", "gateway-configs", GatewayProfile, "id", "gateway_configs")
KINDS: tuple[Kind, ...] = (API_KEY, TENANT, POLICY, GATEWAY_CONFIG)
PREVIOUS = "api_key_previous"  # a rotated key's old secret in its grace period (not an API kind)
assert {k.name: k.struct for k in KINDS} | {PREVIOUS: PreviousSecret} == KIND_TYPES, "KIND_TYPES names the same kinds"
assert {k.name: (k.config_list, k.id_field) for k in KINDS} == KIND_PLACES, "KIND_PLACES agrees"


@dataclass(frozen=True, slots=True)
class Entry:
    value: Any  # the kind's struct
    revision: int
    created_at: float
    updated_at: float


def new_secret() -> str:
    """A virtual key: ``sk-fg-`` and 32 random bytes (256 bits) in URL-safe base64."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def ident(kind: Kind, value: Any) -> str:
    return str(getattr(value, kind.id_field))


class InvalidObject(Exception):
    """The object would make the config invalid; the message says why."""


class ObjectManager:
    """The API's objects of every kind, the snapshot the workers hold, and the broadcast."""

    __slots__ = (
        "_broadcast", "_executor", "_path", "_store", "config", "config_path", "env", "objects", "on_keys_change", "previous", "revision",
        "share",
    )

    def __init__(
        self,
        config: Config,
        config_path: Path,
        env: Mapping[str, str],
        broadcast: Callable[[ipc.AdminObjects], object],
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.env = env
        self._path = store_path(config, config_path)
        self._broadcast = broadcast
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ferrogate-store")
        self._store: ObjectStore | None = None
        self.objects: dict[str, dict[str, Entry]] = {kind.name: {} for kind in KINDS}
        self.previous: dict[str, PreviousSecret] = {}  # key id -> its old secret in a rotation's grace
        self.revision = 0
        self.on_keys_change: Callable[[list[ApiKey]], None] | None = None  # the admin API's own key check
        # A shared state (cluster.state_backend redis or file): every write goes there first.
        self.share: SharedState | None = None

    async def start(self) -> None:
        """Open the store and load its objects (before the first worker says hello)."""
        retention = self.config.storage.audit_event_retention_records
        self._store = await self._run(lambda: ObjectStore(open_store(self._path), retention))
        rows = await self._run(lambda: self._need().all())
        self._load(rows)
        self._changed(broadcast=False)

    def _load(self, rows: list[StoredObject]) -> None:
        self.objects = {kind.name: {} for kind in KINDS}
        self.previous = {}
        by_name = {kind.name: kind for kind in KINDS}
        for row in rows:
            if row.kind == PREVIOUS:
                self.previous[row.id] = msgspec.json.decode(row.body, type=PreviousSecret)
                continue
            kind = by_name.get(row.kind)
            if kind is None:
                log.warning("the store holds a %s object this release does not know; ignored", row.kind)
                continue
            self.objects[kind.name][row.id] = _entry(kind, row)

    # -- shared by every node (cluster.state_backend redis or file)

    def shared_rows(self) -> dict[tuple[str, str], bytes]:
        """This node's objects as the shared state holds them."""
        rows = {(kind, ident): _encode(entry.value) for kind, entries in self.objects.items() for ident, entry in entries.items()}
        rows.update({(PREVIOUS, ident): _encode(previous) for ident, previous in self.previous.items()})
        return rows

    async def apply_shared(self, shared: dict[tuple[str, str], bytes]) -> None:
        """Make this node's objects those of the shared state (what differs only)."""
        mine = self.shared_rows()
        if mine == shared:
            return

        def write() -> list[StoredObject]:
            store = self._need()
            for kind, ident in mine.keys() - shared.keys():
                store.forget(kind, ident)
            for (kind, ident), body in shared.items():
                if mine.get((kind, ident)) != body:
                    store.put(kind, ident, body)
            return store.all()

        self._load(await self._run(write))
        self._changed()

    async def _share(self, *changes: tuple[str, str, bytes | None]) -> None:
        if self.share is not None:
            await self.share.publish(list(changes))

    def snapshot(self, graced: bool = True) -> ipc.AdminObjects:
        """What workers run with; ``graced``: with the copies of rotated keys under their old
        secrets (not for validation, where they would be two keys of one id)."""
        return ipc.AdminObjects(
            revision=self.revision,
            api_keys=[*self.values(API_KEY), *(self._graced() if graced else ())],
            tenants=self.values(TENANT),
            policies=self.values(POLICY),
            gateway_configs=self.values(GATEWAY_CONFIG),
        )

    def values(self, kind: Kind) -> list[Any]:
        return [entry.value for entry in self.objects[kind.name].values()]

    def config_object(self, kind: Kind, key: str) -> Any | None:
        for value in getattr(self.config, kind.config_list):
            if ident(kind, value) == key:
                return value
        return None

    def merged(self) -> Config:
        """The config file's objects, then the API's (the config a change is validated in)."""
        return self.snapshot(graced=False).merged_into(self.config)

    async def create(self, kind: Kind, value: Any, actor: str, remote: str | None) -> tuple[Entry, str | None]:
        """Store a new object; for a key, with a fresh secret (returned: shown once)."""
        secret = None
        if kind is API_KEY:
            secret = new_secret()
            value = msgspec.structs.replace(value, key=None, key_env=None, key_hash=hash_key(secret, env=self.env))
        if kind is GATEWAY_CONFIG:
            value = msgspec.structs.replace(value, revision=1)
        key = ident(kind, value)
        self._check(kind, key, value)
        self._check_room(kind, value)
        audit = _audit(actor, remote, f"{kind.name}.create", key, public_fields(kind, value))
        body = _encode(value)
        await self._share((kind.name, key, body))
        row = await self._run(lambda: self._need().create(kind.name, key, body, audit))
        entry = _entry(kind, row)
        self.objects[kind.name][key] = entry
        self._changed()
        return entry, secret

    async def update(self, kind: Kind, value: Any, expected: int | None, actor: str, remote: str | None) -> Entry:
        key = ident(kind, value)
        old = self.objects[kind.name][key]
        if kind is API_KEY:
            value = msgspec.structs.replace(value, key=None, key_env=None, key_hash=old.value.key_hash)
        self._check(kind, key, value)
        audit = _audit(actor, remote, f"{kind.name}.update", key, _diff(kind, old.value, value))
        _expect(old, expected)
        body = _encode(value)
        await self._share((kind.name, key, body))
        row = await self._run(lambda: self._need().replace(kind.name, key, body, expected, audit))
        entry = _entry(kind, row)
        self.objects[kind.name][key] = entry
        self._changed()
        return entry

    async def rotate(
        self, key_id: str, expected: int | None, grace_secs: float, actor: str, remote: str | None
    ) -> tuple[Entry, str]:
        """A new secret for an API key; the old one keeps working ``grace_secs`` more (0: stops now)."""
        secret = new_secret()
        old = self.objects[API_KEY.name][key_id].value
        value = msgspec.structs.replace(old, key_hash=hash_key(secret, env=self.env))
        previous = PreviousSecret(key_hash=old.key_hash, until=time.time() + grace_secs) if grace_secs > 0 else None
        audit = _audit(actor, remote, "api_key.rotate", key_id, {"grace_secs": grace_secs})
        _expect(self.objects[API_KEY.name][key_id], expected)
        await self._share(
            (API_KEY.name, key_id, _encode(value)),
            (PREVIOUS, key_id, _encode(previous) if previous is not None else None),
        )

        def write() -> StoredObject:
            store = self._need()
            row = store.replace(API_KEY.name, key_id, _encode(value), expected, audit)
            store.forget(PREVIOUS, key_id)
            if previous is not None:
                store.put(PREVIOUS, key_id, _encode(previous))
            return row

        row = await self._run(write)
        entry = _entry(API_KEY, row)
        self.objects[API_KEY.name][key_id] = entry
        self.previous.pop(key_id, None)
        if previous is not None:
            self.previous[key_id] = previous
        self._changed()
        return entry, secret

    def _graced(self) -> list[ApiKey]:
        """Copies of rotated keys under their old secrets, each expiring when its grace ends."""
        now = time.time()
        out = []
        for key_id, previous in self.previous.items():
            entry = self.objects[API_KEY.name].get(key_id)
            if entry is None or previous.until <= now:
                continue
            until = datetime.fromtimestamp(previous.until, UTC).isoformat()
            current = entry.value.expires_at
            ends = until if current is None or _ends(current) > previous.until else current
            out.append(msgspec.structs.replace(entry.value, key_hash=previous.key_hash, expires_at=ends))
        return out

    async def delete(self, kind: Kind, key: str, expected: int | None, actor: str, remote: str | None) -> None:
        remaining = {k: e for k, e in self.objects[kind.name].items() if k != key}
        self._check_without(kind, remaining)
        audit = _audit(actor, remote, f"{kind.name}.delete", key, {})
        _expect(self.objects[kind.name][key], expected)
        await self._share((kind.name, key, None), *([(PREVIOUS, key, None)] if kind is API_KEY else []))

        def write() -> None:
            self._need().delete(kind.name, key, expected, audit)
            if kind is API_KEY:
                self._need().forget(PREVIOUS, key)

        await self._run(write)
        del self.objects[kind.name][key]
        if kind is API_KEY:
            self.previous.pop(key, None)
        self._changed()

    async def note(self, actor: str, action: str, target: str, change: dict[str, object]) -> None:
        """Record an audit event that changes no object (a tool call run for a worker)."""
        event = _audit(actor, None, action, target, change)
        await self._run(lambda: self._need().note(event))

    async def audit_events(self, after: int, limit: int) -> list[AuditEvent]:
        return await self._run(lambda: self._need().audit_events(after, limit))

    def close(self) -> None:
        store = self._store
        self._store = None
        if store is not None:
            self._executor.submit(store.conn.close)
        self._executor.shutdown(wait=True)

    def _check(self, kind: Kind, key: str, value: Any) -> None:
        others = [e.value for k, e in self.objects[kind.name].items() if k != key]
        self._validate(kind, [*getattr(self.config, kind.config_list), *others, value])

    def _check_room(self, kind: Kind, value: Any) -> None:
        """Refuse an object the workers' snapshot has no room for (one IPC frame carries it all:
        about 8,000 keys); never accept one that would silently not reach them."""
        snapshot = self.snapshot()
        grown = msgspec.structs.replace(snapshot, **{kind.config_list: [*getattr(snapshot, kind.config_list), value]})
        if len(ipc.encode(grown)) > ipc.MAX_FRAME_BYTES:
            raise InvalidObject(
                "the gateway holds as many objects made over the admin API as one update to its workers can carry;"
                " delete some, or put them in the config file"
            )

    def _check_without(self, kind: Kind, remaining: dict[str, Entry]) -> None:
        """A delete must leave a valid config too (a tenant its keys name cannot go)."""
        self._validate(kind, [*getattr(self.config, kind.config_list), *(e.value for e in remaining.values())])

    def _validate(self, kind: Kind, values: list[Any]) -> None:
        candidate = msgspec.structs.replace(self.merged(), **{kind.config_list: values})
        problems = validate_config(candidate, SourceMap("<admin api>"), self.env)
        if problems:
            raise InvalidObject("; ".join(p.message for p in problems))

    def _changed(self, broadcast: bool = True) -> None:
        self.revision = max(self.revision + 1, time.time_ns() // 1_000_000)
        if self.on_keys_change is not None:
            self.on_keys_change([*self.config.api_keys, *self.values(API_KEY), *self._graced()])
        if broadcast:
            self._broadcast(self.snapshot())

    def _need(self) -> ObjectStore:
        if self._store is None:
            raise RuntimeError("the object store is not open")
        return self._store

    async def _run(self, job: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, job)


_encode = msgspec.json.Encoder().encode


def _ends(expires_at: str) -> float:
    try:
        return datetime.fromisoformat(expires_at.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return float("inf")


def _entry(kind: Kind, row: StoredObject) -> Entry:
    value = msgspec.json.decode(row.body, type=kind.struct)
    if kind is GATEWAY_CONFIG:  # the profile's revision (its response header) is the stored one
        value = msgspec.structs.replace(value, revision=row.revision)
    return Entry(value=value, revision=row.revision, created_at=row.created_at, updated_at=row.updated_at)


def public_fields(kind: Kind, value: Any) -> dict[str, object]:
    """The object's fields an answer or an audit event may show (never a secret or a hash)."""
    fields: dict[str, object] = msgspec.to_builtins(value)
    for name in kind.secret_fields:
        fields.pop(name, None)
    return fields



def _diff(kind: Kind, old: Any, new: Any) -> dict[str, object]:
    before, after = public_fields(kind, old), public_fields(kind, new)
    return {name: {"from": before.get(name), "to": value} for name, value in after.items() if before.get(name) != value}


def _audit(actor: str, remote: str | None, action: str, target: str, change: dict[str, object]) -> AuditEvent:
    return AuditEvent(seq=0, at=0.0, actor=actor, remote=remote, action=action, target=target, change=change)


def _expect(entry: Entry, expected: int | None) -> None:
    """The If-Match check, before the shared state is written (the store makes it again)."""
    if expected is not None and expected != entry.revision:
        raise RevisionConflict(entry.revision)
