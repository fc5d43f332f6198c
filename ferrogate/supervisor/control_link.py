"""The supervisor's (blocking, loop-free) connection to its control process.

The control process listens on ``ipc_path``; the supervisor connects when the
socket appears, says :class:`~ferrogate.ipc.SupervisorHello`, pushes a
:class:`~ferrogate.ipc.SupervisorStatus` whenever its worker table changes, and
reads reload/upgrade requests coming from the admin API. Everything is
non-blocking and driven by the arbiter's ``select``; a missing or broken
control process only means the link is down until the next attempt.
"""

from __future__ import annotations

import logging
import socket
import time

from ferrogate import ipc

log = logging.getLogger("ferrogate.supervisor")

_RETRY_SECS = 0.2
_IO_TIMEOUT_SECS = 0.25  # a hung control process must not stall the supervisor loop


class ControlLink:
    def __init__(self, ipc_path: str, hello: ipc.SupervisorHello) -> None:
        self.ipc_path = ipc_path
        self._hello = hello
        self.sock: socket.socket | None = None
        self._decoder = ipc.FrameDecoder()
        self._next_attempt = 0.0
        self._last_status: ipc.SupervisorStatus | None = None

    @property
    def connected(self) -> bool:
        return self.sock is not None

    def fileno(self) -> int:
        return self.sock.fileno() if self.sock is not None else -1

    def retarget(self, ipc_path: str) -> None:
        """Follow a new control process (after a reload started one on a new path)."""
        self.close()
        self.ipc_path = ipc_path
        self._next_attempt = 0.0

    def maybe_connect(self, now: float) -> bool:
        """Try to connect when due. True when a new connection was made."""
        if self.sock is not None or now < self._next_attempt:
            return False
        self._next_attempt = now + _RETRY_SECS
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(_IO_TIMEOUT_SECS)
        try:
            sock.connect(self.ipc_path)
            ipc.send_blocking(sock, self._hello)
            if self._last_status is not None:
                ipc.send_blocking(sock, self._last_status)
        except OSError:
            sock.close()
            return False
        sock.setblocking(False)
        self.sock = sock
        self._decoder = ipc.FrameDecoder()
        return True

    def push(self, msg: ipc.Message) -> None:
        if isinstance(msg, ipc.SupervisorStatus):
            self._last_status = msg
        if self.sock is None:
            return
        try:
            self.sock.settimeout(_IO_TIMEOUT_SECS)
            ipc.send_blocking(self.sock, msg)
        except OSError as exc:
            log.debug("control link send failed: %s", exc)
            self.close()
        else:
            if self.sock is not None:
                self.sock.setblocking(False)

    def read(self) -> list[ipc.Message]:
        """Messages available now; closes the link on EOF or a framing error."""
        if self.sock is None:
            return []
        out: list[ipc.Message] = []
        while True:
            try:
                data = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return out
            except OSError:
                self.close()
                return out
            if not data:
                self.close()
                return out
            try:
                out.extend(self._decoder.feed(data))
            except ipc.FrameError as exc:
                log.warning("control link: %s", exc)
                self.close()
                return out

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self._next_attempt = time.monotonic() + _RETRY_SECS
