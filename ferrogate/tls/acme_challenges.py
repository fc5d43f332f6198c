"""Answering ACME challenges: the HTTP-01 challenge listener, and DNS-01 through a hook program.

The HTTP-01 listener binds ``[tls.acme].http_challenge_listen`` only while an order runs
and answers ``GET /.well-known/acme-challenge/<token>`` with the key authorisation of a
pending challenge (any Host: the CA may add the port), 404 for anything else. It runs on
its own thread, so the blocking order (and the CA's three fetches per token) never wait
on an event loop.

The DNS hook is ``<dns_hook> set|cleanup <payload.json>``: the payload (mode 0600, in a
private temporary directory, deleted afterwards) is ``{"action", "domain", "record_name",
"record_type": "TXT", "record_value", "ttl"}``. A hook that exits non-zero, or runs past
``DNS_HOOK_TIMEOUT_SECS``, fails the order with its stderr in the message.
"""

from __future__ import annotations

import http.server
import json
import shlex
import subprocess
import tempfile
import threading
from pathlib import Path

from ferrogate.tls.acme_issue import AcmeError
from ferrogate.tls.acme_storage import write_private

CHALLENGE_PREFIX = "/.well-known/acme-challenge/"
DNS_HOOK_TIMEOUT_SECS = 120.0
_TTL = 60


class ChallengeListener:
    """The HTTP-01 challenge board, served while it is open (``with listener: ...``)."""

    def __init__(self, listen: str) -> None:
        host, _, port = listen.rpartition(":")
        self._address = (host.strip("[]") or "0.0.0.0", int(port))
        self._tokens: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._server: http.server.ThreadingHTTPServer | None = None

    def publish(self, token: str, key_authorization: str) -> None:
        with self._lock:
            self._tokens[token] = key_authorization.encode()

    def withdraw(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(token, None)

    def answer(self, path: str) -> bytes | None:
        if not path.startswith(CHALLENGE_PREFIX):
            return None
        with self._lock:
            return self._tokens.get(path[len(CHALLENGE_PREFIX):])

    def __enter__(self) -> ChallengeListener:
        board = self

        class Handler(http.server.BaseHTTPRequestHandler):
            server_version = "ferrogate-acme"
            sys_version = ""

            def do_GET(self) -> None:
                body = board.answer(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, format: str, *args: object) -> None:
                return

        try:
            server = http.server.ThreadingHTTPServer(self._address, Handler)
        except OSError as exc:
            raise AcmeError(
                f"cannot listen on http_challenge_listen {self._address[0]}:{self._address[1]} for HTTP-01: "
                f"{exc.strerror or exc}"
            ) from None
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="acme-http-01", daemon=True).start()
        self._server = server
        return self

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        with self._lock:
            self._tokens.clear()


class HookDns:
    """DNS-01 records set and removed by the operator's program (``dns_hook``)."""

    def __init__(self, hook: str, timeout: float = DNS_HOOK_TIMEOUT_SECS) -> None:
        self._argv = shlex.split(hook)
        self._timeout = timeout

    def set_record(self, domain: str, name: str, value: str) -> None:
        self._run("set", domain, name, value)

    def remove_record(self, domain: str, name: str, value: str) -> None:
        self._run("cleanup", domain, name, value)

    def _run(self, action: str, domain: str, name: str, value: str) -> None:
        payload = {
            "action": action, "domain": domain, "record_name": name, "record_type": "TXT",
            "record_value": value, "ttl": _TTL,
        }
        with tempfile.TemporaryDirectory(prefix="ferrogate-dns-") as scratch:
            path = Path(scratch) / "payload.json"
            write_private(path, json.dumps(payload).encode())
            try:
                done = subprocess.run(
                    [*self._argv, action, str(path)], capture_output=True, text=True, timeout=self._timeout,
                    check=False, stdin=subprocess.DEVNULL,
                )
            except subprocess.TimeoutExpired:
                raise AcmeError(f"the dns_hook ({action} {name}) ran past {self._timeout:.0f}s and was stopped") from None
            except OSError as exc:
                raise AcmeError(f"cannot run the dns_hook {self._argv[0]}: {exc.strerror or exc}") from None
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip()[-500:]
            raise AcmeError(f"the dns_hook ({action} {name}) exited {done.returncode}: {said}")
