"""``ferrogate run`` and ``ferrogate reload``: the CLI's entry points into the supervisor.

``reload`` alone only reports (valid or not, and which reload mode the running gateway
would need); applying goes through the admin API, SIGHUP, or ``--graceful-upgrade``."""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import msgspec

from ferrogate.config.commands import load_or_report
from ferrogate.config.diagnostics import ConfigError
from ferrogate.config.load import Loaded, load
from ferrogate.config.model import Config
from ferrogate.config.node_identity import resolve_node_id
from ferrogate.errors import shown_url
from ferrogate.governance.counter_table import CounterTable
from ferrogate.ipc import ExitCode, config_revision
from ferrogate.observability.process_log import setup_process_logging
from ferrogate.store.budgets import restore_from_store
from ferrogate.store.database import StoreError, store_path
from ferrogate.supervisor import systemd
from ferrogate.supervisor.cpus import usable_cpus
from ferrogate.supervisor.handoff import HandoffError, Predecessor, connect_upgrade_path
from ferrogate.supervisor.listener_fingerprint import listener_changes, listener_fingerprint
from ferrogate.supervisor.listeners import (
    ListenerError,
    ListenerTable,
    build_table,
    tcp_migrate_req_enabled,
    wanted_keys,
    warn_if_closing_queues,
)
from ferrogate.supervisor.pidfile import (
    SupervisorFileStatus,
    is_ferrogate,
    pid_alive,
    pid_file_for,
    read_pid,
    read_status,
    status_file_for,
    upgrade_sock_for,
)
from ferrogate.supervisor.running import ids_also_in_store
from ferrogate.supervisor.spawn import Closable
from ferrogate.tls.server_context import TlsConfigError, build_server_context

log = logging.getLogger("ferrogate.supervisor")

HANDOFF_TABLE_SECS = 10.0
RELOAD_WAIT_SECS = 90.0
RELOAD_FOLLOW_SECS = 30.0
UPGRADE_WAIT_SECS = 120.0


def _setup_logging(config: Config | None, level: str | None = None) -> None:
    telemetry = config.telemetry if config else None
    setup_process_logging(
        level or (telemetry.log_level if telemetry else "info"),
        telemetry.log_format if telemetry else "text",
        resolve_node_id(config.cluster, os.environ) if config is not None else None,
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
    clashes = ids_also_in_store(loaded, path)
    if clashes:
        print("\n".join(clashes), file=sys.stderr)
        if predecessor is not None:
            predecessor.report_failed("invalid config:\n" + "\n".join(clashes))
        return int(ExitCode.CONFIG_ERROR)
    config = loaded.config
    _setup_logging(config, log_level)
    for warning in loaded.warnings:
        log.warning("%s", warning)
    if config.tls.acme.enabled:
        # The listener serves TLS only with a certificate: order one now if none is stored.
        failed = _certificate_at_start(config, path.resolve().parent)
        if failed is not None:
            print(f"ferrogate: cannot start: tls.acme: {failed}", file=sys.stderr)
            if predecessor is not None:
                predecessor.report_failed(f"tls.acme: {failed}")
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
    count = workers if workers is not None else usable_cpus()
    if count < 1:
        print("ferrogate: --workers must be at least 1", file=sys.stderr)
        return int(ExitCode.CONFIG_ERROR)
    config_path = path.resolve()
    pid_file = pid_file_for(config, config_path)
    if predecessor is None:
        predecessor = _external_predecessor(config, config_path, pid_file)
    try:
        table, generation, leftovers, counters_fd = _acquire(config, count, predecessor, pid_file)
        counters = _counters(config, config_path, counters_fd)
    except (ListenerError, HandoffError, OSError, StoreError) as exc:
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
        counters=counters,
    )
    return arbiter.run()


