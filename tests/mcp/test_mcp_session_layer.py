"""The MCP session layer (ferrogate.mcp) against the real SDK test server, without a gateway:
listing, namespacing, the per-server lists, schema checks, results, timeouts, a server going
away and coming back, list_changed, reloads, secrets and a clean close.

Behaviours that depend on the transport run over stdio, streamable HTTP and SSE.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager
from typing import Any

import anyio
import msgspec
import pytest

from ferrogate.config.model import McpHeader, McpServer
from ferrogate.mcp.errors import (
    McpInvalidArguments,
    McpServerUnavailable,
    McpToolNotAllowed,
    McpToolTimeout,
    McpUnknownTool,
)
from ferrogate.mcp.session_pool import McpSessions
from tests.support.mcp_servers import (
    running_server,
    server_children,
    start_server,
    stdio_config,
    zombie_children,
)

pytestmark = pytest.mark.anyio

TRANSPORTS = ["stdio", "streamable_http", "sse"]
ALL = ["add", "echo", "fail", "slow", "grow"]
FAST = {"ping_interval_s": 0.3, "ping_timeout_s": 1.0, "connect_timeout_s": 5.0,
        "backoff_initial_s": 0.05, "backoff_max_s": 0.3}
SECRET = "mcp-header-secret-5f1e9a77"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


ConfigFactory = Callable[..., McpServer]


@pytest.fixture(params=TRANSPORTS)
def kit(request: pytest.FixtureRequest) -> Iterator[ConfigFactory]:
    """``kit(**keys)``: a config entry named ``kit`` for a test server on the parametrized transport."""
    if request.param == "stdio":
        yield lambda **keys: stdio_config("kit", **keys)
        return
    with running_server(request.param) as server:
        yield lambda **keys: server.config("kit", **keys)


@asynccontextmanager
async def sessions(*servers: McpServer, env: dict[str, str] | None = None) -> AsyncIterator[McpSessions]:
    pool = McpSessions(list(servers), env=env, **FAST)
    try:
        await pool.start()
        yield pool
    finally:
        await pool.stop()


async def until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``predicate`` on the event loop until truthy, or fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await anyio.sleep(0.02)
    return value


def _state(pool: McpSessions, name: str = "kit") -> str:
    return next(s.state for s in pool.status() if s.name == name)


# ---------------------------------------------------------------- listing and the lists


async def test_startup_lists_every_tool_namespaced_by_its_server(kit: ConfigFactory) -> None:
    async with sessions(kit()) as pool:
        assert sorted(t.name for t in pool.tools()) == sorted(f"kit-{n}" for n in ALL)
        (status,) = pool.status()
        assert (status.state, status.server_name, status.tool_count) == ("ready", "ferrogate-test-mcp", len(ALL))
        assert status.protocol_version and status.connected_since


async def test_tool_include_limits_what_is_listed_and_callable() -> None:
    async with sessions(stdio_config(tool_include=["add", "kit-echo"], tools_to_execute=["*"])) as pool:
        assert sorted(t.name for t in pool.tools()) == ["kit-add", "kit-echo"]
        with pytest.raises(McpUnknownTool) as err:
            await pool.call("kit-fail", {})
        assert err.value.status == 404


async def test_execution_is_denied_unless_tools_to_execute_names_the_tool() -> None:
    async with sessions(stdio_config(tools_to_execute=["echo"], tools_to_auto_execute=["echo", "add"])) as pool:
        flags = {t.name: (t.executable, t.auto_execute) for t in pool.tools()}
        assert flags["kit-echo"] == (True, True)
        assert flags["kit-add"] == (False, False)
        with pytest.raises(McpToolNotAllowed) as err:
            await pool.call("kit-add", {"a": 1, "b": 2})
        assert err.value.status == 403


async def test_an_unknown_server_or_tool_is_not_found() -> None:
    async with sessions(stdio_config(tools_to_execute=["*"])) as pool:
        for name in ("kit-nope", "other-add", "kit", "add"):
            with pytest.raises(McpUnknownTool):
                await pool.call(name, {})


async def test_a_server_name_with_a_dash_resolves_to_the_longest_server() -> None:
    async with sessions(stdio_config("my", tools_to_execute=["*"]), stdio_config("my-kit", tools_to_execute=["*"])) as pool:
        result = await pool.call("my-kit-echo", {"text": "long"})
        assert result.content == [{"type": "text", "text": "long"}]
        assert {t.server for t in pool.tools() if t.name == "my-kit-echo"} == {"my-kit"}


async def test_arguments_failing_the_input_schema_are_refused_naming_the_field() -> None:
    async with sessions(stdio_config(tools_to_execute=["add"])) as pool:
        with pytest.raises(McpInvalidArguments) as err:
            await pool.call("kit-add", {"a": 1, "b": "two"})
        assert err.value.status == 400
        assert err.value.param is not None and err.value.param.endswith(".b")
        with pytest.raises(McpInvalidArguments) as missing:
            await pool.call("kit-add", {"a": 1})
        assert "b" in missing.value.message


# ---------------------------------------------------------------- calls


async def test_a_tool_answers_its_content_structured_content_and_duration(kit: ConfigFactory) -> None:
    async with sessions(kit(tools_to_execute=["add"])) as pool:
        result = await pool.call("kit-add", {"a": 2, "b": 3})
        assert result.content == [{"type": "text", "text": "5"}]
        assert (result.is_error, result.structured_content) == (False, {"result": 5})
        assert result.duration_ms > 0
        assert msgspec.json.decode(msgspec.json.encode(result))["isError"] is False


async def test_a_tool_that_raises_is_an_error_result_not_an_exception(kit: ConfigFactory) -> None:
    async with sessions(kit(tools_to_execute=["fail"])) as pool:
        result = await pool.call("kit-fail", {})
        assert result.is_error
        assert "fail" in result.content[0]["text"]


async def test_a_slow_tool_times_out_within_its_timeout(kit: ConfigFactory) -> None:
    async with sessions(kit(tools_to_execute=["slow", "add"], timeout_ms=400)) as pool:
        started = time.monotonic()
        with pytest.raises(McpToolTimeout) as err:
            await pool.call("kit-slow", {"seconds": 5})
        assert err.value.status == 504
        assert time.monotonic() - started < 1.5
        assert (await pool.call("kit-add", {"a": 1, "b": 1})).content[0]["text"] == "2"


async def test_list_changed_is_picked_up_without_a_reload(kit: ConfigFactory) -> None:
    async with sessions(kit(tools_to_execute=["grow", "grown"])) as pool:
        assert "kit-grown" not in {t.name for t in pool.tools()}
        await pool.call("kit-grow", {})
        await until(lambda: "kit-grown" in {t.name for t in pool.tools()}, 5, "the grown tool to be listed")
        assert (await pool.call("kit-grown", {})).content[0]["text"] == "grown"


# ---------------------------------------------------------------- failure and recovery


@pytest.mark.slow
@pytest.mark.parametrize("transport", ["streamable_http", "sse"])
async def test_a_killed_http_server_is_unavailable_at_once_then_reconnects_by_itself(transport: Any) -> None:
    with ExitStack() as stack:
        server = start_server(transport)
        stack.callback(server.stop)
        port = server.port
        async with sessions(server.config("kit", tools_to_execute=["add"], timeout_ms=3000)) as pool:
            server.stop()
            started = time.monotonic()
            await until(lambda: _state(pool) == "down", 5, "the session to go down")
            with pytest.raises(McpServerUnavailable) as err:
                await pool.call("kit-add", {"a": 1, "b": 1})
            assert err.value.status == 503
            assert time.monotonic() - started < 3  # well under the 3 s timeout_ms plus detection
            restarted = start_server(transport, port=port)
            stack.callback(restarted.stop)
            await until(lambda: _state(pool) == "ready", 10, "the session to reconnect")
            assert (await pool.call("kit-add", {"a": 2, "b": 2})).content[0]["text"] == "4"
            assert pool.status()[0].reconnects >= 1


async def test_a_call_to_a_server_that_dies_mid_call_fails_fast() -> None:
    with running_server("streamable_http") as server:
        async with sessions(server.config("kit", tools_to_execute=["slow"], timeout_ms=10_000)) as pool:
            started = time.monotonic()
            async with anyio.create_task_group() as tg:
                outcome: list[BaseException] = []

                async def call() -> None:
                    try:
                        await pool.call("kit-slow", {"seconds": 20})
                    except Exception as exc:
                        outcome.append(exc)

                tg.start_soon(call)
                await anyio.sleep(0.3)
                server.proc.kill()
            assert outcome and isinstance(outcome[0], McpServerUnavailable), outcome
            assert time.monotonic() - started < 5


@pytest.mark.slow
async def test_a_killed_stdio_child_is_restarted_by_the_session() -> None:
    async with sessions(stdio_config(tools_to_execute=["add"])) as pool:
        (child,) = server_children(os.getpid())
        os.kill(child, 9)
        await until(lambda: _state(pool) == "down", 5, "the session to go down")
        with pytest.raises(McpServerUnavailable):
            await pool.call("kit-add", {"a": 1, "b": 1})
        await until(lambda: _state(pool) == "ready", 10, "a new child to be ready")
        assert (await pool.call("kit-add", {"a": 3, "b": 4})).content[0]["text"] == "7"
        assert server_children(os.getpid()) != [child]
        assert pool.status()[0].reconnects >= 1


# ---------------------------------------------------------------- reload, secrets, close


async def test_apply_opens_new_servers_closes_removed_ones_and_keeps_the_rest() -> None:
    one, two = stdio_config("one"), stdio_config("two")
    async with sessions(one) as pool:
        kept = pool.status()[0].connected_since
        await pool.apply([one, two])
        assert {s.name: s.state for s in pool.status()} == {"one": "ready", "two": "ready"}
        assert next(s.connected_since for s in pool.status() if s.name == "one") == kept
        assert len(server_children(os.getpid())) == 2
        await pool.apply([two])
        assert [s.name for s in pool.status()] == ["two"]
        assert {t.server for t in pool.tools()} == {"two"}
        assert len(server_children(os.getpid())) == 1


async def test_apply_restarts_a_server_whose_entry_changed() -> None:
    async with sessions(stdio_config(tools_to_execute=[])) as pool:
        await pool.apply([stdio_config(tools_to_execute=["echo"])])
        assert (await pool.call("kit-echo", {"text": "x"})).content == [{"type": "text", "text": "x"}]


@pytest.mark.parametrize("transport", ["streamable_http", "sse"])
async def test_a_header_secret_opens_the_server_and_never_shows(transport: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with running_server(transport, require_header=f"X-Api-Key={SECRET}") as server:
        headers = [McpHeader(name="X-Api-Key", value_env="FG_MCP_KEY")]
        good = server.config("good", auth_type="headers", headers=headers, tools_to_execute=["add"])
        bad = server.config("bad", auth_type="headers", headers=[McpHeader(name="X-Api-Key", value=SECRET + "-wrong")],
                            tools_to_execute=["add"])
        async with sessions(good, bad, env={"FG_MCP_KEY": SECRET}) as pool:
            states = {s.name: s for s in pool.status()}
            assert states["good"].state == "ready"
            assert states["bad"].state == "down" and states["bad"].last_error  # the SDK may not keep the 401
            with pytest.raises(McpUnknownTool) as err:  # never listed: its tools are not known yet
                await pool.call("bad-add", {"a": 1, "b": 1})
            shown = msgspec.json.encode(pool.status()).decode() + str(err.value) + err.value.message + caplog.text
            assert SECRET not in shown


async def test_close_leaves_no_child_process_behind() -> None:
    async with sessions(stdio_config("a"), stdio_config("b")):
        assert len(server_children(os.getpid())) == 2
    assert server_children(os.getpid()) == []
    assert zombie_children(os.getpid()) == []
