"""A local stand-in for the Cloudflare API v4 endpoints the DNS-01 provider uses, writing the
records it is given into pebble-challtestsrv (so Pebble's validation really finds them).

GET /zones?name=Z, POST /zones/{id}/dns_records, DELETE /zones/{id}/dns_records/{rid};
a request without ``Authorization: Bearer <token>`` gets Cloudflare's 403 body. Every
request is kept in ``seen`` (method, path, authorization) for the tests to read.
"""

from __future__ import annotations

import http.server
import json
import threading
from typing import Any

import httpx


class FakeCloudflare:
    def __init__(self, token: str, zone: str, challtest_url: str) -> None:
        self.token = token
        self.zone = zone
        self.challtest_url = challtest_url
        self.records: dict[str, dict[str, Any]] = {}
        self.seen: list[tuple[str, str, str]] = []
        self._server: http.server.ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/client/v4"

    def __enter__(self) -> FakeCloudflare:
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.handle(self, "GET")

            def do_POST(self) -> None:
                fake.handle(self, "POST")

            def do_DELETE(self) -> None:
                fake.handle(self, "DELETE")

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def handle(self, request: http.server.BaseHTTPRequestHandler, method: str) -> None:
        auth = request.headers.get("Authorization", "")
        self.seen.append((method, request.path, auth))
        if auth != f"Bearer {self.token}":
            self._send(request, 403, {"success": False, "errors": [{"code": 9109, "message": "Invalid access token"}]})
            return
        path = request.path.removeprefix("/client/v4")
        if method == "GET" and path.startswith("/zones?name="):
            name = path.split("=", 1)[1]
            zones = [{"id": "zone-1", "name": self.zone}] if name == self.zone else []
            self._send(request, 200, {"success": True, "errors": [], "result": zones})
        elif method == "POST" and path == "/zones/zone-1/dns_records":
            body = json.loads(request.rfile.read(int(request.headers.get("Content-Length", "0"))))
            record_id = f"rec-{len(self.records) + 1}"
            self.records[record_id] = body
            httpx.post(self.challtest_url + "/set-txt", json={"host": body["name"] + ".", "value": body["content"]},
                       timeout=5).raise_for_status()
            self._send(request, 200, {"success": True, "errors": [], "result": {"id": record_id, **body}})
        elif method == "DELETE" and path.startswith("/zones/zone-1/dns_records/"):
            body = self.records.pop(path.rsplit("/", 1)[1], None)
            if body is not None:
                httpx.post(self.challtest_url + "/clear-txt", json={"host": body["name"] + "."}, timeout=5)
            self._send(request, 200, {"success": True, "errors": [], "result": {"id": path.rsplit("/", 1)[1]}})
        else:
            self._send(request, 404, {"success": False, "errors": [{"code": 7003, "message": "No route for that URI"}]})

    @staticmethod
    def _send(request: http.server.BaseHTTPRequestHandler, status: int, doc: dict[str, Any]) -> None:
        body = json.dumps(doc).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)
