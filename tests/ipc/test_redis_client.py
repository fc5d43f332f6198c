"""The hot path's Redis client: pipelined commands answered in order, quick failures that
never hang, recovery when Redis returns, and URLs parsed at load."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

import pytest
import redis
import uvloop

from ferrogate.config.redis_url import RedisAddress, parse_redis_url
from ferrogate.ipc.redis_client import (
    RedisClient,
    RedisReplyError,
    RedisUnavailable,
    Script,
    _Connection,
)
from tests.support.redis_server import RedisServer

T = TypeVar("T")


def _run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return uvloop.run(main())


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("unix:///run/redis.sock", RedisAddress(path="/run/redis.sock")),
        ("unix:///run/redis.sock?db=3", RedisAddress(path="/run/redis.sock", db=3)),
        ("redis://cache.internal", RedisAddress(host="cache.internal")),
        ("redis://:s3cret@10.0.0.5:6380/2", RedisAddress(host="10.0.0.5", port=6380, password="s3cret", db=2)),
        ("redis://gw:p%40ss@h:1", RedisAddress(host="h", port=1, username="gw", password="p@ss")),
        ("rediss://h", RedisAddress(host="h", tls=True)),
    ],
)
def test_redis_urls_name_host_socket_login_and_database(url: str, address: RedisAddress) -> None:
    assert parse_redis_url(url) == address


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://h", "starts with redis://"),
        ("redis://", "needs a host"),
        ("redis://h:99999", "port"),
        ("redis://h/zero", "must be a number"),
        ("unix://", "socket's path"),
    ],
)
def test_a_bad_redis_url_is_refused_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_redis_url(url)


def test_replies_split_at_every_byte_reach_their_commands_in_order() -> None:
    stream = b"+OK\r\n:42\r\n$5\r\nhello\r\n$-1\r\n*3\r\n:1\r\n$2\r\nhi\r\n*1\r\n:7\r\n-ERR wrong\r\n"

    async def go() -> list[object]:
        conn = _Connection(asyncio.get_running_loop())
        conn.flush_scheduled = True  # nothing is written: no transport in this test
        futures = [conn.send(b"", time.monotonic() + 5) for _ in range(6)]
        for i in range(len(stream)):
            conn.data_received(stream[i : i + 1])
        return [f.exception() or f.result() for f in futures]

    ok, number, bulk, nil, array, error = _run(go())
    assert (ok, number, bulk, nil, array) == (b"OK", 42, b"hello", None, [1, b"hi", [7]])
    assert isinstance(error, RedisReplyError) and str(error) == "ERR wrong"


def test_concurrent_commands_share_one_connection_and_get_their_own_replies(redis_server: RedisServer) -> None:
    async def go() -> list[object]:
        client = RedisClient(redis_server.url, timeout=10, connect_timeout=10)  # a busy box must not fail this
        try:
            await asyncio.gather(*(client.call(b"SET", f"k{i}", f"v{i}") for i in range(500)))
            return list(await asyncio.gather(*(client.call(b"GET", f"k{i}") for i in range(500))))
        finally:
            await client.close()

    assert _run(go()) == [f"v{i}".encode() for i in range(500)]


def test_a_script_is_loaded_again_after_redis_forgets_it(redis_server: RedisServer) -> None:
    script = Script("return tonumber(ARGV[1]) + 1")

    async def go() -> tuple[object, object]:
        client = RedisClient(redis_server.url, timeout=10, connect_timeout=10)
        try:
            first = await client.run_script(script, [], [41])
            await client.call(b"SCRIPT", b"FLUSH")
            return first, await client.run_script(script, [], [1])
        finally:
            await client.close()

    assert _run(go()) == (42, 2)


def test_an_unreachable_redis_fails_fast_and_never_shows_the_password(tmp_path: Path) -> None:
    async def go() -> tuple[str, float]:
        client = RedisClient(f"unix://:hunter2secret@localhost{tmp_path}/nobody.sock")
        start = time.monotonic()
        try:
            await client.call(b"PING")
        except RedisUnavailable as exc:
            return str(exc), time.monotonic() - start
        finally:
            await client.close()
        raise AssertionError("PING succeeded without a server")

    message, took = _run(go())
    assert took < 1.0
    assert "hunter2secret" not in message


def test_a_redis_that_never_answers_fails_the_command_within_its_timeout(tmp_path: Path) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # accepts into its backlog, never replies
    listener.bind(str(tmp_path / "mute.sock"))
    listener.listen(8)

    async def go() -> float:
        client = RedisClient(f"unix://{tmp_path}/mute.sock", timeout=0.4)
        start = time.monotonic()
        try:
            with pytest.raises(RedisUnavailable, match="did not answer"):
                await client.call(b"PING")
            return time.monotonic() - start
        finally:
            await client.close()

    try:
        assert _run(go()) < 2.0
    finally:
        listener.close()


def test_service_resumes_when_redis_comes_back(tmp_path: Path) -> None:
    server = RedisServer(tmp_path)

    async def go() -> object:
        client = RedisClient(server.url, retry_after=0.05, connect_timeout=10)
        try:
            with pytest.raises(RedisUnavailable):
                await client.call(b"PING")
            await asyncio.to_thread(server.start)
            await asyncio.sleep(0.1)  # past retry_after: the next command connects again
            return await client.call(b"PING")
        finally:
            await client.close()

    try:
        assert _run(go()) == b"PONG"
    finally:
        server.stop()


def test_a_password_in_the_url_logs_in(redis_server: RedisServer) -> None:
    with redis.Redis(unix_socket_path=str(redis_server.socket)) as admin:
        admin.config_set("requirepass", "opensesame")

    async def go() -> tuple[object, BaseException | None]:
        with_password = RedisClient(f"unix://:opensesame@localhost{redis_server.socket}", connect_timeout=10)
        without = RedisClient(redis_server.url, connect_timeout=10)
        try:
            answer = await with_password.call(b"PING")
            try:
                await without.call(b"PING")
                refused = None
            except RedisReplyError as exc:
                refused = exc
            return answer, refused
        finally:
            await with_password.close()
            await without.close()

    answer, refused = _run(go())
    assert answer == b"PONG"
    assert refused is not None and "NOAUTH" in str(refused)
