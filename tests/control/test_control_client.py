"""ControlClient: a worker's link to the control process never blocks serving and heals itself."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

import pytest

from ferrogate import ipc

from .helpers import run, until

HELLO = ipc.WorkerHello(pid=4242, slot=1, generation=3, started_at=100.0, config_revision="rev1")


class FakeControl:
    """A minimal IPC peer: records what arrives and answers requests via ``reply``."""

    def __init__(
        self, path: str, reply: Callable[[ipc.Message], ipc.Message | None] | None = None
    ) -> None:
        self.path = path
        self.reply = reply
        self.received: list[ipc.Message] = []
        self.connections = 0
        self.writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._serve, path=self.path)

    async def stop(self) -> None:
        """Close the listener and every connection (idempotent)."""
        server, self._server = self._server, None
        for writer in self.writers:
            writer.close()
        if server is not None:
            server.close()
            await server.wait_closed()
        Path(self.path).unlink(missing_ok=True)

    async def __aenter__(self) -> FakeControl:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def of_type(self, kind: type) -> list[ipc.Message]:
        return [m for m in self.received if isinstance(m, kind)]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        with contextlib.suppress(OSError, ipc.FrameError):
            while (msg := await ipc.read_message(reader)) is not None:
                self.received.append(msg)
                answer = self.reply(msg) if self.reply else None
                if answer is not None:
                    ipc.write_messages(writer, [answer])
                    await writer.drain()
        writer.close()


@pytest.fixture
def sock_path(tmp_path: Path) -> str:
    return str(tmp_path / "control.sock")


class Harness:
    """Owns every fake control and client a scenario makes, and closes them all at the end."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._stack = contextlib.AsyncExitStack()

    async def control(
        self, reply: Callable[[ipc.Message], ipc.Message | None] | None = None
    ) -> FakeControl:
        control = FakeControl(self.path, reply)
        await control.start()
        self._stack.push_async_callback(control.stop)
        return control

    def client(self, **kwargs: object) -> ipc.ControlClient:
        client = ipc.ControlClient(self.path, HELLO, backoff_min=0.01, backoff_max=0.05, **kwargs)  # type: ignore[arg-type]
        self._stack.push_async_callback(client.close)
        client.start()
        return client

    async def __aenter__(self) -> Harness:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()


def test_client_connects_when_the_control_socket_appears_late_and_delivers_queued_messages(
    sock_path: str,
) -> None:
    async def scenario() -> None:
        async with Harness(sock_path) as h:
            client = h.client()
            client.send(ipc.Heartbeat(pid=HELLO.pid, ts=1.0, inflight=0, connections=0))
            assert not await client.wait_connected(0.1)
            control = await h.control()
            assert await client.wait_connected(5.0)
            await until(lambda: len(control.received) >= 2, what="hello + heartbeat")
            assert control.received[0] == HELLO
            assert isinstance(control.received[1], ipc.Heartbeat)

    run(scenario())


def test_client_reconnects_after_control_goes_away_and_replays_hello_and_state(
    sock_path: str,
) -> None:
    async def scenario() -> None:
        async with Harness(sock_path) as h:
            first = await h.control()
            client = h.client()
            assert await client.wait_connected(5.0)
            client.set_state(ipc.WorkerPhase.READY)
            await until(
                lambda: bool(first.of_type(ipc.WorkerState)), what="state on first connection"
            )
            await first.stop()
            await until(lambda: not client.connected, what="client to notice the loss")

            second = await h.control()
            assert await client.wait_connected(5.0)
            await until(lambda: len(second.received) >= 2, what="replayed hello + state")
            assert second.received[:2] == [HELLO, ipc.WorkerState(pid=HELLO.pid, state="ready")]
            assert client.connects == 2

    run(scenario())


