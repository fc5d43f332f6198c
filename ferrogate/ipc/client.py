"""The worker's asyncio connection to the control process (:class:`ControlClient`).

Serving never waits on it: messages go into a bounded queue that a background
task writes in batches, and a request fails fast while the control process is
down. The connection heals itself with exponential backoff and replays the
worker's hello and last lifecycle state after every reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from typing import overload

import msgspec

from ferrogate.ipc.framing import FrameError, read_message, write_messages
from ferrogate.ipc.lifecycle import WorkerPhase
from ferrogate.ipc.messages import (
    ErrorReply,
    Message,
    ReloadRequest,
    ReloadResult,
    ReloadVerdict,
    RequestMessage,
    ToolCallReply,
    ToolCallRequest,
    UpgradeRequest,
    UpgradeResult,
    WorkerHello,
    WorkerState,
)

_log = logging.getLogger("ferrogate.ipc")


class ControlUnavailable(Exception):
    """The control process is not connected or did not answer in time; degrade, never hang."""


class ControlRequestError(Exception):
    """The control process answered a request with :class:`ErrorReply`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ControlClient:
    """A worker's connection to the control process.

    Serving never waits on it: :meth:`send` is fire-and-forget into a bounded
    queue (the oldest message is dropped when full, since newer state wins),
    and :meth:`request` fails fast with :class:`ControlUnavailable` while the
    control process is down. A background task connects, re-sends the hello
    and the last lifecycle state after every reconnect, writes queued messages
    in batches, and retries with exponential backoff.
    """

    __slots__ = (
        "_backoff_max",
        "_backoff_min",
        "_closing",
        "_connected",
        "_connects",
        "_dropped",
        "_hello",
        "_next_id",
        "_on_message",
        "_path",
        "_pending",
        "_queue",
        "_state",
        "_task",
        "_wakeup",
    )

    def __init__(
        self,
        path: str,
        hello: WorkerHello,
        *,
        queue_size: int = 1024,
        backoff_min: float = 0.05,
        backoff_max: float = 2.0,
        on_message: Callable[[Message], None] | None = None,
    ) -> None:
        self._path = path
        self._hello = hello
        self._queue: deque[Message] = deque(maxlen=queue_size)
        self._backoff_min = backoff_min
        self._backoff_max = backoff_max
        self._on_message = on_message
        self._wakeup = asyncio.Event()
        self._connected = asyncio.Event()
        self._pending: dict[int, asyncio.Future[Message]] = {}
        self._next_id = 0
        self._state: WorkerPhase | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._dropped = 0
        self._connects = 0

    # -- public surface

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def dropped(self) -> int:
        """Messages dropped because the queue was full."""
        return self._dropped

    @property
    def connects(self) -> int:
        """Successful connections so far (reconnects included)."""
        return self._connects

    def start(self) -> None:
        """Start the background connection task (call from inside the running loop)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="ipc-client")

    async def close(self) -> None:
        self._closing = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._fail_pending("control client closed")

    async def wait_connected(self, timeout: float) -> bool:
        """True once connected (hello sent), False if ``timeout`` passes first."""
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def set_state(self, state: WorkerPhase) -> None:
        """Report a lifecycle change; remembered and replayed after a reconnect."""
        self._state = state
        self.send(WorkerState(pid=self._hello.pid, state=state))

    def send(self, msg: Message) -> bool:
        """Queue ``msg`` without waiting. False when an older message had to be dropped."""
        full = len(self._queue) == self._queue.maxlen
        if full:
            self._dropped += 1
        self._queue.append(msg)
        self._wakeup.set()
        return not full

    @overload
    async def request(self, msg: ReloadRequest, timeout: float) -> ReloadVerdict: ...
    @overload
    async def request(self, msg: UpgradeRequest, timeout: float) -> UpgradeResult: ...
    @overload
    async def request(self, msg: ToolCallRequest, timeout: float) -> ToolCallReply: ...

    async def request(self, msg: RequestMessage, timeout: float) -> Message:
        """Send a request and wait for its reply (matched by id) for at most ``timeout`` s."""
        if not self.connected:
            raise ControlUnavailable("control process is not connected")
        self._next_id += 1
        rid = self._next_id
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        self.send(msgspec.structs.replace(msg, id=rid))
        try:
            reply = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise ControlUnavailable(f"control process did not answer within {timeout}s") from None
        finally:
            self._pending.pop(rid, None)
        if isinstance(reply, ErrorReply):
            raise ControlRequestError(reply.code, reply.message)
        return reply

    # -- connection loop

    async def _run(self) -> None:
        backoff = self._backoff_min
        while not self._closing:
            try:
                reader, writer = await asyncio.open_unix_connection(self._path)
            except OSError:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._backoff_max)
                continue
            backoff = self._backoff_min
            try:
                await self._session(reader, writer)
            except (OSError, FrameError) as exc:
                _log.debug("control connection lost: %s", exc)
            finally:
                self._connected.clear()
                self._fail_pending("control connection lost")
                writer.close()
            # A peer that accepts and hangs up at once must not become a hot loop.
            await asyncio.sleep(backoff)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        opening: list[Message] = [self._hello]
        if self._state is not None:
            opening.append(WorkerState(pid=self._hello.pid, state=self._state))
        write_messages(writer, opening)
        await writer.drain()
        self._connects += 1
        self._connected.set()
        reader_task = asyncio.get_running_loop().create_task(self._read_loop(reader))
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                if reader_task.done():
                    reader_task.result()  # re-raise a framing error
                    return
                if self._queue:
                    batch = list(self._queue)
                    self._queue.clear()
                    write_messages(writer, batch)
                    await writer.drain()
        finally:
            reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError, FrameError):
                await reader_task

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        try:
            while (msg := await read_message(reader)) is not None:
                if isinstance(msg, ReloadVerdict | ReloadResult | UpgradeResult | ToolCallReply | ErrorReply):
                    future = self._pending.pop(msg.id, None)
                    if future is not None and not future.done():
                        future.set_result(msg)
                elif self._on_message is not None:
                    try:
                        self._on_message(msg)
                    except Exception:
                        _log.exception("handler for %s failed", type(msg).__name__)
        finally:
            self._wakeup.set()  # let the writer notice the connection is gone

    def _fail_pending(self, reason: str) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(ControlUnavailable(reason))
