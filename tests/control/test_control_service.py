"""The control process's servers in-process: a real IPC unix socket, a real admin listener
on 127.0.0.1:0, a real worker ControlClient and a fake supervisor, driven with httpx."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson

from ferrogate import ipc
from ferrogate.config.load import load
from ferrogate.control.main import ControlService

from .helpers import run, until

TOKEN = "tok-abcdef-123456"
ENV = {"FG_ADMIN_TOKEN": TOKEN, "FERROGATE_NODE_ID": "edge-9"}
AUTH = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}


def _config(service_name: str = "ferrogate") -> str:
    return textwrap.dedent(
        f"""
        listen = "127.0.0.1:0"
        [admin]
        listen = "127.0.0.1:0"
        token_env = "FG_ADMIN_TOKEN"
        [telemetry]
        service_name = "{service_name}"
        [[providers]]
        name = "p"
        kind = "openai"
        api_key = "sk-never-shown-777"
        """
    )


def _admin_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.setblocking(False)
    return sock


Answer = Callable[[ipc.Message], "ipc.Message | None"]


class FakeSupervisor:
    """The supervisor's side of the IPC socket: hello, status pushes, what control sends, and
    ``answer``'s reply to each message (a reload verdict, say)."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, answer: Answer | None
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.answer = answer
        self.received: list[ipc.Message] = []
        self._task = asyncio.ensure_future(self._read())

    @classmethod
    async def connect(cls, path: str, answer: Answer | None = None) -> FakeSupervisor:
        reader, writer = await asyncio.open_unix_connection(path)
        sup = cls(reader, writer, answer)
        await sup.send(ipc.SupervisorHello(pid=os.getpid(), generation=4))
        return sup

    async def send(self, msg: ipc.Message) -> None:
        ipc.write_messages(self.writer, [msg])
        await self.writer.drain()

    async def push_status(
        self, revision: str, config_path: Path, workers: list[ipc.WorkerSlotInfo]
    ) -> None:
        await self.send(
            ipc.SupervisorStatus(
                pid=os.getpid(),
                generation=4,
                started_at=0.0,
                phase="running",
                config_revision=revision,
                config_path=str(config_path),
                expected_workers=1,
                workers=workers,
            )
        )

    async def _read(self) -> None:
        with contextlib.suppress(OSError, ipc.FrameError):
            while (msg := await ipc.read_message(self.reader)) is not None:
                self.received.append(msg)
                reply = self.answer(msg) if self.answer is not None else None
                if reply is not None:
                    await self.send(reply)

    async def close(self) -> None:
        self.writer.close()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class Node:
    """A running ControlService plus its clients, all closed at exit."""

    def __init__(self, tmp: Path) -> None:
        self.config_path = tmp / "gateway.toml"
        self.config_path.write_text(_config())
        self.ipc_path = str(tmp / "control.sock")
        self.admin = _admin_socket()
        self.service = ControlService(
            load(self.config_path, env=ENV).config,
            self.config_path,
            4,
            supervisor_pid=None,
            env=ENV,
        )
        self.base_url = f"http://127.0.0.1:{self.admin.getsockname()[1]}"
        self.stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> Node:
        await self.service.start(self.admin, self.ipc_path)
        self.stack.push_async_callback(self.service.stop, 1.0)
        self.http = await self.stack.enter_async_context(
            httpx.AsyncClient(base_url=self.base_url, timeout=5.0)
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stack.aclose()
        self.admin.close()

    async def supervisor(self, answer: Answer | None = None) -> FakeSupervisor:
        sup = await FakeSupervisor.connect(self.ipc_path, answer)
        self.stack.push_async_callback(sup.close)
        return sup

    async def worker(self, pid: int, seen: list[ipc.Message] | None = None) -> ipc.ControlClient:
        hello = ipc.WorkerHello(
            pid=pid,
            slot=0,
            generation=4,
            started_at=0.0,
            config_revision=self.service.state.revision,
        )
        client = ipc.ControlClient(
            self.ipc_path,
            hello,
            backoff_min=0.01,
            on_message=(seen.append if seen is not None else None),
        )
        self.stack.push_async_callback(client.close)
        client.start()
        assert await client.wait_connected(5.0)
        return client


async def _node_scenario(tmp: Path, body: object) -> None:
    async with Node(tmp) as node:
        await body(node)  # type: ignore[operator]


def test_status_over_http_joins_the_supervisor_table_with_worker_heartbeats(tmp_path: Path) -> None:
    async def body(node: Node) -> None:
        assert (await node.http.get("/readyz")).status_code == 503
        sup = await node.supervisor()
        worker = await node.worker(pid=31337)
        worker.set_state(ipc.WorkerPhase.READY)
        worker.send(ipc.Heartbeat(pid=31337, ts=0.0, inflight=2, connections=5))
        row = ipc.WorkerSlotInfo(slot=0, pid=31337, generation=4, state="starting", started_at=0.0)
        await sup.push_status(node.service.state.revision, node.config_path, [row])
        await until(lambda: node.service.state.readiness()[0], what="readiness")

        resp = await node.http.get("/admin/v1/status", headers=AUTH)
        assert resp.status_code == 200
        status = resp.json()
        assert (status["node_id"], status["generation"], status["pid"]) == (
            "edge-9",
            4,
            os.getpid(),
        )
        assert status["config_source"] == str(node.config_path)
        assert status["supervisor"]["pid"] == os.getpid()
        [w] = status["workers"]
        assert (w["slot"], w["pid"], w["state"], w["inflight"], w["connections"]) == (
            0,
            31337,
            "ready",
            2,
            5,
        )
        assert (await node.http.get("/readyz")).json() == {
            "status": "ready",
            "reason": "1 of 1 worker slots ready",
        }
        assert b"sk-never-shown-777" not in resp.content and TOKEN.encode() not in resp.content

    run(_node_scenario(tmp_path, body))


def test_admin_token_is_enforced_on_the_real_listener(tmp_path: Path) -> None:
    async def body(node: Node) -> None:
        assert (await node.http.get("/healthz")).status_code == 200
        denied = await node.http.get("/admin/v1/status", headers={"authorization": "Bearer nope"})
        assert denied.status_code == 401
        assert denied.headers["www-authenticate"] == "Bearer"
        assert denied.json()["error"]["code"] == "invalid_admin_token"
        assert TOKEN not in denied.text

    run(_node_scenario(tmp_path, body))


def _verdict(valid: bool, errors: list[str] | None = None) -> Answer:
    """A supervisor that answers each reload request with this verdict."""

    def answer(msg: ipc.Message) -> ipc.Message | None:
        if not isinstance(msg, ipc.ReloadRequest):
            return None
        revision = "rev-new" if valid else ""
        return ipc.ReloadVerdict(
            id=msg.id, valid=valid, revision=revision, previous_revision="rev-old", errors=errors or []
        )

    return answer


def test_the_supervisors_verdict_on_an_invalid_config_is_relayed_as_422_with_every_error(
    tmp_path: Path,
) -> None:
    errors = ["gateway.toml:3:1: unknown key `nope`", "gateway.toml:2:1: admin.listen: expected a string"]

    async def body(node: Node) -> None:
        sup = await node.supervisor(_verdict(False, errors))
        await until(lambda: node.service.ipc.supervisor is not None, what="supervisor registration")
        resp = await node.http.post("/admin/v1/config/reload", headers=AUTH, content=b"{}")
        assert resp.status_code == 422
        assert resp.json()["error"]["message"].splitlines()[1:] == errors
        assert [type(m) for m in sup.received if not isinstance(m, ipc.SupervisorHello)] == [
            ipc.ReloadRequest
        ]

    run(_node_scenario(tmp_path, body))


def test_a_valid_reload_is_202_with_the_supervisors_revision_and_its_result_is_recorded(
    tmp_path: Path,
) -> None:
    async def body(node: Node) -> None:
        sup = await node.supervisor(_verdict(True))
        await until(lambda: node.service.ipc.supervisor is not None, what="supervisor registration")
        resp = await node.http.post("/admin/v1/config/reload", headers=AUTH)
        assert resp.status_code == 202
        assert (resp.json()["revision"], resp.json()["previous_revision"]) == ("rev-new", "rev-old")
        assert resp.json()["delivered_via"] == "ipc"
        [request] = [m for m in sup.received if isinstance(m, ipc.ReloadRequest)]

        outcome = ipc.ReloadOutcome(ok=False, revision="rev-old", errors=["rolled back"])
        await sup.send(ipc.ReloadResult(id=request.id, outcome=outcome))
        await until(
            lambda: node.service.state.last_reload is not None
            and node.service.state.last_reload.outcome == "failed",
            what="the outcome recorded",
        )
        status = (await node.http.get("/admin/v1/status", headers=AUTH)).json()
        assert status["last_reload"]["revision"] == "rev-new"
        assert status["last_reload"]["errors"] == ["rolled back"]

    run(_node_scenario(tmp_path, body))


def test_an_outcome_sent_right_behind_its_verdict_still_settles_the_reload(tmp_path: Path) -> None:
    """A refusal the supervisor makes at once (a changed listen) arrives in the same read as
    the verdict, before the admin handler resumes: the status must still record it."""

    def verdict_and_refusal(msg: ipc.Message) -> list[ipc.Message]:
        assert isinstance(msg, ipc.ReloadRequest)
        refusal = ipc.ReloadOutcome(ok=False, revision="rev-new", errors=["listen changed: use --graceful-upgrade"])
        return [
            ipc.ReloadVerdict(id=msg.id, valid=True, revision="rev-new", previous_revision="rev-old"),
            ipc.ReloadResult(id=msg.id, outcome=refusal),
        ]

    async def body(node: Node) -> None:
        sup = await node.supervisor()
        await until(lambda: node.service.ipc.supervisor is not None, what="supervisor registration")
        posted = asyncio.ensure_future(node.http.post("/admin/v1/config/reload", headers=AUTH))
        await until(lambda: any(isinstance(m, ipc.ReloadRequest) for m in sup.received), what="the reload request")
        [request] = [m for m in sup.received if isinstance(m, ipc.ReloadRequest)]
        ipc.write_messages(sup.writer, verdict_and_refusal(request))  # one write: one read on the other side
        await sup.writer.drain()
        assert (await posted).status_code == 202
        status = (await node.http.get("/admin/v1/status", headers=AUTH)).json()
        assert status["last_reload"]["outcome"] == "failed"
        assert status["last_reload"]["errors"] == ["listen changed: use --graceful-upgrade"]

    run(_node_scenario(tmp_path, body))


def test_a_reload_asked_before_the_supervisor_link_is_up_waits_for_it(tmp_path: Path) -> None:
    async def body(node: Node) -> None:
        posted = asyncio.ensure_future(node.http.post("/admin/v1/config/reload", headers=AUTH))
        await asyncio.sleep(0.3)  # the request is waiting for a link that is not there yet
        await node.supervisor(_verdict(True))
        resp = await posted
        assert resp.status_code == 202 and resp.json()["delivered_via"] == "ipc"
        assert resp.json()["revision"] == "rev-new"

    run(_node_scenario(tmp_path, body))


def test_reload_is_503_when_the_supervisor_goes_before_its_verdict(tmp_path: Path) -> None:
    async def body(node: Node) -> None:
        sup = await node.supervisor()
        await until(lambda: node.service.ipc.supervisor is not None, what="supervisor registration")
        reload = asyncio.ensure_future(node.http.post("/admin/v1/config/reload", headers=AUTH))
        await until(
            lambda: any(isinstance(m, ipc.ReloadRequest) for m in sup.received), what="the request"
        )
        await sup.close()
        resp = await reload
        assert resp.status_code == 503
        assert resp.json()["error"]["code"] == "supervisor_unavailable"

    run(_node_scenario(tmp_path, body))


def test_drain_reaches_workers_and_the_supervisor(tmp_path: Path) -> None:
    async def body(node: Node) -> None:
        sup = await node.supervisor()
        seen: list[ipc.Message] = []
        await node.worker(pid=4040, seen=seen)
        await until(lambda: ipc.DrainState(draining=False) in seen, what="initial drain state")
        await until(lambda: node.service.ipc.supervisor is not None, what="supervisor registration")
        resp = await node.http.post("/admin/v1/drain", headers=AUTH)
        assert resp.json()["draining"] is True
        await until(
            lambda: ipc.DrainState(draining=True) in seen, what="drain broadcast to the worker"
        )
        await until(
            lambda: ipc.DrainState(draining=True) in sup.received,
            what="drain sent to the supervisor",
        )
        assert (await node.http.get("/readyz")).status_code == 503

    run(_node_scenario(tmp_path, body))


def test_a_restarted_control_process_restores_the_drain_flag_from_the_supervisor(
    tmp_path: Path,
) -> None:
    async def body(node: Node) -> None:
        sup = await node.supervisor()
        await sup.send(
            ipc.SupervisorStatus(
                pid=os.getpid(),
                generation=4,
                started_at=0.0,
                phase="running",
                config_revision=node.service.state.revision,
                config_path=str(node.config_path),
                expected_workers=1,
                workers=[],
                draining=True,
            )
        )
        await until(lambda: node.service.state.draining, what="drain flag restored")

    run(_node_scenario(tmp_path, body))


def test_stopping_the_service_removes_its_ipc_socket(tmp_path: Path) -> None:
    async def scenario() -> None:
        node = Node(tmp_path)
        async with node:
            assert Path(node.ipc_path).exists()
        assert not Path(node.ipc_path).exists()

    run(scenario())


def test_a_second_control_process_refuses_a_live_ipc_path(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Node(tmp_path) as node:
            other = ControlService(
                node.service.state.config, node.config_path, 5, supervisor_pid=None, env=ENV
            )
            try:
                await other.start(None, node.ipc_path)
            except OSError as exc:
                assert "another control process" in str(exc)
            else:
                raise AssertionError("a second control process took over a live socket")

    run(scenario())


# --------------------------------------------------------------------------- run_control as a real process

_CHILD = """
import socket, sys
from pathlib import Path
from ferrogate.config.load import load_config
from ferrogate.control.main import run_control
path = Path(sys.argv[1])
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.bind(("127.0.0.1", 0))
sock.listen(16)
print(sock.getsockname()[1], flush=True)
sys.exit(run_control(load_config(path), path, sock, sys.argv[2], 1, expected_workers=1))
"""


def test_run_control_serves_until_sigterm_then_exits_cleanly(tmp_path: Path) -> None:
    config_path = tmp_path / "gateway.toml"
    config_path.write_text('listen = "127.0.0.1:0"\n[admin]\nlisten = "127.0.0.1:0"\n')
    ipc_path = tmp_path / "control.sock"
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(config_path), str(ipc_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        resp = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10.0)
        assert resp.status_code == 200 and orjson.loads(resp.content) == {"status": "ok"}
        assert ipc_path.exists()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == ipc.ExitCode.OK
        assert not ipc_path.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


_HUP_CATCHER = """
import signal, sys
signal.signal(signal.SIGHUP, lambda *_: (print("HUP", flush=True), sys.exit(0)))
print("ready", flush=True)
signal.pause()
"""


def test_reload_falls_back_to_sighup_when_the_supervisor_has_no_ipc_link(tmp_path: Path) -> None:
    catcher = subprocess.Popen(
        [sys.executable, "-c", _HUP_CATCHER], stdout=subprocess.PIPE, text=True
    )
    try:
        assert catcher.stdout is not None
        assert catcher.stdout.readline().strip() == "ready"

        async def scenario() -> None:
            node = Node(tmp_path)
            node.service.supervisor_pid = catcher.pid
            async with node:
                resp = await node.http.post("/admin/v1/config/reload", headers=AUTH)
                assert resp.status_code == 202
                assert resp.json()["delivered_via"] == "signal"
                assert resp.json()["revision"] is None  # the supervisor loads it; no verdict

        run(scenario())
        assert catcher.stdout.readline().strip() == "HUP"
        assert catcher.wait(timeout=10) == 0
    finally:
        if catcher.poll() is None:
            catcher.kill()
            catcher.wait()
        if catcher.stdout is not None:
            catcher.stdout.close()


def test_reload_without_supervisor_link_or_pid_is_503(tmp_path: Path) -> None:
    async def body(node: Node) -> None:
        resp = await node.http.post("/admin/v1/config/reload", headers=AUTH)
        assert resp.status_code == 503
        assert resp.json()["error"]["code"] == "supervisor_unavailable"

    run(_node_scenario(tmp_path, body))


def test_the_ipc_socket_is_owner_only(tmp_path: Path) -> None:
    async def body(node: Node) -> None:
        assert Path(node.ipc_path).stat().st_mode & 0o777 == 0o600

    run(_node_scenario(tmp_path, body))
