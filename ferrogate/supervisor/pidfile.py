"""The pid file and its status companion: how ``ferrogate reload`` finds and follows a supervisor.

The pid file holds the running supervisor's pid. Next to it, ``<name>.status.json``
records the outcome of the last reload and the last upgrade, with sequence
numbers, so the CLI can signal and then wait for *its* attempt to finish.

Default location: ``.ferrogate/ferrogate.pid`` in the directory of the config
file (so ``run`` and ``reload`` with the same ``--config`` agree without
flags); ``reliability.graceful_upgrade_pid_file`` overrides it, a relative
path again resolved against the config file's directory.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from ferrogate.config.model import Config
from ferrogate.ipc import ReloadOutcome
from ferrogate.ipc.lifecycle import pid_alive
from ferrogate.supervisor.listener_fingerprint import ListenerFingerprint

DEFAULT_PID_FILE = ".ferrogate/ferrogate.pid"


class UpgradeOutcome(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    phase: str  # handoff.UpgradePhase value
    ok: bool
    reason: str = ""
    new_pid: int | None = None


class SupervisorFileStatus(msgspec.Struct, frozen=True, kw_only=True):
    pid: int
    generation: int
    revision: str
    config_path: str
    public: list[str]
    admin: str | None
    workers: dict[str, int]  # slot -> pid
    last_reload: ReloadOutcome | None = None
    last_upgrade: UpgradeOutcome | None = None
    listener: ListenerFingerprint | None = None  # what this generation's public listener was built from


def pid_file_for(config: Config, config_path: Path) -> Path:
    configured = config.reliability.graceful_upgrade_pid_file or DEFAULT_PID_FILE
    path = Path(configured).expanduser()
    if not path.is_absolute():
        path = config_path.resolve().parent / path
    return path


def upgrade_sock_for(config: Config, config_path: Path) -> Path | None:
    """The hand-off path (``reliability.graceful_upgrade_sock``), resolved like the pid file."""
    configured = config.reliability.graceful_upgrade_sock
    if not configured:
        return None
    path = Path(configured).expanduser()
    return path if path.is_absolute() else config_path.resolve().parent / path


def status_file_for(pid_file: Path) -> Path:
    return pid_file.with_name(pid_file.stem + ".status.json")


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def is_ferrogate(pid: int) -> bool:
    """A live pid whose command line mentions ferrogate (guards against pid reuse)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return pid_alive(pid)
    return b"ferrogate" in cmdline


def write_status(path: Path, status: SupervisorFileStatus) -> None:
    write_atomic(path, msgspec.json.encode(status))


def read_status(path: Path) -> SupervisorFileStatus | None:
    try:
        return msgspec.json.decode(path.read_bytes(), type=SupervisorFileStatus)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return None


def remove_if_ours(path: Path, pid: int) -> None:
    if read_pid(path) == pid:
        try:
            path.unlink()
        except OSError:
            pass
