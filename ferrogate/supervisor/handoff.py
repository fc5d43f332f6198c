"""Graceful upgrade: the keyed listener table over SCM_RIGHTS, and the two ends of it.

The old supervisor (S1) launches its successor (S2) with one end of a
``SOCK_SEQPACKET`` socketpair as fd ``FERROGATE_HANDOFF_FD``. The exchange:

    S2 -> S1  TableRequest        (after S2 validated its config; nothing bound yet)
    S1 -> S2  TableBatch* (<=32 fds each, manifest entries in the same order), last=True ends
    S2 -> S1  SuccessorReady      (S2's workers and control reported READY)
           or SuccessorFailed     (reason; S2 exits, S1 keeps serving)
    S1 -> S2  CutOver             (S1 stops accepting and drains; S2 owns the pid file now)

Seqpacket keeps message boundaries, so each message is one msgpack record and
its fds ride in the same ``sendmsg``. S2 rejects truncated control data and any
fd whose ``getsockname()`` disagrees with its key.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import subprocess
import time
from collections.abc import Mapping, Sequence
from enum import StrEnum

import msgspec

from ferrogate.supervisor.listeners import ListenerKey, ListenerTable

HANDOFF_ENV = "FERROGATE_HANDOFF_FD"
MAX_FDS_PER_MESSAGE = 32
_MAX_MESSAGE_BYTES = 256 * 1024


class HandoffError(Exception):
    """The hand-off channel broke or carried something unexpected."""


class UpgradePhase(StrEnum):
    """The old supervisor's view of an upgrade (observable in logs and the status file)."""

    IDLE = "idle"
    LAUNCHED = "launched"
    TABLE_SENT = "table_sent"
    CUT_OVER = "cut_over"
    FAILED = "failed"


class ManifestEntry(msgspec.Struct, frozen=True):
    key: str
    family: int
    type: int


class TableRequest(msgspec.Struct, frozen=True, tag="table_request"):
    pid: int


class TableBatch(msgspec.Struct, frozen=True, tag="table_batch"):
    entries: list[ManifestEntry]
    generation: int
    last: bool
    # The last batch may carry the node's counter table (a memfd, not a socket) as its last fd,
    # so both generations count in the same table while they overlap.
    counters: bool = False


class SuccessorReady(msgspec.Struct, frozen=True, tag="ready"):
    pid: int


class SuccessorFailed(msgspec.Struct, frozen=True, tag="failed"):
    reason: str


class CutOver(msgspec.Struct, frozen=True, tag="cut_over"):
    old_pid: int


Message = TableRequest | TableBatch | SuccessorReady | SuccessorFailed | CutOver

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Message)


def send_message(sock: socket.socket, msg: Message, fds: Sequence[int] = ()) -> None:
    data = _encoder.encode(msg)
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.sendall(data)


def recv_message(sock: socket.socket, timeout: float | None) -> tuple[Message, list[int]]:
    """One message and the fds that came with it. EOF or timeout raise HandoffError."""
    if timeout is not None:
        ready, _, _ = select.select([sock], [], [], max(0.0, timeout))
        if not ready:
            raise HandoffError("timed out waiting on the hand-off channel")
    data, fds, flags, _ = socket.recv_fds(sock, _MAX_MESSAGE_BYTES, MAX_FDS_PER_MESSAGE)
    for fd in fds:
        os.set_inheritable(fd, False)
    if flags & (socket.MSG_CTRUNC | socket.MSG_TRUNC):
        for fd in fds:
            os.close(fd)
        raise HandoffError("hand-off message truncated")
    if not data:
        for fd in fds:
            os.close(fd)
        raise HandoffError("hand-off channel closed by the peer")
    try:
        return _decoder.decode(data), fds
    except msgspec.DecodeError as exc:
        for fd in fds:
            os.close(fd)
        raise HandoffError(f"bad hand-off message: {exc}") from None


def send_table(sock: socket.socket, table: ListenerTable, generation: int, counters_fd: int | None = None) -> None:
    items = list(table.sockets.items())
    extra = [counters_fd] if counters_fd is not None else []
    if not items:
        send_message(sock, TableBatch([], generation, True, counters=bool(extra)), extra)
        return
    for start in range(0, len(items), MAX_FDS_PER_MESSAGE - 1):
        batch = items[start : start + MAX_FDS_PER_MESSAGE - 1]
        entries = [ManifestEntry(str(k), s.family, s.type) for k, s in batch]
        last = start + MAX_FDS_PER_MESSAGE - 1 >= len(items)
        fds = [s.fileno() for _, s in batch]
        if last and extra:
            send_message(sock, TableBatch(entries, generation, True, counters=True), fds + extra)
        else:
            send_message(sock, TableBatch(entries, generation, last), fds)


