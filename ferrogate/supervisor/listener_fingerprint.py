"""What the public listener is made of, so a reload can tell whether it would change it.

A process-local reload rolls workers onto the *same* listening sockets; it cannot
move a socket to a new address, and each worker loads its certificates when it
starts. So a config whose listen addresses, TLS settings or certificate/key file
contents differ from what the running generation started with needs a graceful
upgrade (a new generation), and a process-local reload must refuse it. File
contents count, not just paths: a renewed certificate at the same path is a
listener change too.

The supervisor records the fingerprint of the config it runs in its status file;
``ferrogate reload`` compares a candidate config against it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import msgspec

from ferrogate.config.model import Config
from ferrogate.tls.server_context import certificate_pairs

UNREADABLE = "unreadable"


class ListenerFingerprint(msgspec.Struct, frozen=True, kw_only=True):
    listen: list[str]  # public listen addresses as configured, sorted (order binds nothing)
    tls: str  # sha256 of the canonical [tls] settings (paths, flags; no file contents)
    files: dict[str, str]  # resolved certificate/key path -> sha256 of its content


def listener_fingerprint(config: Config, config_dir: Path) -> ListenerFingerprint:
    """The fingerprint of ``config``'s public listener; relative paths resolve against
    ``config_dir`` as the workers resolve them. Reads the certificate and key files."""
    files: dict[str, str] = {}
    if config.tls.enabled:
        for cert, key in certificate_pairs(config.tls):
            for name in (cert, key):
                path = Path(name)
                resolved = path if path.is_absolute() else config_dir / path
                files[str(resolved)] = _file_digest(resolved)
    return ListenerFingerprint(
        listen=sorted(config.listen),
        tls=hashlib.sha256(msgspec.json.encode(config.tls)).hexdigest(),
        files=files,
    )


def listener_changes(running: ListenerFingerprint, candidate: ListenerFingerprint) -> list[str]:
    """One line per difference, in words an operator can act on; empty when the same."""
    changes: list[str] = []
    if running.listen != candidate.listen:
        changes.append(f"listen: {', '.join(running.listen)} -> {', '.join(candidate.listen)}")
    if running.tls != candidate.tls:
        changes.append("tls settings differ")
    for path in sorted(running.files.keys() | candidate.files.keys()):
        before, after = running.files.get(path), candidate.files.get(path)
        if before is None:
            changes.append(f"tls file added: {path}")
        elif after is None:
            changes.append(f"tls file no longer used: {path}")
        elif before != after or after == UNREADABLE:
            changes.append(f"tls file content changed: {path}")
    return changes


def _file_digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return UNREADABLE  # never equal to a digest; run/reload report the file itself
