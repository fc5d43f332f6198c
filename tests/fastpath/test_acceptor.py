"""Accepting connections in batches (libuv alone accepts one per loop turn)."""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from ferrogate._fastpath import acceptor as acceptor_module
from ferrogate._fastpath.acceptor import Acceptor

pytestmark = pytest.mark.anyio


class Counting(asyncio.Protocol):
    made: list[asyncio.BaseTransport]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.made.append(transport)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.setblocking(False)  # as Acceptor.start() leaves it
    try:
        yield sock
    finally:
        sock.close()


@contextmanager
def waiting_clients(listener: socket.socket, n: int) -> Iterator[list[asyncio.BaseTransport]]:
    """``n`` connections the kernel has completed and queued for accept(); yields the list the
    accepted connections' transports land in (``Counting.made``). Closes everything after."""
    clients = [socket.create_connection(listener.getsockname()) for _ in range(n)]
    made: list[asyncio.BaseTransport] = []
    Counting.made = made
    try:
        yield made
    finally:
        for t in made:
            t.close()
        for c in clients:
            c.close()


async def readiness(acc: Acceptor) -> None:
    """What the loop does when the listening socket is readable, then the hand-overs finish."""
    acc._on_readable()
    await acc.wait_closed()


async def test_one_readiness_accepts_every_waiting_connection(listener: socket.socket) -> None:
    with waiting_clients(listener, 10) as made:
        await readiness(Acceptor(asyncio.get_running_loop(), listener, Counting))
        assert len(made) == 10


async def test_a_readiness_accepts_at_most_one_batch(listener: socket.socket) -> None:
    with waiting_clients(listener, 5) as made:
        acc = Acceptor(asyncio.get_running_loop(), listener, Counting, batch=3)
        await readiness(acc)
        assert len(made) == 3
        await readiness(acc)
        assert len(made) == 5


async def test_close_stops_accepting_and_closes_the_listening_socket(listener: socket.socket) -> None:
    acc = Acceptor(asyncio.get_running_loop(), listener, Counting)
    acc.start()
    acc.close()
    assert listener.fileno() == -1
    acc.close()  # twice is harmless


class _Exhausted:
    """A listening socket whose accept() fails as a process out of descriptors does."""

    def __init__(self, real: socket.socket) -> None:
        self.real = real

    def fileno(self) -> int:
        return self.real.fileno()

    def setblocking(self, flag: bool) -> None:
        self.real.setblocking(flag)

    def accept(self) -> tuple[socket.socket, object]:
        raise OSError(errno.EMFILE, "Too many open files")

    def close(self) -> None:
        self.real.close()


async def test_running_out_of_descriptors_pauses_accepting_then_resumes(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(acceptor_module, "RETRY_AFTER_EXHAUSTION_SECS", 0.01)
    loop = asyncio.get_running_loop()
    acc = Acceptor(loop, _Exhausted(listener), Counting)  # type: ignore[arg-type]
    acc.start()
    acc._on_readable()
    assert acc._paused is not None  # not spinning on a socket it cannot serve
    resumed = loop.create_future()
    loop.call_later(0.05, resumed.set_result, None)
    await resumed
    assert acc._paused is None
    acc.close()
