"""The control process's API keys: the store's, checked like the config's, pushed to every worker.

Keys made over the admin API live in the store (``store.api_keys``); the config
file's keys stay where they are, read-only over the API. Every change is checked
by the same validation the config file gets (with the key appended to the config's
own), written in one transaction with its audit event, and then sent to every
worker as a whole :class:`ipc.ApiKeysSnapshot`, which the worker swaps in at once.

SQLite is called on one store thread (a single-thread executor), never on the
event loop; one thread also serialises the writes.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import msgspec

from ferrogate import ipc
from ferrogate.config.diagnostics import SourceMap
from ferrogate.config.key_hash import hash_key
from ferrogate.config.model import ApiKey, Config
from ferrogate.config.validate import validate_config
from ferrogate.store.api_keys import AuditEvent, KeyStore, StoredKey
from ferrogate.store.database import open_store, store_path

log = logging.getLogger("ferrogate.control.keys")

SECRET_PREFIX = "sk-fg-"
_T = TypeVar("_T")


def new_secret() -> str:
    """A virtual key: ``sk-fg-`` and 32 random bytes (256 bits) in URL-safe base64."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


class InvalidKey(Exception):
    """The key would make the config invalid; the message says why."""


class KeyManager:
    """API-made keys: the store's rows, the snapshot the workers hold, and the broadcast."""

    __slots__ = ("_broadcast", "_executor", "_path", "_store", "config", "env", "keys", "on_change", "revision")

    def __init__(
        self,
        config: Config,
        config_path: Path,
        env: Mapping[str, str],
        broadcast: Callable[[ipc.ApiKeysSnapshot], object],
    ) -> None:
        self.config = config
        self.env = env
        self._path = store_path(config, config_path)
        self._broadcast = broadcast
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ferrogate-store")
        self._store: KeyStore | None = None
        self.keys: dict[str, StoredKey] = {}
        self.revision = 0
        self.on_change: Callable[[list[ApiKey]], None] | None = None  # the admin API's own key check

    async def start(self) -> None:
        """Open the store and load its keys (before the first worker says hello)."""
        self._store = await self._run(lambda: KeyStore(open_store(self._path)))
        stored = await self._run(lambda: self._need().all())
        self.keys = {s.key.id: s for s in stored}
        self.revision = time.time_ns() // 1_000_000
        self._changed(broadcast=False)

    def snapshot(self) -> ipc.ApiKeysSnapshot:
        return ipc.ApiKeysSnapshot(revision=self.revision, keys=[s.key for s in self.keys.values()])

    def config_key(self, key_id: str) -> ApiKey | None:
        for key in self.config.api_keys:
            if key.id == key_id:
                return key
        return None

    async def create(self, key: ApiKey, actor: str, remote: str | None) -> tuple[StoredKey, str]:
        """Store a new key with a fresh secret; the stored key and the secret (shown once)."""
        secret = new_secret()
        key = msgspec.structs.replace(key, key=None, key_env=None, key_hash=hash_key(secret, env=self.env))
        self._check(key)
        audit = _audit(actor, remote, "api_key.create", key.id, _public(key))
        stored = await self._run(lambda: self._need().create(key, audit))
        self.keys[key.id] = stored
        self._changed()
        return stored, secret

    async def update(self, key: ApiKey, expected: int | None, actor: str, remote: str | None) -> StoredKey:
        old = self.keys[key.id].key
        key = msgspec.structs.replace(key, key=None, key_env=None, key_hash=old.key_hash)
        self._check(key)
        audit = _audit(actor, remote, "api_key.update", key.id, _diff(old, key))
        stored = await self._run(lambda: self._need().replace(key, expected, audit))
        self.keys[key.id] = stored
        self._changed()
        return stored

    async def rotate(self, key_id: str, expected: int | None, actor: str, remote: str | None) -> tuple[StoredKey, str]:
        secret = new_secret()
        key = msgspec.structs.replace(self.keys[key_id].key, key_hash=hash_key(secret, env=self.env))
        audit = _audit(actor, remote, "api_key.rotate", key_id, {})
        stored = await self._run(lambda: self._need().replace(key, expected, audit))
        self.keys[key_id] = stored
        self._changed()
        return stored, secret

    async def delete(self, key_id: str, expected: int | None, actor: str, remote: str | None) -> None:
        audit = _audit(actor, remote, "api_key.delete", key_id, {})
        await self._run(lambda: self._need().delete(key_id, expected, audit))
        del self.keys[key_id]
        self._changed()

    async def audit_events(self, after: int, limit: int) -> list[AuditEvent]:
        return await self._run(lambda: self._need().audit_events(after, limit))

    def all_keys(self) -> list[ApiKey]:
        """The config's keys, then the API's: what workers and the admin gate authenticate."""
        return list(self.config.api_keys) + [s.key for s in self.keys.values()]

    def close(self) -> None:
        store = self._store
        self._store = None
        if store is not None:
            self._executor.submit(store.conn.close)
        self._executor.shutdown(wait=True)

    def _check(self, key: ApiKey) -> None:
        others = [k for k in self.all_keys() if k.id != key.id]
        candidate = msgspec.structs.replace(self.config, api_keys=[*others, key])
        problems = validate_config(candidate, SourceMap("<admin api>"), self.env)
        if problems:
            raise InvalidKey("; ".join(p.message for p in problems))

    def _changed(self, broadcast: bool = True) -> None:
        self.revision = max(self.revision + 1, time.time_ns() // 1_000_000)
        if self.on_change is not None:
            self.on_change(self.all_keys())
        if broadcast:
            self._broadcast(self.snapshot())

    def _need(self) -> KeyStore:
        if self._store is None:
            raise RuntimeError("the key store is not open")
        return self._store

    async def _run(self, job: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, job)


_SECRET_FIELDS = frozenset({"key", "key_env", "key_hash"})


def _public(key: ApiKey) -> dict[str, object]:
    """The key's fields an audit event may show (never its secret or hash)."""
    fields: dict[str, object] = msgspec.to_builtins(key)
    return {name: value for name, value in fields.items() if name not in _SECRET_FIELDS}


def _diff(old: ApiKey, new: ApiKey) -> dict[str, object]:
    before, after = _public(old), _public(new)
    return {name: {"from": before.get(name), "to": value} for name, value in after.items() if before.get(name) != value}


def _audit(actor: str, remote: str | None, action: str, target: str, change: dict[str, object]) -> AuditEvent:
    return AuditEvent(seq=0, at=0.0, actor=actor, remote=remote, action=action, target=target, change=change)
