"""The control process's object manager on its own (an in-memory store, no processes)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ferrogate import ipc
from ferrogate.config.model import ApiKey, Config, Model, Provider, Storage
from ferrogate.control.object_manager import API_KEY, InvalidObject, ObjectManager


def _manager(sent: list[ipc.AdminObjects]) -> ObjectManager:
    config = Config(
        storage=Storage(path=":memory:"),
        providers=[Provider(name="mock", kind="mock")],
        models=[Model(name="m", provider="mock", provider_model="m")],
    )
    return ObjectManager(config, Path("gateway.toml"), {}, broadcast=sent.append)


def test_every_change_is_broadcast_whole_with_a_higher_revision() -> None:
    sent: list[ipc.AdminObjects] = []

    async def go() -> None:
        manager = _manager(sent)
        await manager.start()
        await manager.create(API_KEY, ApiKey(id="a"), "test", None)
        await manager.create(API_KEY, ApiKey(id="b"), "test", None)
        manager.close()

    asyncio.run(go())
    assert [[k.id for k in s.api_keys] for s in sent] == [["a"], ["a", "b"]]
    assert sent[0].revision < sent[1].revision
    assert all(k.key is None and k.key_hash for s in sent for k in s.api_keys)


def test_an_object_the_workers_snapshot_has_no_room_for_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[ipc.AdminObjects] = []
    monkeypatch.setattr(ipc, "MAX_FRAME_BYTES", 1500)  # room for about two keys

    async def go() -> int:
        manager = _manager(sent)
        await manager.start()
        made = 0
        try:
            for i in range(10):
                await manager.create(API_KEY, ApiKey(id=f"k{i}"), "test", None)
                made += 1
        except InvalidObject as exc:
            assert "as many objects" in str(exc)
        finally:
            manager.close()
        return made

    made = asyncio.run(go())
    assert 0 < made < 10
    assert len(sent[-1].api_keys) == made  # the refused key was never stored or sent
