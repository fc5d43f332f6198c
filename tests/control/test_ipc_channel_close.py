"""Closing the control process's IPC channel while peers are connected."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from ferrogate.config.model import Config
from ferrogate.control.channel import IpcServer
from ferrogate.control.state import ControlState

from .helpers import run, until


def test_closing_with_connected_peers_logs_no_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        server = IpcServer(ControlState(Config(), tmp_path / "ferrogate.toml", 1))
        path = str(tmp_path / "ipc.sock")
        await server.start(path)
        clients = [await asyncio.open_unix_connection(path) for _ in range(3)]
        await until(lambda: len(server._tasks) == 3, what="three peers served")
        await server.close()
        for _ in range(3):  # let callbacks scheduled by the close run
            await asyncio.sleep(0)
        for _, writer in clients:
            writer.close()

    with caplog.at_level(logging.ERROR):
        run(scenario())
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
