"""Which shared home a node's admin objects use, and its readiness while it catches up.

With ``cluster.enabled`` and a shared state, a control process that has not yet applied the
shared objects keeps the node out of rotation (``/readyz`` 503 ``catching_up``): its workers
would refuse keys made on other nodes. This holds at every control start (start, reload,
upgrade) until the first successful read, so with the shared state away a reloaded node stays
out until it is back (docs/operations.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ferrogate import ipc
from ferrogate.config.model import Cluster
from ferrogate.control.shared_state import ApplyRows, SharedState

_log = logging.getLogger("ferrogate.control.shared")

def state_file_path(raw: str, config_path: Path) -> Path:
    """``cluster.state_file`` resolved against the config file's directory."""
    path = Path(raw).expanduser()
    return path if path.is_absolute() else config_path.parent / path


def open_shared_state(cluster: Cluster, config_path: Path, apply: ApplyRows) -> SharedState | None:
    home = cluster.shared_state
    if home == "redis" and cluster.redis_url:
        from ferrogate.control.shared_objects import SharedObjects

        return SharedObjects(cluster.redis_url, apply)
    if home == "file" and cluster.state_file:
        from ferrogate.control.shared_state_file import SharedStateFile

        return SharedStateFile(state_file_path(cluster.state_file, config_path), apply)
    return None


class CatchUp:
    """Keeps ``/readyz`` at 503 until ``share`` has applied the shared objects once."""

    def __init__(self, share: SharedState, broadcast: Callable[[ipc.Message], Any]) -> None:
        self._share = share
        self._broadcast = broadcast
        self.catching_up = not share.synced.is_set()
        self._task: asyncio.Task[None] | None = None
        if self.catching_up:
            _log.warning("not ready until the cluster's shared state has been read")
            self._task = asyncio.get_running_loop().create_task(self._wait(), name="shared-state-catch-up")

    def greeting(self) -> list[ipc.Message]:
        """What a worker that says hello is told (nothing once caught up: its default)."""
        return [ipc.SharedStateCatchUp(catching_up=True)] if self.catching_up else []

    async def _wait(self) -> None:
        await self._share.synced.wait()
        self.catching_up = False
        _log.info("caught up with the cluster's shared state: ready")
        self._broadcast(ipc.SharedStateCatchUp(catching_up=False))

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
