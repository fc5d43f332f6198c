"""Under systemd: Type=notify messages on NOTIFY_SOCKET, and LISTEN_FDS socket activation."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time

import httpx
import pytest

from tests.support.gateway import wait_until

pytestmark = pytest.mark.e2e

CONFIG = """
[reliability]
graceful_shutdown_grace_period_secs = 3
graceful_shutdown_timeout_secs = 5
"""

# Puts the socket at fd 3 and sets LISTEN_PID to the pid that will exec ferrogate, as
# systemd does; the rest of argv is the ferrogate command line.
ACTIVATE = (
    "import os, sys\n"
    "os.dup2(int(sys.argv[1]), 3)\n"
    "os.environ['LISTEN_PID'] = str(os.getpid())\n"
    "os.environ['LISTEN_FDS'] = '1'\n"
    "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])\n"
)


class NotifyListener:
    def __init__(self, path: str) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.messages: list[str] = []

    def expect(self, text: str, timeout: float = 30.0) -> str:
        """Wait for a datagram containing ``text``; returns it."""
        deadline = time.monotonic() + timeout
        while True:
            for msg in self.messages:
                if text in msg:
                    return msg
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {text!r} notification; got {self.messages}")
            self.sock.settimeout(remaining)
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def notify(tmp_path):
    listener = NotifyListener(str(tmp_path / "notify.sock"))
    yield listener
    listener.close()


def test_notify_ready_then_stopping(gateway_factory, notify):
    gw = gateway_factory(CONFIG, workers=1, env={"NOTIFY_SOCKET": notify.path})
    assert notify.expect("READY=1") == "READY=1"
    gw.signal(signal.SIGTERM)
    notify.expect("STOPPING=1")
    assert gw.proc.wait(timeout=20) == 0


def test_notify_reloading_then_ready_on_sighup(gateway_factory, notify):
    gw = gateway_factory(CONFIG, workers=1, env={"NOTIFY_SOCKET": notify.path})
    notify.expect("READY=1")
    notify.messages.clear()
    gw.write_config(CONFIG.replace("= 3", "= 2"))
    gw.signal(signal.SIGHUP)
    notify.expect("RELOADING=1")
    notify.expect("READY=1")
    assert notify.messages.index("RELOADING=1") < notify.messages.index("READY=1")


def test_notify_mainpid_after_a_graceful_upgrade(gateway_factory, notify):
    gw = gateway_factory(CONFIG, workers=1, env={"NOTIFY_SOCKET": notify.path})
    notify.expect("READY=1")
    gw.signal(signal.SIGUSR2)
    new = gw.wait_ready(60)
    assert notify.expect("MAINPID=") == f"MAINPID={new['pid']}\nREADY=1"
    assert gw.proc.wait(timeout=20) == 0
    # The old supervisor handed over: it must not tell systemd the service is stopping.
    assert not any(m.startswith("STOPPING") for m in notify.messages)


def _open_files(pid: int) -> list[str]:
    """What the process's descriptors point at; one closed between the listing and the
    read (a starting worker closes its temporary ones) is skipped."""
    targets = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            targets.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except FileNotFoundError:
            continue
    return targets


def test_listen_fds_socket_is_adopted_and_shared_by_the_slots(gateway_factory):
    # No SO_REUSEPORT on this socket: a fresh bind of the same port would fail, so serving
    # on it proves the gateway adopted fd 3 instead of binding.
    activated = socket.socket()
    activated.bind(("127.0.0.1", 0))
    activated.listen(64)
    port = activated.getsockname()[1]
    inode = os.fstat(activated.fileno()).st_ino
    try:
        gw = gateway_factory(
            f'listen = "127.0.0.1:{port}"\n' + CONFIG,
            workers=2,
            argv_prefix=[sys.executable, "-c", ACTIVATE, str(activated.fileno())],
            pass_fds=(activated.fileno(),),
        )
        assert gw.port == port
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json()["status"] == "ok"
        workers = wait_until(lambda: len(gw.worker_pids()) == 2 and gw.worker_pids(), 10, "two workers")
        for pid in workers.values():
            assert f"socket:[{inode}]" in _open_files(pid)
    finally:
        activated.close()
