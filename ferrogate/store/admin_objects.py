"""Objects made over the admin API (API keys, tenants, policies, gateway configs), and the
audit trail of admin writes.

An object is stored as the same struct the config file gives, as JSON, under its
kind and id; an API key with ``key_hash`` set and never ``key`` / ``key_env`` (the
secret is shown once, when it is made). Every write bumps the object's
``revision`` (the admin API's ``ETag``), and a write that names an older revision
is refused, so two operators never overwrite each other silently. A write and its
audit event are one transaction.

Blocking calls: the control process runs these on its store thread, never on its loop.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import msgspec

from ferrogate.config.model import ApiKey, Config, GatewayProfile, Policy, Tenant


class PreviousSecret(msgspec.Struct, frozen=True, kw_only=True):
    """A rotated API key's old secret (its hash), accepted until ``until`` (epoch seconds)."""

    key_hash: str
    until: float


# The kinds the store holds and the types their bodies decode as (``api_key_previous``: the
# grace period of a rotation, under the key's id).
KIND_TYPES: dict[str, type[msgspec.Struct]] = {
    "api_key_previous": PreviousSecret,
    "api_key": ApiKey,
    "tenant": Tenant,
    "policy": Policy,
    "gateway_config": GatewayProfile,
}
# Where each kind sits in a config: its list and the field that is its id.
KIND_PLACES: dict[str, tuple[str, str]] = {
    "api_key": ("api_keys", "id"),
    "tenant": ("tenants", "id"),
    "policy": ("policies", "name"),
    "gateway_config": ("gateway_configs", "id"),
}


def ids_in_both(path: str, config: Config) -> list[tuple[tuple[str, int], str]]:
    """The config objects whose id an admin API object of the store at ``path`` has too, as
    (config path, message): an id used by both is a config error (which would win?)."""
    if path == ":memory:" or not Path(path).exists():
        return []
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
        try:
            rows = conn.execute("SELECT kind, id FROM admin_objects").fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return []  # no such table yet (an older store) or unreadable: the control process says so
    stored = {(str(kind), str(ident)) for kind, ident in rows}
    found = []
    for kind, (section, field) in KIND_PLACES.items():
        for i, value in enumerate(getattr(config, section)):
            ident = str(getattr(value, field))
            if (kind, ident) in stored:
                found.append(((section, i), f"{kind.replace('_', ' ')} `{ident}` was also made over the admin API (it is in the store): delete one of them"))
    return found