def test_send_never_blocks_and_keeps_the_newest_messages_when_the_queue_is_full(
    sock_path: str,
) -> None:
    async def scenario() -> None:
        async with Harness(sock_path) as h:
            client = h.client(queue_size=2)
            results = [
                client.send(ipc.Heartbeat(pid=HELLO.pid, ts=float(i), inflight=i, connections=0))
                for i in range(5)
            ]
            assert results == [True, True, False, False, False]
            assert client.dropped == 3
            control = await h.control()
            await until(lambda: len(control.of_type(ipc.Heartbeat)) == 2, what="queued heartbeats")
            assert [m.ts for m in control.of_type(ipc.Heartbeat)] == [3.0, 4.0]  # type: ignore[attr-defined]

    run(scenario())


def test_request_fails_fast_while_control_is_down(sock_path: str) -> None:
    async def scenario() -> None:
        async with Harness(sock_path) as h:
            client = h.client()
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(ipc.ControlUnavailable):
                await client.request(ipc.UpgradeRequest(), timeout=5.0)
            assert loop.time() - started < 0.5

    run(scenario())


def _answer(msg: ipc.Message) -> ipc.Message | None:
    """A control that answers each upgrade request with a result naming the request's id."""
    if isinstance(msg, ipc.UpgradeRequest):
        return ipc.UpgradeResult(id=msg.id, ok=True, message=f"request {msg.id}")
    return None


def _refuse(msg: ipc.Message) -> ipc.Message | None:
    if isinstance(msg, ipc.UpgradeRequest):
        return ipc.ErrorReply(id=msg.id, code="busy", message="an upgrade is in flight")
    return None


def _ignore(msg: ipc.Message) -> ipc.Message | None:
    return None


def test_requests_are_matched_to_replies_by_id(sock_path: str) -> None:
    async def scenario() -> None:
        async with Harness(sock_path) as h:
            await h.control(_answer)
            client = h.client()
            assert await client.wait_connected(5.0)
            replies = await asyncio.gather(
                *(client.request(ipc.UpgradeRequest(), timeout=5.0) for _ in range(3))
            )
            assert [r.message for r in replies] == [f"request {r.id}" for r in replies]
            assert len({r.id for r in replies}) == 3

    run(scenario())


def test_error_reply_raises_control_request_error_with_its_code(sock_path: str) -> None:
    async def scenario() -> None:
        async with Harness(sock_path) as h:
            await h.control(_refuse)
            client = h.client()
            assert await client.wait_connected(5.0)
            with pytest.raises(ipc.ControlRequestError) as info:
                await client.request(ipc.UpgradeRequest(), timeout=5.0)
            assert info.value.code == "busy"

    run(scenario())


def test_unanswered_request_times_out_as_unavailable(sock_path: str) -> None:
    async def scenario() -> None:
        async with Harness(sock_path) as h:
            await h.control(_ignore)
            client = h.client()
            assert await client.wait_connected(5.0)
            with pytest.raises(ipc.ControlUnavailable, match="did not answer"):
                await client.request(ipc.UpgradeRequest(), timeout=0.1)

    run(scenario())


def test_pending_request_fails_when_the_connection_is_lost(sock_path: str) -> None:
    async def scenario() -> None:
        async with Harness(sock_path) as h:
            control = await h.control(_ignore)
            client = h.client()
            assert await client.wait_connected(5.0)
            pending = asyncio.ensure_future(client.request(ipc.UpgradeRequest(), timeout=10.0))
            await until(lambda: bool(control.of_type(ipc.UpgradeRequest)), what="request to arrive")
            await control.stop()
            with pytest.raises(ipc.ControlUnavailable, match="lost"):
                await pending

    run(scenario())


def test_pushed_messages_reach_the_on_message_callback(sock_path: str) -> None:
    async def scenario() -> None:
        async with Harness(sock_path) as h:
            control = await h.control()
            seen: list[ipc.Message] = []
            client = h.client(on_message=seen.append)
            assert await client.wait_connected(5.0)
            await until(lambda: bool(control.writers), what="server side of the connection")
            ipc.write_messages(control.writers[0], [ipc.DrainState(draining=True)])
            await until(lambda: bool(seen), what="drain broadcast")
            assert seen == [ipc.DrainState(draining=True)]

    run(scenario())
