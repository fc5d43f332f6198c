"""The shared state file (cluster.state_file): whole, locked, atomic writes; readers apply
what moved; a file it cannot read is never overwritten."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
from pathlib import Path

import pytest

from ferrogate.control import shared_state_file
from ferrogate.control.shared_state import Rows
from ferrogate.control.shared_state_file import (
    SharedStateFile,
    StateFileError,
    read_state,
    write_state,
)
from ferrogate.errors import GatewayError

KEY = b'{"id":"k1","key_hash":"scrypt$x"}'


def test_a_first_write_makes_the_file_with_revision_one(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    assert write_state(path, [("api_key", "k1", KEY)]) == 1
    assert read_state(path) == (1, {("api_key", "k1"): KEY})


def test_each_write_bumps_the_revision_and_keeps_the_other_objects(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    write_state(path, [("api_key", "k1", KEY)])
    write_state(path, [("tenant", "t", b'{"id":"t"}')])
    assert read_state(path) == (2, {("api_key", "k1"): KEY, ("tenant", "t"): b'{"id":"t"}'})


def test_a_delete_removes_the_object(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    write_state(path, [("api_key", "k1", KEY), ("api_key", "k2", KEY)])
    write_state(path, [("api_key", "k1", None)])
    state = read_state(path)
    assert state is not None and set(state[1]) == {("api_key", "k2")}


def test_the_file_holds_each_object_as_json_not_as_an_escaped_string(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    write_state(path, [("api_key", "k1", KEY)])
    doc = json.loads(path.read_bytes())
    assert doc["objects"] == [{"kind": "api_key", "id": "k1", "object": {"id": "k1", "key_hash": "scrypt$x"}}]


def test_the_file_and_its_lock_are_private_to_the_gateways_user(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    write_state(path, [("api_key", "k1", KEY)])
    assert path.stat().st_mode & 0o077 == 0
    assert (tmp_path / "state.json.lock").stat().st_mode & 0o077 == 0


def test_a_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    write_state(path, [("api_key", "k1", KEY)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json", "state.json.lock"]


def test_a_write_waits_for_another_writers_lock_then_gives_up_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shared_state_file, "LOCK_WAIT_SECS", 0.2)
    path = tmp_path / "state.json"
    holder = os.open(tmp_path / "state.json.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        with pytest.raises(StateFileError, match="stayed locked by another writer"):
            write_state(path, [("api_key", "k1", KEY)])
    finally:
        os.close(holder)
    assert not path.exists()


def test_a_file_that_is_not_a_state_file_is_refused_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("{ hand edited, broken")
    with pytest.raises(StateFileError, match="is not a FerroGate state file"):
        write_state(path, [("api_key", "k1", KEY)])
    assert path.read_text() == "{ hand edited, broken"


def test_a_state_file_of_another_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"format": 9, "revision": 1, "objects": []}')
    with pytest.raises(StateFileError, match="format 9"):
        read_state(path)


def test_a_missing_directory_refuses_the_write_as_unavailable(tmp_path: Path) -> None:
    async def publish() -> None:
        share = SharedStateFile(tmp_path / "absent" / "state.json", _noop)
        await share.publish([("api_key", "k1", KEY)])

    with pytest.raises(GatewayError) as caught:
        asyncio.run(publish())
    assert caught.value.status == 503 and caught.value.code == "shared_state_unavailable"
    assert "state file" in str(caught.value)


def test_a_node_that_starts_on_no_file_puts_its_objects_there(tmp_path: Path) -> None:
    path = tmp_path / "state.json"

    async def run() -> None:
        share = SharedStateFile(path, _noop)
        await share.start({("api_key", "k1"): KEY})
        await share.stop()
        assert share.synced.is_set()

    asyncio.run(run())
    assert read_state(path) == (1, {("api_key", "k1"): KEY})


def test_a_node_that_starts_on_a_file_applies_its_objects(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    write_state(path, [("api_key", "shared", KEY)])
    applied: list[Rows] = []

    async def run() -> None:
        share = SharedStateFile(path, _recorder(applied))
        await share.start({("api_key", "mine"): KEY})
        await share.stop()

    asyncio.run(run())
    assert applied == [{("api_key", "shared"): KEY}]


def test_a_change_written_by_one_node_is_applied_by_the_other(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    applied: list[Rows] = []

    async def run() -> None:
        a = SharedStateFile(path, _noop)
        b = SharedStateFile(path, _recorder(applied))
        await a.start({})
        await b.start({})
        await a.publish([("api_key", "k1", KEY)])
        for _ in range(200):
            if applied:
                break
            await asyncio.sleep(0.01)
        await a.stop()
        await b.stop()

    asyncio.run(run())
    assert applied == [{("api_key", "k1"): KEY}]


def test_an_unreadable_file_at_start_leaves_the_node_not_synced(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("not json")

    async def run() -> bool:
        share = SharedStateFile(path, _noop)
        await share.start({})
        await share.stop()
        return share.synced.is_set()

    assert asyncio.run(run()) is False


async def _noop(rows: Rows) -> None:
    return None


def _recorder(into: list[Rows]):  # type: ignore[no-untyped-def]
    async def apply(rows: Rows) -> None:
        into.append(rows)

    return apply
