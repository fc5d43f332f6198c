"""A metering export receiver for tests: records every event id and request it gets, and can be
told to fail (500), to hang past the exporter's timeout, or to be stopped and started again on
the same port."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class MeteringReceiver:
    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.event_ids: list[str] = []  # every delivery, duplicates included
        self.headers: list[dict[str, str]] = []
        self.plan: list[str] = []  # what the next POSTs get: "fail", "hang"; then "ok"
        self.hang_secs = 12.0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/metering/events"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver._lock:
                    step = receiver.plan.pop(0) if receiver.plan else "ok"
                if step == "hang":
                    time.sleep(receiver.hang_secs)
                    return
                if step == "fail":
                    self.send_response(500)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                events = json.loads(body)["events"]
                with receiver._lock:
                    receiver.event_ids.extend(e["event_id"] for e in events)
                    receiver.headers.append({k.lower(): v for k, v in self.headers.items()})
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def received(self) -> set[str]:
        with self._lock:
            return set(self.event_ids)
