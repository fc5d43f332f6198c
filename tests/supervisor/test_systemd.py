"""systemd helpers: socket activation honours LISTEN_PID; notify reaches NOTIFY_SOCKET."""

from __future__ import annotations

import os
import socket
import uuid

from ferrogate.supervisor import systemd


def test_listen_fds_for_another_pid_are_ignored_and_the_variables_removed():
    env = {"LISTEN_PID": str(os.getpid() + 1), "LISTEN_FDS": "2", "LISTEN_FDNAMES": "a:b"}
    assert systemd.listen_fds(env) == []
    assert env == {}


def test_listen_fds_without_variables_is_empty():
    assert systemd.listen_fds({}) == []


def test_notify_without_notify_socket_does_nothing():
    assert systemd.notify("READY=1", {}) is False


def test_notify_sends_one_datagram_to_a_path(tmp_path):
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        assert systemd.ready({"NOTIFY_SOCKET": path})
        assert server.recv(4096) == b"READY=1"
        assert systemd.main_pid(1234, {"NOTIFY_SOCKET": path})
        assert server.recv(4096) == b"MAINPID=1234\nREADY=1"


def test_notify_supports_the_abstract_namespace():
    name = f"ferrogate-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind("\0" + name)
        assert systemd.stopping({"NOTIFY_SOCKET": "@" + name})
        assert server.recv(4096) == b"STOPPING=1"