class StoredObject(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    id: str
    body: bytes  # JSON of the object's config struct
    revision: int
    created_at: float
    updated_at: float


class AuditEvent(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    at: float
    actor: str  # "admin-token", "key:<id>" or "local"
    remote: str | None
    action: str  # "api_key.create", "policy.update", ...
    target: str
    change: dict[str, Any]  # what changed, never a secret or a hash


class RevisionConflict(Exception):
    """The object changed since the revision the writer read."""

    def __init__(self, current: int) -> None:
        super().__init__(f"the object is at revision {current}")
        self.current = current


_encode = msgspec.json.Encoder().encode
_decode_change = msgspec.json.Decoder(dict[str, Any]).decode
_COLUMNS = "kind, id, body, revision, created_at, updated_at"


def _row(row: tuple[str, str, bytes, int, float, float]) -> StoredObject:
    kind, ident, body, revision, created, updated = row
    return StoredObject(kind=kind, id=ident, body=bytes(body), revision=revision, created_at=created, updated_at=updated)


class ObjectStore:
    """The admin_objects and audit_events tables of one store connection. ``audit_retention``:
    how many audit events are kept (``storage.audit_event_retention_records``; the oldest go)."""

    __slots__ = ("audit_retention", "conn")

    def __init__(self, conn: sqlite3.Connection, audit_retention: int = 100_000) -> None:
        self.conn = conn
        self.audit_retention = audit_retention

    def all(self) -> list[StoredObject]:
        rows = self.conn.execute(f"SELECT {_COLUMNS} FROM admin_objects ORDER BY kind, id").fetchall()
        return [_row(r) for r in rows]

    def create(self, kind: str, ident: str, body: bytes, audit: AuditEvent) -> StoredObject:
        """Insert a new object (its id must be free in its kind: sqlite3.IntegrityError otherwise)."""
        now = time.time()
        with _transaction(self.conn):
            self.conn.execute(
                f"INSERT INTO admin_objects ({_COLUMNS}) VALUES (?, ?, ?, 1, ?, ?)", (kind, ident, body, now, now)
            )
            self._audit(audit, now)
        return StoredObject(kind=kind, id=ident, body=body, revision=1, created_at=now, updated_at=now)

    def replace(self, kind: str, ident: str, body: bytes, expected: int | None, audit: AuditEvent) -> StoredObject:
        """Write a new version of an existing object; ``expected``: the revision the writer read."""
        now = time.time()
        with _transaction(self.conn):
            current, created = self._current(kind, ident, expected)
            self.conn.execute(
                "UPDATE admin_objects SET revision = ?, body = ?, updated_at = ? WHERE kind = ? AND id = ?",
                (current + 1, body, now, kind, ident),
            )
            self._audit(audit, now)
        return StoredObject(kind=kind, id=ident, body=body, revision=current + 1, created_at=created, updated_at=now)

    def delete(self, kind: str, ident: str, expected: int | None, audit: AuditEvent) -> None:
        now = time.time()
        with _transaction(self.conn):
            self._current(kind, ident, expected)
            self.conn.execute("DELETE FROM admin_objects WHERE kind = ? AND id = ?", (kind, ident))
            self._audit(audit, now)

    def put(self, kind: str, ident: str, body: bytes) -> None:
        """Write an internal record (no revision check, no audit: its caller's write has both)."""
        now = time.time()
        self.conn.execute(
            f"INSERT OR REPLACE INTO admin_objects ({_COLUMNS}) VALUES (?, ?, ?, 1, ?, ?)", (kind, ident, body, now, now)
        )

    def forget(self, kind: str, ident: str) -> None:
        self.conn.execute("DELETE FROM admin_objects WHERE kind = ? AND id = ?", (kind, ident))

    def audit_events(self, after: int, limit: int) -> list[AuditEvent]:
        rows = self.conn.execute(
            "SELECT seq, at, actor, remote, action, target, change FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, limit),
        ).fetchall()
        return [
            AuditEvent(seq=r[0], at=r[1], actor=r[2], remote=r[3], action=r[4], target=r[5], change=_decode_change(r[6]))
            for r in rows
        ]

    def _current(self, kind: str, ident: str, expected: int | None) -> tuple[int, float]:
        row = self.conn.execute(
            "SELECT revision, created_at FROM admin_objects WHERE kind = ? AND id = ?", (kind, ident)
        ).fetchone()
        if row is None:
            raise KeyError(ident)
        current = int(row[0])
        if expected is not None and expected != current:
            raise RevisionConflict(current)
        return current, float(row[1])

    def note(self, event: AuditEvent) -> None:
        """An audit event that changes no object (a tool call, for one)."""
        with _transaction(self.conn):
            self._audit(event, time.time())

    def _audit(self, event: AuditEvent, now: float) -> None:
        cursor = self.conn.execute(
            "INSERT INTO audit_events (at, actor, remote, action, target, change) VALUES (?, ?, ?, ?, ?, ?)",
            (now, event.actor, event.remote, event.action, event.target, _encode(event.change)),
        )
        # seq only grows, so the newest N are those above (this one - N).
        self.conn.execute("DELETE FROM audit_events WHERE seq <= ?", (int(cursor.lastrowid or 0) - self.audit_retention,))


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on an exception) on an autocommit connection."""

    __slots__ = ("conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        self.conn.execute("COMMIT" if kind is None else "ROLLBACK")
