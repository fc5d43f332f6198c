"""The control process's end of the IPC unix socket.

Workers and the supervisor connect to the same socket; the first frame says
who is speaking (:class:`WorkerHello` or :class:`SupervisorHello`). Each
connection is read by one task that decodes frames into the typed union and
dispatches on the type; replies and broadcasts are written back in batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
from collections.abc import Awaitable, Callable
from typing import Literal

from ferrogate.control.state import ControlState
from ferrogate.ipc import (
    DrainState,
    FrameError,
    Heartbeat,
    Message,
    ProviderHealth,
    RecordBatch,
    ReloadResult,
    ReloadVerdict,
    SupervisorHello,
    SupervisorStatus,
    ToolCallReply,
    ToolCallRequest,
    ToolSessionNote,
    UpgradeResult,
    WorkerHello,
    WorkerState,
    read_message,
    write_messages,
)

_log = logging.getLogger("ferrogate.control.ipc")

PeerKind = Literal["unknown", "worker", "supervisor"]


class Peer:
    """One IPC connection (a worker or the supervisor)."""

    __slots__ = ("kind", "pid", "writer")

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.kind: PeerKind = "unknown"
        self.pid = 0

    def send(self, msgs: list[Message]) -> None:
        if not self.writer.is_closing():
            write_messages(self.writer, msgs)


class IpcServer:
    """Serves the IPC socket and keeps :class:`ControlState` current."""

    __slots__ = (
        "_calls",
        "_greeting",
        "_inode",
        "_on_heartbeat",
        "_on_records",
        "_on_reload_verdict",
        "_on_supervisor_lost",
        "_on_supervisor_status",
        "_on_tool_call",
        "_on_tool_note",
        "_path",
        "_peers",
        "_server",
        "_state",
        "_tasks",
    )

    def __init__(
        self,
        state: ControlState,
        *,
        on_supervisor_status: Callable[[SupervisorStatus], None] | None = None,
        on_reload_verdict: Callable[[ReloadVerdict], None] | None = None,
        on_supervisor_lost: Callable[[], None] | None = None,
        greeting: Callable[[], list[Message]] | None = None,
        on_records: Callable[[RecordBatch], None] | None = None,
        on_heartbeat: Callable[[Heartbeat], None] | None = None,
        on_tool_call: Callable[[ToolCallRequest], Awaitable[ToolCallReply]] | None = None,
        on_tool_note: Callable[[ToolSessionNote], None] | None = None,
    ) -> None:
        self._state = state
        self._on_tool_call = on_tool_call
        self._on_tool_note = on_tool_note
        self._on_records = on_records
        self._on_heartbeat = on_heartbeat
        # What a worker is sent after its hello besides the drain flag (the current API keys).
        self._greeting = greeting
        self._on_supervisor_status = on_supervisor_status
        self._on_reload_verdict = on_reload_verdict
        self._on_supervisor_lost = on_supervisor_lost
        self._peers: set[Peer] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._calls: set[asyncio.Task[None]] = set()  # tool calls running for workers
        self._server: asyncio.AbstractServer | None = None
        self._path = ""
        self._inode: int | None = None

    @property
    def supervisor(self) -> Peer | None:
        for peer in self._peers:
            if peer.kind == "supervisor":
                return peer
        return None

    @property
    def worker_count(self) -> int:
        return sum(1 for p in self._peers if p.kind == "worker")

    async def start(self, path: str) -> None:
        """Listen on ``path`` (owner-only). A stale socket file is replaced; a live one is an error."""
        _remove_stale_socket(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # Owner-only from the moment the file exists (no chmod race); this process has no threads.
        previous = os.umask(0o177)
        try:
            sock.bind(path)
        except OSError:
            sock.close()
            raise
        finally:
            os.umask(previous)
        sock.listen(128)
        self._server = await asyncio.start_unix_server(self._serve, sock=sock)
        self._path = path
        self._inode = os.stat(path).st_ino

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for peer in list(self._peers):
            peer.writer.close()
        for task in [*self._tasks, *self._calls]:
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        # Unlink only our own socket file: a successor generation may already own the path.
        with contextlib.suppress(OSError):
            if self._inode is not None and os.stat(self._path).st_ino == self._inode:
                os.unlink(self._path)

    def broadcast_workers(self, msg: Message) -> int:
        """Send ``msg`` to every connected worker; the number reached."""
        reached = 0
        for peer in self._peers:
            if peer.kind == "worker":
                peer.send([msg])
                reached += 1
        return reached

    def send_supervisor(self, msg: Message) -> bool:
        peer = self.supervisor
        if peer is None:
            return False
        peer.send([msg])
        return True

    # -- per connection

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        peer = Peer(writer)
        self._peers.add(peer)
        try:
            while (msg := await read_message(reader)) is not None:
                self._dispatch(peer, msg)
                await writer.drain()
        except (FrameError, OSError) as exc:
            _log.warning("dropping IPC peer pid=%s (%s): %s", peer.pid, peer.kind, exc)
        except asyncio.CancelledError:
            # close() ends every peer's task. Ending normally here, not cancelled: asyncio's
            # stream server callback (3.11) asks the task for its exception and would log a
            # cancelled one as an error on every shutdown.
            pass
        finally:
            self._peers.discard(peer)
            self._tasks.discard(task)
            if peer.kind == "worker":
                self._state.on_worker_disconnect(peer.pid)
            elif peer.kind == "supervisor" and self.supervisor is None:
                self._state.supervisor_connected = False
                if self._on_supervisor_lost is not None:
                    self._on_supervisor_lost()
            writer.close()

    def _run_tool_call(self, peer: Peer, msg: ToolCallRequest) -> None:
        """Run a worker's tool call in a task of its own; the reply goes back to that worker."""
        handler = self._on_tool_call
        if handler is None:
            peer.send([_tool_call_unavailable(msg)])
            return

        async def run() -> None:
            try:
                reply = await handler(msg)
            except Exception:
                _log.exception("tool call %s failed", msg.name)
                reply = ToolCallReply(id=msg.id, status=500, code="internal_error", message="the tool call failed in the gateway")
            peer.send([reply])

        task = asyncio.get_running_loop().create_task(run(), name=f"tool-call:{msg.name}")
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)

    def _dispatch(self, peer: Peer, msg: Message) -> None:
        state = self._state
        match msg:
            case WorkerHello():
                peer.kind, peer.pid = "worker", msg.pid
                state.on_worker_hello(msg)
                extra = self._greeting() if self._greeting is not None else []
                peer.send([DrainState(draining=state.draining), *extra])
            case SupervisorHello():
                peer.kind, peer.pid = "supervisor", msg.pid
                state.supervisor_connected = True
            case WorkerState():
                state.on_worker_state(msg)
            case Heartbeat():
                state.on_heartbeat(msg)
                if self._on_heartbeat is not None:
                    self._on_heartbeat(msg)
            case RecordBatch():
                if self._on_records is not None:
                    self._on_records(msg)
            case ProviderHealth():
                state.on_provider_health(msg)
            case ToolCallRequest():
                self._run_tool_call(peer, msg)
            case ToolSessionNote():
                if self._on_tool_note is not None:
                    self._on_tool_note(msg)
            case SupervisorStatus():
                peer.kind, peer.pid = "supervisor", msg.pid
                state.on_supervisor_status(msg)
                if self._on_supervisor_status is not None:
                    self._on_supervisor_status(msg)
            case ReloadVerdict():
                if self._on_reload_verdict is not None:
                    self._on_reload_verdict(msg)
            case ReloadResult():
                outcome = msg.outcome
                state.note_reload_outcome(msg.id, outcome)
                if not outcome.ok:
                    _log.warning(
                        "supervisor rejected reload %s: %s",
                        outcome.revision,
                        "; ".join(outcome.errors),
                    )
            case UpgradeResult():
                _log.info("graceful upgrade %s: %s", "started" if msg.ok else "failed", msg.message)
            case _:
                _log.warning("unexpected IPC message %s from pid=%s", type(msg).__name__, peer.pid)


def _tool_call_unavailable(msg: ToolCallRequest) -> ToolCallReply:
    return ToolCallReply(id=msg.id, status=503, code="mcp_unavailable", message="no MCP server is configured")


def _remove_stale_socket(path: str) -> None:
    """Unlink ``path`` if it is a socket nobody listens on; refuse if someone does."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise OSError(f"{path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    finally:
        probe.close()
    raise OSError(f"another control process is listening on {path}")
