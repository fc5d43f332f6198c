"""API keys created over the admin API, and the audit trail of admin writes.

A key is stored as the same ``ApiKey`` struct the config file gives (msgspec
JSON), with ``key_hash`` set and ``key`` / ``key_env`` never: the secret is
shown once, when it is made, and only its hash is kept. Every write bumps the
key's ``revision`` (the admin API's ``ETag``), and a write that names an older
revision is refused, so two operators never overwrite each other silently.

Blocking calls: the control process runs these in a thread, never on its loop.
"""

from __future__ import annotations

import sqlite3
import time

import msgspec

from ferrogate.config.model import ApiKey


class StoredKey(msgspec.Struct, frozen=True, kw_only=True):
    key: ApiKey
    revision: int
    created_at: float
    updated_at: float


class AuditEvent(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    at: float
    actor: str  # "admin-token" or "key:<id>"
    remote: str | None
    action: str  # "api_key.create", "api_key.update", ...
    target: str
    change: dict[str, object]  # what changed, never a secret or a hash


class RevisionConflict(Exception):
    """The key changed since the revision the writer read."""

    def __init__(self, current: int) -> None:
        super().__init__(f"the key is at revision {current}")
        self.current = current


_encode = msgspec.json.Encoder().encode
_decode_key = msgspec.json.Decoder(ApiKey).decode
_decode_change = msgspec.json.Decoder(dict[str, object]).decode


def _row(row: tuple[str, int, bytes, float, float]) -> StoredKey:
    _, revision, body, created, updated = row
    return StoredKey(key=_decode_key(body), revision=revision, created_at=created, updated_at=updated)


class KeyStore:
    """The api_keys and audit_events tables of one store connection."""

    __slots__ = ("conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def all(self) -> list[StoredKey]:
        rows = self.conn.execute(
            "SELECT id, revision, body, created_at, updated_at FROM api_keys ORDER BY id"
        ).fetchall()
        return [_row(r) for r in rows]

    def get(self, key_id: str) -> StoredKey | None:
        row = self.conn.execute(
            "SELECT id, revision, body, created_at, updated_at FROM api_keys WHERE id = ?", (key_id,)
        ).fetchone()
        return _row(row) if row is not None else None

    def create(self, key: ApiKey, audit: AuditEvent) -> StoredKey:
        """Insert a new key (its id must be free: sqlite3.IntegrityError otherwise)."""
        now = time.time()
        with _transaction(self.conn):
            self.conn.execute(
                "INSERT INTO api_keys (id, revision, body, created_at, updated_at) VALUES (?, 1, ?, ?, ?)",
                (key.id, _encode(key), now, now),
            )
            self._audit(audit, now)
        return StoredKey(key=key, revision=1, created_at=now, updated_at=now)

    def replace(self, key: ApiKey, expected: int | None, audit: AuditEvent) -> StoredKey:
        """Write a new version of an existing key; ``expected``: the revision the writer read."""
        now = time.time()
        with _transaction(self.conn):
            row = self.conn.execute("SELECT revision, created_at FROM api_keys WHERE id = ?", (key.id,)).fetchone()
            if row is None:
                raise KeyError(key.id)
            current, created = int(row[0]), float(row[1])
            if expected is not None and expected != current:
                raise RevisionConflict(current)
            self.conn.execute(
                "UPDATE api_keys SET revision = ?, body = ?, updated_at = ? WHERE id = ?",
                (current + 1, _encode(key), now, key.id),
            )
            self._audit(audit, now)
        return StoredKey(key=key, revision=current + 1, created_at=created, updated_at=now)

    def delete(self, key_id: str, expected: int | None, audit: AuditEvent) -> None:
        now = time.time()
        with _transaction(self.conn):
            row = self.conn.execute("SELECT revision FROM api_keys WHERE id = ?", (key_id,)).fetchone()
            if row is None:
                raise KeyError(key_id)
            if expected is not None and expected != int(row[0]):
                raise RevisionConflict(int(row[0]))
            self.conn.execute("DELETE FROM api_keys WHERE id = ?", (key_id,))
            self._audit(audit, now)

    def audit_events(self, after: int, limit: int) -> list[AuditEvent]:
        rows = self.conn.execute(
            "SELECT seq, at, actor, remote, action, target, change FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, limit),
        ).fetchall()
        return [
            AuditEvent(seq=r[0], at=r[1], actor=r[2], remote=r[3], action=r[4], target=r[5], change=_decode_change(r[6]))
            for r in rows
        ]

    def _audit(self, event: AuditEvent, now: float) -> None:
        self.conn.execute(
            "INSERT INTO audit_events (at, actor, remote, action, target, change) VALUES (?, ?, ?, ?, ?, ?)",
            (now, event.actor, event.remote, event.action, event.target, _encode(event.change)),
        )


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on an exception) on an autocommit connection."""

    __slots__ = ("conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        self.conn.execute("COMMIT" if kind is None else "ROLLBACK")
