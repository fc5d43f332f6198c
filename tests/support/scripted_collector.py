"""A scripted OTLP/HTTP collector: it answers each POST with the next status of its plan
and keeps what came, so a test can see exactly which payloads were sent, where, and how."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Post:
    path: str
    headers: dict[str, str]
    body: bytes
    client_port: int


class Collector:
    """Answers each POST with the next status of ``plan`` (then 200) and keeps what came."""

    def __init__(self) -> None:
        self.plan: list[int] = []
        self.posts: list[Post] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                collector.posts.append(Post(self.path, headers, body, self.client_address[1]))
                status = collector.plan.pop(0) if collector.plan else 200
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/otlp"
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
