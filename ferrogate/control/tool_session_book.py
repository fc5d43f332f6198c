"""The node's tool sessions: the newest in memory, every step also kept in the store.

Steps are written behind: a write starts on the store thread as soon as a step is added
(steps added meanwhile go in the next one), so a call never waits on the disk, and a
session outlives the control process: after a reload (a new control process) ``GET /admin/v1/tool-sessions/{id}`` still shows it and a caller may
add to it. A session belongs to the key that opened it; another key naming it gets a
new one. Only the worker may open a session under an id it chose (a tool loop's); a
caller-given id that is unknown starts a new session with a new id.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import msgspec

from ferrogate.control.tool_views import ToolSession, ToolStep
from ferrogate.store.database import MEMORY, StoreError, open_store
from ferrogate.store.tool_sessions import StepRow, ToolSessionLog

_log = logging.getLogger("ferrogate.control.mcp")

MAX_SESSIONS = 10_000  # in memory
MAX_STEPS = 200  # per session
KEEP_STEPS = 200_000  # in the store

_SESSION_ID = re.compile(r"ts_[0-9a-f]{24}")
_ENCODE = msgspec.json.Encoder()
_STEP = msgspec.json.Decoder(ToolStep)
_T = TypeVar("_T")


class ToolSessionBook:
    def __init__(self, store_path: str | None) -> None:
        self._path = store_path if store_path != MEMORY else None  # an in-memory store is the process's
        self._sessions: OrderedDict[str, ToolSession] = OrderedDict()
        self._pending: list[StepRow] = []
        self._log: ToolSessionLog | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ferrogate-tool-sessions")
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        path = self._path
        if path is not None:
            try:
                self._log = await self._run(lambda: ToolSessionLog(open_store(path), KEEP_STEPS))
            except StoreError as exc:
                _log.error("tool sessions are kept in memory only: %s", exc)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await task  # the write under way: its steps are not to be lost
        await self._flush()
        log, self._log = self._log, None
        if log is not None:
            await self._run(log.conn.close)
        self._executor.shutdown(wait=True)

    # -- finding and opening

    async def find(self, session_id: str) -> ToolSession | None:
        """The session, from memory or the store."""
        known = self._sessions.get(session_id)
        if known is not None or self._log is None or _SESSION_ID.fullmatch(session_id) is None:
            return known
        log = self._log
        rows = await self._run(lambda: log.steps(session_id, MAX_STEPS))
        known = self._sessions.get(session_id)  # opened while the store was read
        if known is not None or not rows:
            return known
        steps = [_STEP.decode(body) for _, _, body in rows]
        session = ToolSession(id=session_id, created_at=rows[0][1], key_id=rows[0][0], steps=steps)
        self._remember(session)
        return session

    async def join(self, session_id: str, key_id: str | None) -> ToolSession:
        """The key's session a caller named, or a new one (unknown, or another key's)."""
        known = await self.find(session_id)
        if known is not None and known.key_id == key_id:
            self._sessions.move_to_end(known.id)
            return known
        return self.new(key_id)

    def open_own(self, session_id: str, key_id: str | None) -> ToolSession:
        """The session a worker's tool loop named (opened under that id when new)."""
        known = self._sessions.get(session_id)
        if known is not None and known.key_id == key_id:
            self._sessions.move_to_end(known.id)
            return known
        if known is not None or _SESSION_ID.fullmatch(session_id) is None:
            return self.new(key_id)
        return self._remember(ToolSession(id=session_id, created_at=time.time(), key_id=key_id, steps=[]))

    def new(self, key_id: str | None) -> ToolSession:
        return self._remember(
            ToolSession(id="ts_" + os.urandom(12).hex(), created_at=time.time(), key_id=key_id, steps=[])
        )

    def add(self, session: ToolSession, step: ToolStep) -> None:
        if len(session.steps) >= MAX_STEPS:
            return
        session.steps.append(step)
        if self._log is not None:
            self._pending.append((session.id, session.key_id, step.at, _ENCODE.encode(step)))
            if self._task is None or self._task.done():
                self._task = asyncio.get_running_loop().create_task(self._write_pending(), name="tool-steps")

    # -- inside

    def _remember(self, session: ToolSession) -> ToolSession:
        self._sessions[session.id] = session
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return session

    async def _write_pending(self) -> None:
        # Soon after the call, not on a timer: a reload starts the next control process at
        # once, and it reads the store for the sessions this one held.
        while self._pending:
            await self._flush()

    async def _flush(self) -> None:
        log = self._log
        rows, self._pending = self._pending, []
        if not rows or log is None:
            return
        try:
            await self._run(lambda: log.append(rows))
        except Exception:
            _log.exception("cannot keep %d tool session steps in the store", len(rows))

    async def _run(self, job: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, job)
