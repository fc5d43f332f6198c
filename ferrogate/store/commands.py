"""``ferrogate store backup FILE`` and ``ferrogate store check``: the store of a config, offline or live.

Backup uses SQLite's online backup API, so it is safe while the gateway runs (WAL
readers never block the control process's writes) and the copy is consistent as of
one moment. Check runs SQLite's integrity check and reads every admin object back
through the config types, so a store the gateway could not load is found before a
restart needs it.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import msgspec

from ferrogate.config.commands import load_or_report
from ferrogate.store.admin_objects import KIND_TYPES, ObjectStore
from ferrogate.store.database import (
    MEMORY,
    SCHEMA_VERSION,
    StoreError,
    open_store,
    schema_version,
    store_path,
)


def _open_store_of(config_path: Path) -> tuple[str, sqlite3.Connection] | None:
    """The store a config names, opened (never created); None once the reason is printed."""
    loaded = load_or_report(config_path)
    if loaded is None:
        return None
    path = store_path(loaded.config, config_path)
    if path == MEMORY:
        print("ferrogate: storage.path is :memory:, there is no store file", file=sys.stderr)
        return None
    try:
        return path, open_store(path, create=False)
    except StoreError as exc:
        print(f"ferrogate: {exc}", file=sys.stderr)
        return None


def backup_command(config_path: Path, target: Path) -> int:
    if target.exists():
        print(f"ferrogate: {target} exists; choose a new file", file=sys.stderr)
        return 1
    opened = _open_store_of(config_path)
    if opened is None:
        return 1
    path, source = opened
    try:
        copy = sqlite3.connect(str(target))
        try:
            source.backup(copy)
        finally:
            copy.close()
    except sqlite3.Error as exc:
        print(f"ferrogate: backup failed: {exc}", file=sys.stderr)
        return 1
    finally:
        source.close()
    print(f"backed up {path} to {target}")
    return 0


def check_command(config_path: Path) -> int:
    opened = _open_store_of(config_path)
    if opened is None:
        return 1
    path, conn = opened
    problems: list[str] = []
    try:
        verdict = [row[0] for row in conn.execute("PRAGMA integrity_check").fetchall()]
        if verdict != ["ok"]:
            problems += verdict
        objects = ObjectStore(conn).all()
        for row in objects:
            struct = KIND_TYPES.get(row.kind)
            if struct is None:
                problems.append(f"{row.kind} {row.id!r}: a kind this release does not know")
                continue
            try:
                msgspec.json.decode(row.body, type=struct)
            except msgspec.DecodeError as exc:
                problems.append(f"{row.kind} {row.id!r}: {exc}")
        version = schema_version(conn)
    except sqlite3.Error as exc:
        problems.append(str(exc))
        objects, version = [], 0
    finally:
        conn.close()
    for problem in problems:
        print(f"ferrogate: {path}: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"{path}: ok (schema {version} of {SCHEMA_VERSION}, {len(objects)} admin objects)")
    return 0
