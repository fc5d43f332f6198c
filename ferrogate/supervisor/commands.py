"""``ferrogate run`` and ``ferrogate reload``: the CLI's entry points into the supervisor."""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from ferrogate.config.diagnostics import ConfigError
from ferrogate.config.load import load, load_config
from ferrogate.config.model import Config
from ferrogate.observability.process_log import setup_process_logging
from ferrogate.supervisor import systemd
from ferrogate.supervisor.handoff import HandoffError, Predecessor, connect_upgrade_path
from ferrogate.supervisor.listeners import (
    ListenerError,
    ListenerTable,
    build_table,
    tcp_migrate_req_enabled,
    wanted_keys,
    warn_if_closing_queues,
)
from ferrogate.supervisor.pidfile import (
    is_ferrogate,
    pid_alive,
    pid_file_for,
    read_pid,
    read_status,
    status_file_for,
    upgrade_sock_for,
)
from ferrogate.supervisor.slots import ExitCode
from ferrogate.supervisor.spawn import Closable
from ferrogate.tls.server_context import TlsConfigError, build_server_context

log = logging.getLogger("ferrogate.supervisor")

HANDOFF_TABLE_SECS = 10.0
RELOAD_WAIT_SECS = 90.0
UPGRADE_WAIT_SECS = 120.0


def _setup_logging(config: Config | None, level: str | None = None) -> None:
    telemetry = config.telemetry if config else None
    setup_process_logging(
        level or (telemetry.log_level if telemetry else "info"), telemetry.log_format if telemetry else "text"
    )


def run_command(path: Path, workers: int | None, log_level: str | None = None) -> int:
    """Validate, acquire the listeners, and run the supervisor until it stops."""
    predecessor = Predecessor.from_env()
    try:
        loaded = load(path)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        if predecessor is not None:
            predecessor.report_failed(f"invalid config:\n{exc}")
        return int(ExitCode.CONFIG_ERROR)
    config = loaded.config
    _setup_logging(config, log_level)
    for warning in loaded.warnings:
        log.warning("%s", warning)
    if config.tls.acme.enabled:
        message = (
            "automatic HTTPS (tls.acme) is not available in this version yet; configure "
            "tls.cert_path/tls.key_path, or turn tls.acme off"
        )
        print(f"ferrogate: cannot start: {message}", file=sys.stderr)
        if predecessor is not None:
            predecessor.report_failed(message)
        return int(ExitCode.CONFIG_ERROR)
    try:
        # Load the certificates now, so a bad pair stops `run` with a message, not a worker
        # crash loop; each worker builds its own context from the same files.
        build_server_context(config.tls, path.resolve().parent)
    except TlsConfigError as exc:
        print(f"ferrogate: cannot start: tls: {exc}", file=sys.stderr)
        if predecessor is not None:
            predecessor.report_failed(f"tls: {exc}")
        return int(ExitCode.CONFIG_ERROR)
    count = workers if workers is not None else (os.cpu_count() or 1)
    if count < 1:
        print("ferrogate: --workers must be at least 1", file=sys.stderr)
        return int(ExitCode.CONFIG_ERROR)
    config_path = path.resolve()
    pid_file = pid_file_for(config, config_path)
    if predecessor is None:
        predecessor = _external_predecessor(config, config_path, pid_file)
    try:
        table, generation, leftovers = _acquire(config, count, predecessor, pid_file)
    except (ListenerError, HandoffError, OSError) as exc:
        message = f"cannot start: {exc}"
        print(f"ferrogate: {message}", file=sys.stderr)
        if predecessor is not None:
            predecessor.report_failed(message)
        return int(ExitCode.STARTUP_FAILED)
    if tcp_migrate_req_enabled() is False:
        log.info(
            "net.ipv4.tcp_migrate_req is off: connections queued on a worker socket that closes are"
            " reset; FerroGate keeps slot sockets open across respawns and upgrades to avoid that"
        )
    from ferrogate.supervisor.arbiter import Arbiter

    arbiter = Arbiter(
        config, config_path, count, table,
        pid_file=pid_file, generation=generation, predecessor=predecessor, leftovers=leftovers,
    )
    return arbiter.run()


def _external_predecessor(config: Config, config_path: Path, pid_file: Path) -> Predecessor | None:
    """A running supervisor that accepts hand-offs on its configured path, if any.

    This is how a supervisor started by an operator or by systemd (not by SIGUSR2)
    takes over: it connects to ``reliability.graceful_upgrade_sock`` and runs the
    same hand-off as a launched successor.
    """
    running = read_pid(pid_file)
    path = upgrade_sock_for(config, config_path)
    if path is None or running is None or running == os.getpid() or not is_ferrogate(running):
        return None
    channel = connect_upgrade_path(str(path))
    if channel is None:
        return None
    log.info("taking over from supervisor %d through %s", running, path)
    return Predecessor(channel)