def _counters(config: Config, config_path: Path, inherited_fd: int | None) -> CounterTable:
    """The node's counter table: the previous generation's during an upgrade (both count in it
    while they overlap), else a new one holding the spent budgets saved in the store."""
    if inherited_fd is not None:
        try:
            return CounterTable(inherited_fd)
        except ValueError as exc:  # a build with another table layout or lock kind
            log.warning("cannot share the previous generation's counters (%s): starting from the store", exc)
    table = CounterTable.create()
    restored = restore_from_store(store_path(config, config_path), table)
    if restored:
        log.info("restored %d spent budgets from the store", restored)
    return table


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
) -> tuple[ListenerTable, int, list[Closable], int | None]:
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
        return table, 1, [], None
    inherited, generation, counters_fd = predecessor.receive_table(time.monotonic() + HANDOFF_TABLE_SECS)
    try:
        table, unwanted = build_table(keys, inherited=inherited, systemd=activated)
    except BaseException:
        for sock in inherited.values():
            sock.close()
        if counters_fd is not None:
            os.close(counters_fd)
        raise
    warn_if_closing_queues(unwanted.values(), "the new config drops listeners, so this upgrade")
    return table, generation, list(unwanted.values()), counters_fd


# ---------------------------------------------------------------------- reload


def reload_command(
    path: Path,
    graceful_upgrade: bool = False,
    admin_url: str | None = None,
    admin_token: str | None = None,
    pid_file: str | None = None,
) -> int:
    """Validate ``path``; report what applying it needs, or apply it through the admin API
    (process-local) or a graceful upgrade (SIGUSR2). Without either flag nothing is applied."""
    loaded = load_or_report(path)  # diagnostics and warnings printed as `validate` prints them
    config = loaded.config if loaded is not None else Config()
    target = Path(pid_file) if pid_file else pid_file_for(config, path)
    if loaded is None:
        if not graceful_upgrade and not admin_url:
            running = _running_status(target)
            if running is not None:
                print(f"running gateway: pid {running.pid} keeps its config (revision {running.revision})")
        return 1
    if admin_url and not graceful_upgrade:
        return _reload_via_admin(path, loaded, admin_url, admin_token)
    if not graceful_upgrade:
        return _report(path, loaded, target)
    pid = read_pid(target)
    if pid is None or not pid_alive(pid):
        print(f"ferrogate: no running supervisor (pid file {target})", file=sys.stderr)
        return 1
    status_path = status_file_for(target)
    before = read_status(status_path)
    return _upgrade(pid, target, status_path, before.last_upgrade.seq if before and before.last_upgrade else 0)


def _running_status(pid_file: Path) -> SupervisorFileStatus | None:
    """The status of the live supervisor that ``pid_file`` names, if there is one."""
    pid = read_pid(pid_file)
    if pid is None or not pid_alive(pid):
        return None
    status = read_status(status_file_for(pid_file))
    return status if status is not None and status.pid == pid else None


def _report(path: Path, loaded: Loaded, pid_file: Path) -> int:
    """The validate-only report: which reload mode the running gateway would need."""
    revision = config_revision(loaded.config)
    print(f"{path}: valid {loaded.format} configuration (revision {revision})")
    running = _running_status(pid_file)
    if running is None:
        print(f"no running gateway found (pid file {pid_file}); nothing to compare with, nothing applied")
        return 0
    print(f"running gateway: pid {running.pid}, generation {running.generation}, revision {running.revision}")
    if Path(running.config_path) != path.resolve():
        print(
            f"  note: it runs {running.config_path}; a reload re-reads that file,"
            " so put this config there before applying it"
        )
    if running.listener is None:
        print("reload mode: unknown (the running gateway records no listener fingerprint); nothing applied")
        return 0
    changes = listener_changes(running.listener, listener_fingerprint(loaded.config, path.resolve().parent))
    if changes:
        print("reload mode: graceful upgrade (--graceful-upgrade): the public listener changes")
        for change in changes:
            print(f"  {change}")
        print(f"  apply with: ferrogate reload --config {path} --graceful-upgrade")
    elif revision == running.revision:
        print("reload mode: process-local; the running gateway already runs this revision")
    else:
        admin = f" or ferrogate reload --config {path} --admin-url http://{running.admin}" if running.admin else ""
        print("reload mode: process-local (listeners unchanged)")
        print(f"  apply with: kill -HUP {running.pid}{admin}")
    print("nothing applied")
    return 0


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


