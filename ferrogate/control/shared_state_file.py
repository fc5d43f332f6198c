"""Admin-API objects shared by every node through one file (``cluster.state_file``).

For clusters without Redis that mount one volume on every node (NFS, EFS, CephFS, or one
host's disk for several gateways). The file holds every object made over the admin API as
stored (key hashes, never secrets) and a revision. A write takes an exclusive ``flock`` on
``<file>.lock``, reads the file, changes it, bumps the revision and replaces the file
atomically (a temporary file, fsync, rename), so a reader never sees half a file; only then
does the node's own store change. Every node looks at the file's size, inode and mtime every
``POLL_SECS`` and, when they moved, reads it and applies what differs.

Limits (docs/operations.md): the volume must honour ``flock`` across the nodes that write,
else only one node may take admin writes; a client's attribute cache (NFS ``actimeo``) delays
what the others see by as much; the whole file is rewritten on each write, which suits
thousands of objects, not millions. A file that cannot be parsed is never overwritten: writes
are refused naming it, and nodes keep what they had.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import logging
import os
import time
from pathlib import Path

import msgspec

from ferrogate.control.background import cancel_and_wait
from ferrogate.control.shared_state import ApplyRows, Rows, unavailable

_log = logging.getLogger("ferrogate.control.shared")

POLL_SECS = 0.25
LOCK_WAIT_SECS = 2.0
FORMAT = 1


class _Row(msgspec.Struct, frozen=True):
    kind: str
    id: str
    object: msgspec.Raw


class _StateDocument(msgspec.Struct, frozen=True):
    format: int
    revision: int
    objects: list[_Row]


class StateFileError(Exception):
    """The state file cannot be read, written or locked; the message says which and why."""


def read_state(path: Path) -> tuple[int, Rows] | None:
    """(revision, rows) of the file, None when there is none yet."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        doc = msgspec.json.decode(data, type=_StateDocument)
    except msgspec.DecodeError as exc:
        raise StateFileError(f"{path} is not a FerroGate state file: {exc}") from None
    if doc.format != FORMAT:
        raise StateFileError(f"{path} has format {doc.format}; this release reads format {FORMAT}")
    return doc.revision, {(row.kind, row.id): bytes(row.object) for row in doc.objects}


def write_state(path: Path, changes: list[tuple[str, str, bytes | None]]) -> int:
    """Apply ``changes`` to the file under its lock; the new revision."""
    lock_path = path.with_name(path.name + ".lock")
    try:
        lock = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise StateFileError(f"cannot open {lock_path}: {exc.strerror or exc}") from None
    try:
        _lock(lock, lock_path)
        current = read_state(path)
        revision, rows = current if current is not None else (0, {})
        for kind, ident, body in changes:
            if body is None:
                rows.pop((kind, ident), None)
            else:
                rows[(kind, ident)] = body
        revision += 1
        doc = _StateDocument(
            format=FORMAT,
            revision=revision,
            objects=[_Row(kind, ident, msgspec.Raw(body)) for (kind, ident), body in sorted(rows.items())],
        )
        _replace(path, msgspec.json.encode(doc))
        return revision
    finally:
        os.close(lock)  # releases the flock


def _lock(fd: int, lock_path: Path) -> None:
    deadline = time.monotonic() + LOCK_WAIT_SECS
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise StateFileError(f"cannot lock {lock_path}: {exc.strerror or exc}") from None
        if time.monotonic() >= deadline:
            raise StateFileError(f"{lock_path} stayed locked by another writer for {LOCK_WAIT_SECS:g} s")
        time.sleep(0.01)


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.uname().nodename}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StateFileError(f"cannot write {path}: {exc.strerror or exc}") from None


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


class SharedStateFile:
    def __init__(self, path: Path, apply: ApplyRows) -> None:
        self.path = path
        self._apply = apply
        self._seen: tuple[int, int, int] | None = None
        self._revision: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._failing: str | None = None
        self.synced = asyncio.Event()

    async def start(self, local: Rows) -> None:
        try:
            if await asyncio.to_thread(read_state, self.path) is None and local:
                await self.publish([(kind, ident, body) for (kind, ident), body in local.items()])
            await self._sync()
        except Exception as exc:
            self._failed(exc)
        self._task = asyncio.get_running_loop().create_task(self._poll(), name="shared-state-file")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def publish(self, changes: list[tuple[str, str, bytes | None]]) -> None:
        try:
            await asyncio.to_thread(write_state, self.path, changes)
        except StateFileError as exc:
            raise unavailable("state file", str(exc)) from None

    async def _sync(self) -> None:
        signature = await asyncio.to_thread(_signature, self.path)
        if signature is None:
            self.synced.set()  # nothing shared yet
            return
        if signature == self._seen:
            return
        state = await asyncio.to_thread(read_state, self.path)
        if state is None:
            return
        revision, rows = state
        if revision != self._revision:
            await self._apply(rows)
            self._revision = revision
        self._seen = signature
        self.synced.set()

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECS)
            try:
                await self._sync()
                if self._failing is not None:
                    _log.info("the shared state file %s is readable again", self.path)
                    self._failing = None
            except Exception as exc:
                self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        why = str(exc) if isinstance(exc, StateFileError) else f"{type(exc).__name__}: {exc}"
        if why != self._failing:
            _log.error("the shared state file is unusable; workers keep the last objects: %s", why)
            self._failing = why