def _acquire(
    config: Config, workers: int, predecessor: Predecessor | None, pid_file: Path
) -> tuple[ListenerTable, int, list[Closable]]:
    keys = wanted_keys(config.listen, config.admin.listen if config.admin.enabled else None, workers)
    activated = systemd.listen_fds()
    if predecessor is None:
        running = read_pid(pid_file)
        if running is not None and running != os.getpid() and is_ferrogate(running):
            raise ListenerError(
                f"a supervisor is already running (pid {running}, pid file {pid_file});"
                " use `ferrogate reload` or stop it first"
            )
        table, _ = build_table(keys, systemd=activated)
        used = {id(s) for s in table.sockets.values()}
        for sock in activated:
            if id(sock) not in used:
                log.warning("closing systemd socket %s: no listen address matches it", sock.getsockname())
                sock.close()
        return table, 1, []
    inherited, generation = predecessor.receive_table(time.monotonic() + HANDOFF_TABLE_SECS)
    try:
        table, unwanted = build_table(keys, inherited=inherited, systemd=activated)
    except BaseException:
        for sock in inherited.values():
            sock.close()
        raise
    warn_if_closing_queues(unwanted.values(), "the new config drops listeners, so this upgrade")
    return table, generation, list(unwanted.values())


# ---------------------------------------------------------------------- reload


def reload_command(
    path: Path,
    graceful_upgrade: bool = False,
    admin_url: str | None = None,
    admin_token: str | None = None,
    pid_file: str | None = None,
) -> int:
    """Validate ``path``; then reload (SIGHUP) or upgrade (SIGUSR2) the running supervisor."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    if admin_url and not graceful_upgrade:
        return _reload_via_admin(config, admin_url, admin_token)
    target = Path(pid_file) if pid_file else pid_file_for(config, path)
    pid = read_pid(target)
    if pid is None or not pid_alive(pid):
        print(f"ferrogate: no running supervisor (pid file {target})", file=sys.stderr)
        return 1
    status_path = status_file_for(target)
    before = read_status(status_path)
    if graceful_upgrade:
        return _upgrade(pid, target, status_path, before.last_upgrade.seq if before and before.last_upgrade else 0)
    return _reload(pid, status_path, before.last_reload.seq if before and before.last_reload else 0)


def _reload(pid: int, status_path: Path, seq0: int) -> int:
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + RELOAD_WAIT_SECS
    while time.monotonic() < deadline:
        status = read_status(status_path)
        outcome = status.last_reload if status and status.pid == pid else None
        if outcome is not None and outcome.seq > seq0:
            if outcome.ok:
                print(f"reloaded: {outcome.message or 'ok'} (revision {outcome.revision})")
                return 0
            print("reload rejected; the running config stays:", file=sys.stderr)
            for line in outcome.errors:
                print(f"  {line}", file=sys.stderr)
            return 1
        if not pid_alive(pid):
            print(f"ferrogate: supervisor {pid} exited during the reload", file=sys.stderr)
            return 1
        time.sleep(0.05)
    print(f"ferrogate: no reload result from pid {pid} within {RELOAD_WAIT_SECS:.0f}s", file=sys.stderr)
    return 1


def _upgrade(pid: int, pid_path: Path, status_path: Path, seq0: int) -> int:
    os.kill(pid, signal.SIGUSR2)
    deadline = time.monotonic() + UPGRADE_WAIT_SECS
    while time.monotonic() < deadline:
        current = read_pid(pid_path)
        if current is not None and current != pid and pid_alive(current):
            print(f"upgraded: new supervisor pid {current}; old pid {pid} is draining")
            return 0
        status = read_status(status_path)
        outcome = status.last_upgrade if status and status.pid == pid else None
        if outcome is not None and outcome.seq > seq0 and not outcome.ok:
            print(f"ferrogate: graceful upgrade failed, pid {pid} keeps serving: {outcome.reason}", file=sys.stderr)
            return 1
        if not pid_alive(pid) and current == pid:
            print(f"ferrogate: supervisor {pid} exited during the upgrade", file=sys.stderr)
            return 1
        time.sleep(0.05)
    print(f"ferrogate: upgrade did not finish within {UPGRADE_WAIT_SECS:.0f}s", file=sys.stderr)
    return 1


def _reload_via_admin(config: Config, admin_url: str, admin_token: str | None) -> int:
    token = admin_token
    if token is None and config.admin.token_env:
        token = os.environ.get(config.admin.token_env)
    url = admin_url.rstrip("/") + "/admin/v1/config/reload"
    request = urllib.request.Request(url, method="POST", data=b"{}")
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=RELOAD_WAIT_SECS) as response:
            print(response.read().decode("utf-8", "replace"))
            return 0
    except urllib.error.HTTPError as exc:
        body = exc.read().decode("utf-8", "replace")
        print(f"ferrogate: reload refused ({exc.code}): {body}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"ferrogate: cannot reach the admin API at {url}: {exc}", file=sys.stderr)
        return 1
