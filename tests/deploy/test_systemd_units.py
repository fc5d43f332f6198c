"""The shipped systemd units: `systemd-analyze verify` finds nothing to say, and the unit's own
ExecStart and ExecReload command lines, run as systemd would (NOTIFY_SOCKET, the unit's
Environment), start the gateway with READY=1 and upgrade it with MAINPID= and no failed request."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.process.test_systemd import NotifyListener
from tests.support.gateway import alive, public_port, ready_fields, wait_until
from tests.support.load import LoadLoop

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
INSTALLED = "/usr/local/bin/ferrogate"
FERROGATE = Path(sys.executable).with_name("ferrogate")  # the console script of this checkout's venv


def _unit_lines(text: str, key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(key + "=")]


def _command(unit: str, key: str, env: dict[str, str]) -> list[str]:
    """The unit's ``key`` command line, as systemd runs it: ${VAR} from the unit's Environment."""
    (line,) = _unit_lines(unit, key)
    line = re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], line)
    return [str(FERROGATE) if word == INSTALLED else word for word in shlex.split(line)]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_has_nothing_to_say_about_the_units(tmp_path: Path) -> None:
    # verify needs ExecStart's binary to exist: point the copies at this checkout's console script.
    for unit in ("ferrogate.service", "ferrogate.socket"):
        (tmp_path / unit).write_text((UNITS / unit).read_text().replace(INSTALLED, str(FERROGATE)))
    done = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "ferrogate.service"), str(tmp_path / "ferrogate.socket")],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_the_service_is_hardened_and_follows_the_new_main_pid() -> None:
    unit = (UNITS / "ferrogate.service").read_text()
    for setting in ("Type=notify", "NotifyAccess=all", "KillSignal=SIGTERM", "DynamicUser=yes", "ProtectSystem=strict",
                    "NoNewPrivileges=yes", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "StateDirectory=ferrogate"):
        assert setting in unit.splitlines(), setting


def _public_port(stdout: Path, timeout: float) -> int:
    """The port of the public listener, from the ``FERROGATE_READY {json}`` line on stdout."""
    found: list[int] = []

    def ready_line_read() -> bool:
        for line in stdout.read_text().splitlines():
            ready = ready_fields(line)
            if ready is not None:
                found.append(public_port(ready))
                return True
        return False

    wait_until(ready_line_read, timeout, "the ready line")
    return found[0]


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[NotifyListener, Path, dict[str, str]]]:
    config = tmp_path / "etc" / "ferrogate.toml"
    config.parent.mkdir()
    config.write_text(
        'listen = "127.0.0.1:0"\n[admin]\nenabled = false\n'
        "[reliability]\ngraceful_shutdown_grace_period_secs = 3\ngraceful_shutdown_timeout_secs = 5\n"
        '[[routes]]\npaths = ["/hello"]\nrespond = { body = "hello" }\n'
    )
    listener = NotifyListener(str(tmp_path / "notify.sock"))
    env = {**os.environ, "FERROGATE_CONFIG": str(config), "NOTIFY_SOCKET": listener.path, "FERROGATE_PURE": "1"}
    try:
        yield listener, tmp_path, env
    finally:
        listener.close()


def test_exec_start_then_exec_reload_upgrade_without_a_failed_request(
    service: tuple[NotifyListener, Path, dict[str, str]],
) -> None:
    notify, cwd, env = service
    unit = (UNITS / "ferrogate.service").read_text()
    (setting,) = _unit_lines(unit, "Environment")
    name, _, _ = setting.partition("=")
    assert name == "FERROGATE_CONFIG"
    validate = subprocess.run(_command(unit, "ExecStartPre", env), env=env, cwd=cwd, capture_output=True, text=True,
                              timeout=60)
    assert validate.returncode == 0, validate.stderr
    stdout = cwd / "ferrogate.out"
    with open(stdout, "wb") as out:  # the ready line names the port the kernel chose
        first = subprocess.Popen(_command(unit, "ExecStart", env), env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    new_pid = None
    try:
        assert notify.expect("READY=1", timeout=60) == "READY=1", stdout.read_text()[-2000:]
        port = _public_port(stdout, 10)
        notify.messages.clear()
        with LoadLoop(f"http://127.0.0.1:{port}/hello", threads=2, keep_alive=True, max_requests=20000) as load:
            load.wait_for(20)
            reload = subprocess.run(_command(unit, "ExecReload", env), env=env, cwd=cwd, capture_output=True,
                                    text=True, timeout=90)
            assert reload.returncode == 0, reload.stderr
            mainpid = notify.expect("MAINPID=", timeout=60)
            new_pid = int(mainpid.split("\n")[0].removeprefix("MAINPID="))
            load.wait_for(50)
        assert new_pid != first.pid and alive(new_pid)
        assert load.failures == []
        assert first.wait(timeout=30) == 0
    finally:
        for pid in (new_pid, first.pid):
            if pid is not None and alive(pid):
                os.kill(pid, signal.SIGTERM)
        if new_pid is not None:
            wait_until(lambda: not alive(new_pid), 30, "the upgraded supervisor to stop")
        if first.poll() is None:
            first.kill()
            first.wait(10)
