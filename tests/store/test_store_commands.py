"""``ferrogate store backup`` and ``ferrogate store check`` on a store with admin objects in it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ferrogate.store.admin_objects import AuditEvent, ObjectStore
from ferrogate.store.database import open_store

CONFIG = """
[storage]
path = "state.db"

[[providers]]
name = "mock"
kind = "mock"

[[models]]
name = "m"
provider = "mock"
provider_model = "m"
"""


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ferrogate", *args], capture_output=True, text=True, timeout=60, check=False)


def _store_with_a_key(tmp_path: Path) -> Path:
    config = tmp_path / "gateway.toml"
    config.write_text(CONFIG)
    conn = open_store(str(tmp_path / "state.db"))
    event = AuditEvent(seq=0, at=0, actor="test", remote=None, action="api_key.create", target="k", change={})
    ObjectStore(conn).create("api_key", "k", b'{"id": "k", "key_hash": "hmac-sha256:' + b"0" * 64 + b'"}', event)
    conn.close()
    return config


def test_a_backup_holds_the_stores_objects(tmp_path: Path) -> None:
    config = _store_with_a_key(tmp_path)
    done = _cli("store", "backup", str(tmp_path / "copy.db"), "--config", str(config))
    assert done.returncode == 0, done.stderr
    rows = ObjectStore(open_store(str(tmp_path / "copy.db"), create=False)).all()
    assert [(r.kind, r.id) for r in rows] == [("api_key", "k")]


def test_a_backup_never_overwrites_a_file(tmp_path: Path) -> None:
    config = _store_with_a_key(tmp_path)
    (tmp_path / "taken.db").write_text("mine")
    done = _cli("store", "backup", str(tmp_path / "taken.db"), "--config", str(config))
    assert done.returncode == 1 and "exists" in done.stderr
    assert (tmp_path / "taken.db").read_text() == "mine"


def test_check_passes_a_sound_store(tmp_path: Path) -> None:
    done = _cli("store", "check", "--config", str(_store_with_a_key(tmp_path)))
    assert done.returncode == 0 and "1 admin objects" in done.stdout


def test_check_names_an_object_the_gateway_could_not_load(tmp_path: Path) -> None:
    config = _store_with_a_key(tmp_path)
    conn = open_store(str(tmp_path / "state.db"))
    conn.execute("UPDATE admin_objects SET body = ? WHERE id = 'k'", (b'{"id": 5}',))
    conn.close()
    done = _cli("store", "check", "--config", str(config))
    assert done.returncode == 1 and "api_key 'k'" in done.stderr


def test_audit_events_beyond_the_retention_are_dropped_oldest_first(tmp_path: Path) -> None:
    store = ObjectStore(open_store(str(tmp_path / "state.db")), audit_retention=3)
    for i in range(5):
        event = AuditEvent(seq=0, at=0, actor="test", remote=None, action="tenant.create", target=f"t{i}", change={})
        store.create("tenant", f"t{i}", b'{"id": "t%d"}' % i, event)
    assert [e.target for e in store.audit_events(0, 100)] == ["t2", "t3", "t4"]
