"""A metering export receiver for tests, served from a thread.

It records every POST (its headers, its event ids, what it answered) and every event id
it took. Its ``plan`` says what the next POSTs get: a status (500, 429, 400), ``"hang"``
(no answer until the receiver stops) or ``"lost"`` (the events are taken, but the answer
never comes, as when a network drops it); once the plan is used up, 200. It
binds port 0 on its first start and the same port on every later one. Given a certificate
and its key (for ``localhost``), it speaks HTTPS.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

Step = int | str  # a status to answer, "hang" or "lost"


@dataclass(frozen=True)
class Post:
    headers: dict[str, str]  # lower-case names
    event_ids: list[str]
    answer: Step
    body: bytes


class MeteringReceiver:
    def __init__(self, tls: tuple[Path, Path] | None = None) -> None:
        self.tls = tls
        self.port = 0
        self.plan: list[Step] = []
        self.posts: list[Post] = []  # every POST that came, in order
        self.event_ids: list[str] = []  # every event taken (2xx or "lost"), duplicates included
        self._lock = threading.Lock()
        self._release = threading.Event()  # set on stop: hung answers end
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        if self.tls is not None:
            return f"https://localhost:{self.port}/v1/metering/events"
        return f"http://127.0.0.1:{self.port}/v1/metering/events"

    def start(self) -> MeteringReceiver:
        receiver = self
        self._release = release = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                ids = [e["event_id"] for e in json.loads(body)["events"]]
                with receiver._lock:
                    step: Step = receiver.plan.pop(0) if receiver.plan else 200
                    receiver.posts.append(Post({k.lower(): v for k, v in self.headers.items()}, ids, step, body))
                    if step in (200, "lost"):
                        receiver.event_ids.extend(ids)
                if step in ("hang", "lost"):
                    release.wait()
                    self.close_connection = True
                    return
                assert isinstance(step, int)
                self.send_response(step)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        if self.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            server.socket = context.wrap_socket(server.socket, server_side=True)
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True, name="metering-receiver").start()
        return self

    def stop(self) -> None:
        """Stop listening (connections are refused) and end any hung answer."""
        self._release.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> MeteringReceiver:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def received(self) -> set[str]:
        """Every event id taken at least once."""
        with self._lock:
            return set(self.event_ids)

    def duplicates(self) -> int:
        """Deliveries beyond the first of each event."""
        with self._lock:
            return sum(n - 1 for n in Counter(self.event_ids).values())

    def answered(self) -> list[Step]:
        with self._lock:
            return [p.answer for p in self.posts]