def receive_table(
    sock: socket.socket, deadline: float
) -> tuple[dict[ListenerKey, socket.socket], int, int | None]:
    """Ask for and adopt the predecessor's table. Returns ``({key: socket}, generation,
    counter table fd or None)``."""
    send_message(sock, TableRequest(os.getpid()))
    table: dict[ListenerKey, socket.socket] = {}
    generation = 0
    counters_fd: int | None = None
    try:
        while True:
            msg, fds = recv_message(sock, deadline - time.monotonic())
            if isinstance(msg, SuccessorFailed):  # the predecessor refused (e.g. busy)
                raise HandoffError(f"the running supervisor refused the hand-off: {msg.reason}")
            if not isinstance(msg, TableBatch) or len(msg.entries) + (1 if msg.counters else 0) != len(fds):
                for fd in fds:
                    os.close(fd)
                raise HandoffError(f"unexpected hand-off message {type(msg).__name__}")
            if msg.counters:
                counters_fd = fds.pop()
            generation = msg.generation
            adopted = [socket.socket(fileno=fd) for fd in fds]
            for entry, s in zip(msg.entries, adopted, strict=True):
                key = ListenerKey.parse(entry.key)
                if not key.matches(s):
                    for other in adopted:
                        other.close()
                    raise HandoffError(f"handed-over socket for {entry.key} is bound elsewhere")
                s.setblocking(False)
                table[key] = s
            if msg.last:
                return table, generation, counters_fd
    except BaseException:
        for s in table.values():
            s.close()
        if counters_fd is not None:
            os.close(counters_fd)
        raise


class Successor:
    """The old supervisor's handle on a new generation being started.

    Either launched by us (SIGUSR2: ``proc`` is its Popen) or one that connected to
    the configured hand-off path on its own (an operator or systemd started it: no
    ``proc``; its pid comes from the channel's peer credentials).
    """

    def __init__(self, channel: socket.socket, proc: subprocess.Popen[bytes] | None = None) -> None:
        self.channel = channel
        self.proc = proc
        self._pid = proc.pid if proc is not None else peer_pid(channel)

    @classmethod
    def launch(cls, argv: list[str], env: Mapping[str, str]) -> Successor:
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = dict(env)
        env[HANDOFF_ENV] = str(child_end.fileno())
        try:
            proc = subprocess.Popen(argv, env=env, pass_fds=(child_end.fileno(),))
        except OSError:
            parent_end.close()
            raise
        finally:
            child_end.close()
        return cls(parent_end, proc)

    @property
    def pid(self) -> int:
        return self._pid

    def close(self) -> None:
        self.channel.close()


def peer_pid(sock: socket.socket) -> int:
    """The pid at the other end of a connected unix socket (SO_PEERCRED)."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, _uid, _gid = struct.unpack("3i", creds)
    return int(pid)


class UpgradeListener:
    """The configured hand-off path (``reliability.graceful_upgrade_sock``).

    A supervisor started by someone else connects here instead of binding. The
    path is unlinked at exit only if it still names *our* socket, so a successor
    that has re-bound it keeps it.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            sock.bind(path)
            os.chmod(path, 0o600)
            sock.listen(4)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.sock = sock
        self._inode = os.stat(path).st_ino

    def fileno(self) -> int:
        return self.sock.fileno()

    def accept(self) -> socket.socket | None:
        try:
            conn, _ = self.sock.accept()
        except (BlockingIOError, InterruptedError):
            return None
        conn.setblocking(True)
        return conn

    def close(self) -> None:
        self.sock.close()
        try:
            if os.stat(self.path).st_ino == self._inode:
                os.unlink(self.path)
        except OSError:
            pass


def connect_upgrade_path(path: str) -> socket.socket | None:
    """Connect to a running supervisor's hand-off path; None if nobody listens there."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    return sock


class Predecessor:
    """The new supervisor's end of the channel (present only during an upgrade)."""

    def __init__(self, channel: socket.socket) -> None:
        self.channel = channel

    @classmethod
    def from_env(cls, environ: dict[str, str] | os._Environ[str] | None = None) -> Predecessor | None:
        env = os.environ if environ is None else environ
        text = env.pop(HANDOFF_ENV, None)
        if not text:
            return None
        fd = int(text)
        os.set_inheritable(fd, False)
        return cls(socket.socket(fileno=fd))

    def receive_table(self, deadline: float) -> tuple[dict[ListenerKey, socket.socket], int, int | None]:
        return receive_table(self.channel, deadline)

    def report_ready(self) -> None:
        send_message(self.channel, SuccessorReady(os.getpid()))

    def report_failed(self, reason: str) -> None:
        try:
            send_message(self.channel, SuccessorFailed(reason[:8000]))
        except OSError:
            pass

    def wait_cut_over(self, deadline: float) -> CutOver:
        msg, fds = recv_message(self.channel, deadline - time.monotonic())
        for fd in fds:
            os.close(fd)
        if not isinstance(msg, CutOver):
            raise HandoffError(f"expected cut_over, got {type(msg).__name__}")
        return msg

    def close(self) -> None:
        self.channel.close()
