"""A small Redis client for the hot path: one pipelined RESP2 connection per worker.

Cluster mode asks Redis up to four things per request (admit, cache lookup, cache
store, settle). redis-py's asyncio client spent about 90 µs of gateway CPU on each
(a pooled connection checked out and back, a task per command, its reply parser),
so the governed route lost most of its throughput in Redis mode. Here every command
of a worker goes down one connection in order: a command is appended to an output
buffer that is written once per event-loop turn (the commands of concurrent
requests share one ``send()``), and replies, which Redis sends in the same order,
resolve the waiting futures first-in first-out.

Failures are quick and loud, never a hang: a command that finds no connection waits
for one connect attempt (``connect_timeout``); after a failed attempt, commands fail
at once for ``retry_after`` seconds; a connection whose oldest command has waited
``timeout`` seconds is closed, failing everything pending on it. Errors are
:class:`RedisUnavailable` (no answer) or :class:`RedisReplyError` (Redis said no).

URLs: see ``config.redis_url`` (``rediss://`` is TLS verified against the system's CAs).
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections import deque
from time import monotonic
from typing import cast

from ferrogate.config.redis_url import parse_redis_url
from ferrogate.ipc.redis_errors import RedisReplyError, RedisUnavailable
from ferrogate.ipc.resp import INCOMPLETE, Reply, encode_command, parse_reply

__all__ = ["RedisClient", "RedisReplyError", "RedisUnavailable", "Reply", "Script", "encode_command", "parse_reply"]


class _Connection(asyncio.Protocol):
    """One connection: commands out in order, replies back to their futures in the same order."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.pending: deque[tuple[asyncio.Future[Reply], float]] = deque()
        self.out: list[bytes] = []
        self.flush_scheduled = False
        self.paused = False  # the kernel's send buffer is full: hold the output until it drains
        self.buf = bytearray()
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio.Transport subclasses

    def send(self, data: bytes, deadline: float) -> asyncio.Future[Reply]:
        future: asyncio.Future[Reply] = self.loop.create_future()
        if self.closed:
            future.set_exception(RedisUnavailable("the connection to Redis was closed"))
            return future
        self.pending.append((future, deadline))
        self.out.append(data)
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        self.flush_scheduled = False
        if self.paused or not self.out or self.transport is None or self.closed:
            return
        data = self.out[0] if len(self.out) == 1 else b"".join(self.out)
        self.out.clear()
        self.transport.write(data)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._flush()

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        pos = 0
        pending = self.pending
        try:
            while pos < len(buf):
                reply, pos = parse_reply(buf, pos)
                if reply is INCOMPLETE:
                    break
                if not pending:
                    raise RedisUnavailable("Redis sent a reply nobody asked for")
                future, _ = pending.popleft()
                if future.done():  # its caller gave up (cancelled)
                    continue
                if isinstance(reply, RedisReplyError):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)
        except (RedisUnavailable, ValueError) as exc:
            self.fail(RedisUnavailable(f"Redis's answer could not be read: {exc}"))
            return
        del buf[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(RedisUnavailable("the connection to Redis was lost"))

    def overdue(self, now: float) -> bool:
        return bool(self.pending) and self.pending[0][1] < now

    def fail(self, exc: Exception) -> None:
        """Close the connection and fail every command still waiting on it."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
        while self.pending:
            future, _ = self.pending.popleft()
            if not future.done():
                future.set_exception(exc)
        self.out.clear()


class Script:
    """A Lua script run with EVALSHA (loaded on first use and after a Redis restart)."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source.encode()
        self.sha = hashlib.sha1(self.source, usedforsecurity=False).hexdigest().encode()


class RedisClient:
    """Commands to one Redis from one event loop (made on first use inside it)."""

    __slots__ = ("_conn", "_connecting", "_down_until", "_watch", "address", "connect_timeout", "retry_after", "timeout")

    def __init__(self, url: str, *, timeout: float = 1.0, connect_timeout: float = 0.5, retry_after: float = 0.25) -> None:
        self.address = parse_redis_url(url)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.retry_after = retry_after
        self._conn: _Connection | None = None
        self._connecting: asyncio.Future[_Connection] | None = None
        self._down_until = 0.0
        self._watch: asyncio.TimerHandle | None = None

    async def call(self, *args: bytes | str | int) -> Reply:
        """Send one command and wait for its reply."""
        conn = self._conn
        if conn is None or conn.closed:
            conn = await self._connected()
        return await conn.send(encode_command(args), monotonic() + self.timeout)

    def send(self, *args: bytes | str | int) -> asyncio.Future[Reply] | None:
        """Send one command without a coroutine (None when there is no connection now)."""
        conn = self._conn
        if conn is None or conn.closed:
            return None
        return conn.send(encode_command(args), monotonic() + self.timeout)

    async def run_script(self, script: Script, keys: list[bytes | str], args: list[bytes | str | int]) -> Reply:
        try:
            return await self.call(b"EVALSHA", script.sha, len(keys), *keys, *args)
        except RedisReplyError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
        await self.call(b"SCRIPT", b"LOAD", script.source)
        return await self.call(b"EVALSHA", script.sha, len(keys), *keys, *args)

    async def _connected(self) -> _Connection:
        if self._connecting is not None:
            return await asyncio.shield(self._connecting)
        loop = asyncio.get_running_loop()
        if loop.time() < self._down_until:
            raise RedisUnavailable("Redis was unreachable a moment ago")
        self._connecting = loop.create_future()
        try:
            conn = await asyncio.wait_for(self._open(loop), self.connect_timeout)
        except (TimeoutError, OSError, RedisReplyError) as exc:
            self._down_until = loop.time() + self.retry_after
            error = exc if isinstance(exc, RedisUnavailable) else RedisUnavailable(f"cannot connect to Redis: {type(exc).__name__}")
            self._connecting.set_exception(error)
            self._connecting.exception()  # retrieved: nobody else may be waiting
            self._connecting = None
            raise error from None
        self._conn = conn
        self._connecting.set_result(conn)
        self._connecting = None
        if self._watch is None:
            self._watch = loop.call_later(self.timeout / 4, self._check_overdue)
        return conn

    async def _open(self, loop: asyncio.AbstractEventLoop) -> _Connection:
        a = self.address
        conn: _Connection
        if a.path:
            _, conn = await loop.create_unix_connection(lambda: _Connection(loop), a.path)
        else:
            context = ssl.create_default_context() if a.tls else None
            _, conn = await loop.create_connection(
                lambda: _Connection(loop), a.host, a.port, ssl=context, server_hostname=a.host if a.tls else None
            )
        deadline = monotonic() + self.timeout
        if a.password is not None:
            auth: tuple[bytes | str, ...] = (b"AUTH", a.username, a.password) if a.username else (b"AUTH", a.password)
            await conn.send(encode_command(auth), deadline)
        if a.db:
            await conn.send(encode_command((b"SELECT", a.db)), deadline)
        return conn

    def _check_overdue(self) -> None:
        conn = self._conn
        if conn is not None and not conn.closed and conn.overdue(monotonic()):
            conn.fail(RedisUnavailable(f"Redis did not answer within {self.timeout:g}s"))
        self._watch = asyncio.get_running_loop().call_later(self.timeout / 4, self._check_overdue)

    async def close(self) -> None:
        """Close the connection once the commands already sent have their replies (bounded)."""
        conn = self._conn
        if conn is not None and conn.pending:
            waiting = [future for future, _ in conn.pending]
            await asyncio.wait(waiting, timeout=self.timeout)
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        conn = self._conn
        self._conn = None
        if conn is not None and not conn.closed:
            conn.closed = True
            if conn.transport is not None:
                conn.transport.close()
