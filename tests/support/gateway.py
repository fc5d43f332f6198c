"""Run a real ``ferrogate run`` process tree for end-to-end tests.

:func:`run_gateway` writes the config into a fresh directory, starts the
supervisor in its own session, waits (with a deadline) for the readiness line
``FERROGATE_READY {...}`` on its stdout, and yields a :class:`Gateway`. On exit
it stops whatever generation is current (SIGTERM, then SIGKILL of the whole
session after a deadline), so no test leaves processes behind.

For TOML configs without ``listen`` or ``[admin]``, the harness adds
``listen = "127.0.0.1:0"`` and an admin listener on ``127.0.0.1:0``.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from ferrogate.supervisor.pidfile import (
    DEFAULT_PID_FILE,
    SupervisorFileStatus,
    pid_file_for,
    read_pid,
    read_status,
    status_file_for,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_PREFIX = "FERROGATE_READY "


def ready_fields(line: str) -> dict[str, Any] | None:
    """The JSON of a ``FERROGATE_READY {...}`` stdout line; None for any other line."""
    return json.loads(line[len(READY_PREFIX) :]) if line.startswith(READY_PREFIX) else None


def public_port(ready: dict[str, Any]) -> int:
    """The port of the first public listener a ready line names."""
    return int(ready["public"][0].rsplit(":", 1)[1])
DEFAULT_READY_SECS = 30.0


class GatewayFailed(AssertionError):
    """The gateway did not become ready (its log is in the message)."""


def with_test_listeners(config_text: str) -> str:
    """Add ephemeral public and admin listeners to a TOML config that names none."""
    lines = config_text.splitlines()
    head = ""
    if not any(ln.strip().startswith("listen") for ln in _top_level(lines)):
        head += 'listen = "127.0.0.1:0"\n'
    text = head + config_text
    if not any(ln.strip() == "[admin]" for ln in lines):
        text += '\n[admin]\nlisten = "127.0.0.1:0"\n'
    return text


def _top_level(lines: list[str]) -> list[str]:
    out = []
    for ln in lines:
        if ln.lstrip().startswith("["):
            break
        out.append(ln)
    return out


def proc_children(pid: int) -> list[int]:
    """Direct children of ``pid`` (scans /proc)."""
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            kids.append(int(entry))
    return kids


def alive(pid: int) -> bool:
    """Running and not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy, or fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Gateway:
    def __init__(
        self,
        proc: subprocess.Popen[str],
        directory: Path,
        config_path: Path,
        log_path: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.proc = proc
        self.env = dict(env or {})
        self.dir = directory
        self.config_path = config_path
        self.log_path = log_path
        self.ready: dict[str, Any] = {}
        self.ready_lines: list[dict[str, Any]] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.stdout_lines: list[str] = []
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()
        self._pid_file: Path | None = None

    @property
    def pid_file(self) -> Path:
        """Where the supervisor writes its pid (resolved like the supervisor does)."""
        if self._pid_file is None:
            try:
                from ferrogate.config.load import load_config

                self._pid_file = pid_file_for(load_config(self.config_path, env=self.env), self.config_path)
            except Exception:
                self._pid_file = self.config_path.resolve().parent / DEFAULT_PID_FILE
        return self._pid_file

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    # -- readiness

    def wait_ready(self, timeout: float = DEFAULT_READY_SECS) -> dict[str, Any]:
        """The next readiness line (the first, or a new generation's after an upgrade)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise GatewayFailed(f"no readiness line within {timeout}s\n{self.log()}")
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise GatewayFailed(f"gateway stdout closed before ready (exit {self.proc.poll()})\n{self.log()}")
            self.stdout_lines.append(line)
            ready = ready_fields(line)
            if ready is not None:
                self.ready = ready
                self.ready_lines.append(ready)
                return ready

    def stdout_until(self, predicate: Callable[[list[str]], bool], timeout: float = 10.0) -> list[str]:
        """Lines printed on stdout so far (after readiness), read until ``predicate`` holds
        for them or ``timeout`` passes; the caller asserts on what came."""
        deadline = time.monotonic() + timeout
        lines: list[str] = []
        while not predicate(lines):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                line = self._lines.get(timeout=min(remaining, 0.2))
            except queue.Empty:
                continue
            if line is None:
                break
            self.stdout_lines.append(line)
            lines.append(line)
        return lines

    # -- addresses

    @property
    def pid(self) -> int:
        return int(self.ready["pid"])

    @property
    def port(self) -> int:
        return public_port(self.ready)

    @property
    def admin_port(self) -> int:
        return int(self.ready["admin"].rsplit(":", 1)[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    # -- introspection

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def status(self) -> SupervisorFileStatus | None:
        return read_status(status_file_for(self.pid_file))

    def worker_pids(self) -> dict[int, int]:
        """slot -> pid, as the current supervisor last published it."""
        status = self.status()
        if status is None or status.pid != self.pid:
            return {}
        return {int(slot): pid for slot, pid in status.workers.items()}

    def tree(self) -> set[int]:
        """The current supervisor and all its descendants."""
        out: set[int] = set()
        todo = [self.pid]
        while todo:
            pid = todo.pop()
            if alive(pid):
                out.add(pid)
                todo.extend(proc_children(pid))
        return out

    def signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def cli(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """Run ``python -m ferrogate <args>`` next to this gateway (same env, same dir)."""
        return subprocess.run(
            [sys.executable, "-m", "ferrogate", *args],
            cwd=self.dir, env=self.env or _child_env(None), capture_output=True, text=True, timeout=timeout,
        )

    def write_config(self, text: str) -> None:
        """Replace the config file atomically (TOML gets the test listeners as at start)."""
        if self.config_path.suffix == ".toml":
            text = with_test_listeners(text)
        tmp = self.config_path.with_name(self.config_path.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.config_path)

    # -- stop

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM the current supervisor (and the original one), then SIGKILL the session."""
        pids = {self.proc.pid}
        if self.ready:
            pids.add(self.pid)
        current = read_pid(self.pid_file)
        if current is not None:
            pids.add(current)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        code: int | None = None
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(alive(p) for p in pids):
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self._reader.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code


def _die_with_test_process() -> None:
    """In the child before exec: SIGTERM the supervisor if the test process dies, so a
    killed pytest run never leaves a gateway behind (Linux PR_SET_PDEATHSIG)."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _child_env(extra: Mapping[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    for name in ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "FERROGATE_HANDOFF_FD", "FERROGATE_APP_FACTORY"):
        env.pop(name, None)
    env.update(extra or {})
    return env


def start_gateway(
    config_text: str,
    fmt: Literal["toml", "caddyfile"] = "toml",
    *,
    workers: int = 2,
    env: Mapping[str, str] | None = None,
    directory: Path | None = None,
    argv_prefix: list[str] | None = None,
    pass_fds: tuple[int, ...] = (),
    extra_args: tuple[str, ...] = (),
) -> Gateway:
    """Start a gateway without waiting for readiness (see :func:`run_gateway`)."""
    directory = directory or Path(tempfile.mkdtemp(prefix="ferrogate-test-"))
    name = "gateway.toml" if fmt == "toml" else "Caddyfile"
    if fmt == "toml":
        config_text = with_test_listeners(config_text)
    config_path = directory / name
    config_path.write_text(config_text)
    log_path = directory / "gateway.log"
    argv = [*(argv_prefix or [sys.executable]), "-m", "ferrogate", "run", "--config", str(config_path), "--workers", str(workers), *extra_args]
    child_env = _child_env(env)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            argv, cwd=directory, env=child_env, stdout=subprocess.PIPE, stderr=log,
            text=True, start_new_session=True, pass_fds=pass_fds,
            preexec_fn=_die_with_test_process,
        )
    return Gateway(proc, directory, config_path, log_path, child_env)


@contextlib.contextmanager
def run_gateway(
    config_text: str,
    fmt: Literal["toml", "caddyfile"] = "toml",
    workers: int = 2,
    env: Mapping[str, str] | None = None,
    *,
    directory: Path | None = None,
    ready_timeout: float = DEFAULT_READY_SECS,
) -> Iterator[Gateway]:
    """Start ``ferrogate run``, wait for its readiness line, stop the whole tree at exit."""
    gw = start_gateway(config_text, fmt, workers=workers, env=env, directory=directory)
    try:
        gw.wait_ready(ready_timeout)
        yield gw
    finally:
        gw.stop()
