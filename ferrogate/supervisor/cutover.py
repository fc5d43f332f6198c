"""Both ends of a cut-over between supervisor generations, as the arbiter drives them.

:class:`Arrival` is the new generation's end: once its workers are ready it
reports ready to its predecessor and waits, within a deadline, for the
cut-over; until then the old generation keeps serving. :class:`Departure` is
the old generation's end: it launches (or adopts) the successor, hands it the
listener table and tells it to take over, each when the upgrade decision
(:mod:`~ferrogate.supervisor.upgrade`) asks. :func:`announce_live` is how a
generation that went live says so: to systemd, and on stdout.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
from pathlib import Path

from ferrogate.supervisor import systemd
from ferrogate.supervisor.handoff import (
    CutOver,
    HandoffError,
    Message,
    Predecessor,
    Successor,
    SuccessorFailed,
    UpgradeListener,
    recv_message,
    send_message,
    send_table,
)
from ferrogate.supervisor.listeners import ListenerTable, bound_address
from ferrogate.supervisor.spawn import Closable

log = logging.getLogger("ferrogate.supervisor")

CUTOVER_WAIT_SECS = 30.0
READY_PREFIX = "FERROGATE_READY "


class Arrival:
    """A new generation's wait for its predecessor to hand over (graceful upgrade, new side)."""

    def __init__(self, predecessor: Predecessor, leftovers: list[Closable]) -> None:
        self.predecessor = predecessor
        self.leftovers = leftovers  # inherited sockets this generation's config does not use
        self.deadline: float | None = None  # set once ready was reported

    def fileno(self) -> int:
        return self.predecessor.channel.fileno()

    def closables(self) -> list[Closable]:
        return [self.predecessor.channel, *self.leftovers]

    def report_ready(self, now: float) -> str | None:
        """Tell the predecessor this generation is ready; the error, if the channel broke."""
        try:
            self.predecessor.report_ready()
        except OSError as exc:
            return f"lost the hand-off channel: {exc}"
        self.deadline = now + CUTOVER_WAIT_SECS
        return None

    def overdue(self, now: float) -> bool:
        return self.deadline is not None and now > self.deadline

    def take_cut_over(self, now: float) -> tuple[int | None, str | None]:
        """Read the predecessor's cut-over: ``(its pid, None)``, or ``(None, why it failed)``."""
        try:
            cut = self.predecessor.wait_cut_over(now + 1.0)
        except (HandoffError, OSError) as exc:
            return None, f"predecessor aborted the upgrade: {exc}"
        self.close()
        return cut.old_pid, None

    def abort(self, reason: str) -> None:
        """Not live yet and stopping: the old generation must keep serving, never cut over to us."""
        self.predecessor.report_failed(reason)
        self.close()

    def close(self) -> None:
        self.predecessor.close()
        for item in self.leftovers:
            if not isinstance(item, int):
                item.close()
        self.leftovers.clear()


class Departure:
    """The old generation's end of a hand-off: the channel to its successor, and the
    hand-off path (``reliability.graceful_upgrade_sock``) a successor started by someone
    else connects to."""

    def __init__(self) -> None:
        self.successor: Successor | None = None
        self.listener: UpgradeListener | None = None

    @property
    def successor_fd(self) -> int:
        return self.successor.channel.fileno() if self.successor is not None else -1

    @property
    def listener_fd(self) -> int:
        return self.listener.fileno() if self.listener is not None else -1

    def fds(self) -> list[int]:
        return [fd for fd in (self.successor_fd, self.listener_fd) if fd >= 0]

    def closables(self) -> list[Closable]:
        items: list[Closable] = []
        if self.successor is not None:
            items.append(self.successor.channel)
        if self.listener is not None:
            items.append(self.listener.sock)
        return items

    def listen(self, path: Path) -> None:
        try:
            self.listener = UpgradeListener(str(path))
        except OSError as exc:
            log.warning("cannot listen for hand-offs on %s: %s", path, exc)

    def launch(self, config_path: Path, workers: int) -> int:
        """Start a successor supervisor on a fresh channel; its pid (raises OSError)."""
        argv = [sys.executable, "-m", "ferrogate", "run", "--config", str(config_path), "--workers", str(workers)]
        self.successor = Successor.launch(argv, os.environ)
        log.info("graceful upgrade: started new supervisor %d", self.successor.pid)
        return self.successor.pid

    def accept(self) -> socket.socket | None:
        return self.listener.accept() if self.listener is not None else None

    def adopt(self, conn: socket.socket) -> int:
        """A supervisor started by someone else connected to the hand-off path: its pid."""
        self.successor = Successor(conn)
        path = self.listener.path if self.listener is not None else "the hand-off path"
        log.info("graceful upgrade: supervisor %d connected on %s", self.successor.pid, path)
        return self.successor.pid

    def refuse(self, conn: socket.socket, reason: str) -> None:
        path = self.listener.path if self.listener is not None else "the hand-off path"
        log.warning("refused a hand-off request on %s: %s", path, reason)
        try:
            send_message(conn, SuccessorFailed(reason))
        except OSError:
            pass
        conn.close()

    def receive(self) -> Message:
        """The successor's next message (raises HandoffError or OSError if the channel broke)."""
        assert self.successor is not None
        msg, fds = recv_message(self.successor.channel, 0.0)
        for fd in fds:
            os.close(fd)
        return msg

    def send_table(self, table: ListenerTable, generation: int, counters_fd: int | None = None) -> None:
        assert self.successor is not None
        send_table(self.successor.channel, table, generation, counters_fd)
        log.info("graceful upgrade: handed %d listeners to %d", len(table.sockets), self.successor.pid)

    def send_cut_over(self, old_pid: int) -> None:
        assert self.successor is not None
        send_message(self.successor.channel, CutOver(old_pid))
        self.drop()

    def exited(self, pid: int, status: int) -> None:
        succ = self.successor
        if succ is not None and succ.pid == pid and succ.proc is not None:
            succ.proc.returncode = os.waitstatus_to_exitcode(status)

    def drop(self) -> None:
        """Close the channel to the successor (it lives on, or is stopped, on its own)."""
        if self.successor is not None:
            self.successor.close()
            self.successor = None

    def close_listener(self) -> None:
        if self.listener is not None:
            self.listener.close()
            self.listener = None


def announce_live(table: ListenerTable, generation: int, revision: str, *, upgraded: bool) -> None:
    """Tell systemd, and print the readiness line (``FERROGATE_READY {json}`` on stdout,
    also logged)."""
    pid = os.getpid()
    if upgraded:
        systemd.main_pid(pid)
    else:
        systemd.ready()
    admin = table.admin_socket()
    line = {
        "public": [str(a) for a in table.public_addresses()],
        "admin": str(bound_address(admin)) if admin is not None else None,
        "pid": pid,
        "generation": generation,
        "revision": revision,
    }
    try:
        sys.stdout.write(READY_PREFIX + json.dumps(line) + "\n")
        sys.stdout.flush()
    except (OSError, ValueError):
        pass  # no stdout (daemonized): the log line below still says it
    log.info("ready: %s", line)
