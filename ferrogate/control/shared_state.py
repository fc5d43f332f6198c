"""What a shared home of admin-API objects offers a node (Redis or a shared file).

Both homes work the same way: a write goes there first and is refused whole when it does not
take (503 ``shared_state_unavailable``); every node polls for a new revision and applies what
differs to its own store and workers; a node catches up at start, and the first node of an
empty home puts its objects there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

from ferrogate.errors import ErrorSource, GatewayError

Rows = dict[tuple[str, str], bytes]
"""(kind, id) -> the object's JSON."""

ApplyRows = Callable[[Rows], Awaitable[None]]


class SharedState(Protocol):
    async def start(self, local: Rows) -> None:
        """Catch up with the shared objects, or put this node's there when there are none yet."""

    async def stop(self) -> None: ...

    async def publish(self, changes: list[tuple[str, str, bytes | None]]) -> None:
        """Write ``changes`` ((kind, id, JSON or None to delete)); GatewayError 503 when they did not take."""

    @property
    def synced(self) -> asyncio.Event:
        """Set once this node has applied the shared objects since it started."""


def unavailable(where: str, why: str) -> GatewayError:
    return GatewayError(
        503,
        f"the shared state ({where}) did not take the change, so it was not made: {why}",
        code="shared_state_unavailable",
        source=ErrorSource.INTERNAL,
    )