def _reload_via_admin(path: Path, loaded: Loaded, admin_url: str, admin_token: str | None) -> int:
    """Send the config *text*: the gateway reloads its own file and answers 409 when
    the text differs from it, so a reload never applies a file other than the one it runs."""
    token = admin_token
    if token is None and loaded.config.admin.token_env:
        token = os.environ.get(loaded.config.admin.token_env)
    url = admin_url.rstrip("/") + "/admin/v1/config/reload"
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"ferrogate: cannot read {path}: {exc}", file=sys.stderr)
        return 1
    body = msgspec.json.encode({"config": text, "format": loaded.format})
    request = urllib.request.Request(url, method="POST", data=body)
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=RELOAD_WAIT_SECS) as response:
            accepted = msgspec.json.decode(response.read(), type=_Accepted)
    except urllib.error.HTTPError as exc:
        body_text = exc.read().decode("utf-8", "replace")
        print(f"ferrogate: reload refused ({exc.code}): {body_text}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"ferrogate: cannot reach the admin API at {shown_url(url)}: {exc}", file=sys.stderr)
        return 1
    except msgspec.DecodeError as exc:
        print(f"ferrogate: unexpected answer from {shown_url(url)}: {exc}", file=sys.stderr)
        return 1
    status_url = admin_url.rstrip("/") + "/admin/v1/status"
    if accepted.revision is None:  # asked by a signal: the supervisor had not linked up yet
        print(f"accepted: the gateway reloads its config file; its outcome shows in GET {status_url}")
        return 0
    return _follow_admin_reload(status_url, token, accepted.revision)


class _Accepted(msgspec.Struct, frozen=True):
    revision: str | None


class _LastReload(msgspec.Struct, frozen=True):
    revision: str
    outcome: str  # pending | applied | failed
    errors: list[str] = []


class _StatusReply(msgspec.Struct, frozen=True):
    config_revision: str
    last_reload: _LastReload | None = None


def _follow_admin_reload(status_url: str, token: str | None, revision: str) -> int:
    """Watch an accepted reload until it shows, so a refused one (say a listener change)
    exits 1 with its errors instead of looking applied.

    Applied shows as the admin API's ``config_revision`` becoming ``revision`` (a reload
    replaces the control process, so the one that accepted may never say); refused shows
    as its ``last_reload`` failing. Past the wait the reload is only known as accepted."""
    request = urllib.request.Request(status_url)
    if token:
        request.add_header("authorization", f"Bearer {token}")
    deadline = time.monotonic() + RELOAD_FOLLOW_SECS
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(request, timeout=RELOAD_FOLLOW_SECS) as response:
                status = msgspec.json.decode(response.read(), type=_StatusReply)
        except (urllib.error.URLError, OSError, msgspec.DecodeError):
            time.sleep(0.1)  # the control process is being replaced; ask the next one
            continue
        last = status.last_reload
        if last is not None and last.revision == revision and last.outcome == "failed":
            print("reload rejected; the running config stays:", file=sys.stderr)
            for line in last.errors:
                print(f"  {line}", file=sys.stderr)
            return 1
        if status.config_revision == revision:
            print(f"reloaded: the gateway runs revision {revision}")
            return 0
        time.sleep(0.1)
    print(f"accepted: revision {revision}; its outcome is not shown yet (GET {status_url})")
    return 0


def _certificate_at_start(config: Config, base_dir: Path) -> str | None:
    """Why no ACME certificate can be served (None: one is stored or was just issued)."""
    from ferrogate.tls.acme_issue import AcmeError  # the acme library only when configured
    from ferrogate.tls.acme_orders import certificate_at_start
    from ferrogate.tls.acme_storage import AcmeFiles

    try:
        certificate_at_start(config.tls.acme, AcmeFiles.of(config.tls.acme, base_dir), os.environ)
    except AcmeError as exc:
        return str(exc)
    return None
