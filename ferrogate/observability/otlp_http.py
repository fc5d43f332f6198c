"""POSTs of OTLP protobuf payloads to a collector, with retries, from the exporter thread.

One keep-alive connection to the collector serves the three signals in turn. A
payload is retried, with backoff, after a connection failure or a status the OTLP
specification calls retryable (429, 502, 503, 504), until its deadline; any other
answer ends it. The environment variables the OpenTelemetry exporters read for
transport are honoured: ``OTEL_EXPORTER_OTLP_HEADERS`` (and per signal,
``OTEL_EXPORTER_OTLP_TRACES_HEADERS`` ...), ``OTEL_EXPORTER_OTLP_COMPRESSION``
(``gzip``) and ``OTEL_EXPORTER_OTLP_CERTIFICATE`` (a CA file for an https collector).
Header values can hold a vendor's API key: they are sent, never logged.
"""

from __future__ import annotations

import gzip
import http.client
import logging
import ssl
import time
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

_log = logging.getLogger("ferrogate.control.otlp")

RETRYABLE = frozenset((429, 502, 503, 504))
FIRST_BACKOFF_SECS = 0.25
MAX_BACKOFF_SECS = 4.0
SIGNALS = ("traces", "metrics", "logs")


def parse_headers(text: str) -> dict[str, str]:
    """``key=value,key2=value2`` (values URL-encoded) as in the OTLP exporter specification;
    a malformed pair is skipped (and named without its value)."""
    out: dict[str, str] = {}
    for pair in text.split(","):
        if not pair.strip():
            continue
        key, sep, value = pair.partition("=")
        key = unquote(key).strip().lower()
        if not sep or not key:
            _log.warning("OTLP headers: skipped a pair without a name or '=' (%r...)", key[:20])
            continue
        out[key] = unquote(value).strip()
    return out


class OtlpHttp:
    """The collector at ``base_url``: ``post(signal, payload)`` sends one export request."""

    __slots__ = ("_compress", "_connection", "_context", "_headers", "_host", "_https", "_path", "_port", "_timeout")

    def __init__(self, base_url: str, timeout: float, env: Mapping[str, str]) -> None:
        url = urlsplit(base_url.rstrip("/"))
        self._https = url.scheme == "https"
        self._host = url.hostname or "localhost"
        self._port = url.port or (443 if self._https else 80)
        self._path = url.path
        self._timeout = timeout
        self._compress = env.get("OTEL_EXPORTER_OTLP_COMPRESSION", "").strip().lower() == "gzip"
        common = parse_headers(env.get("OTEL_EXPORTER_OTLP_HEADERS", ""))
        self._headers = {
            signal: {
                **common,
                **parse_headers(env.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_HEADERS", "")),
                "content-type": "application/x-protobuf",
                **({"content-encoding": "gzip"} if self._compress else {}),
            }
            for signal in SIGNALS
        }
        cafile = env.get("OTEL_EXPORTER_OTLP_CERTIFICATE") or None
        self._context = ssl.create_default_context(cafile=cafile) if self._https else None
        self._connection: http.client.HTTPConnection | None = None

    def post(self, signal: str, payload: bytes, deadline: float) -> bool:
        """Send ``payload`` to ``<base>/v1/<signal>``, retrying until ``deadline`` (monotonic);
        True once the collector accepted it."""
        body = gzip.compress(payload, compresslevel=1) if self._compress else payload
        headers = self._headers[signal]
        backoff = FIRST_BACKOFF_SECS
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                _log.warning("OTLP %s export gave up: the collector did not accept it in time", signal)
                return False
            status = self._send(f"{self._path}/v1/{signal}", body, headers, min(left, self._timeout))
            if 200 <= status < 300:
                return True
            if status and status not in RETRYABLE:
                _log.warning("OTLP %s export refused by the collector: HTTP %d", signal, status)
                return False
            time.sleep(min(backoff, max(deadline - time.monotonic(), 0.0)))
            backoff = min(backoff * 2, MAX_BACKOFF_SECS)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _send(self, path: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        """The answer's status; 0 when no answer came (the connection is dropped then)."""
        try:
            connection = self._connection
            if connection is None:
                if self._context is not None:
                    connection = http.client.HTTPSConnection(self._host, self._port, timeout=timeout,
                                                             context=self._context)
                else:
                    connection = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
                self._connection = connection
            else:
                connection.timeout = timeout
                if connection.sock is not None:
                    connection.sock.settimeout(timeout)
            connection.request("POST", path, body, headers)
            answer = connection.getresponse()
            answer.read()  # the rest of the answer, so the connection can be reused
            if answer.will_close:
                self.close()
            return answer.status
        except (OSError, http.client.HTTPException) as exc:
            _log.debug("OTLP export: no answer from the collector (%s)", type(exc).__name__)
            self.close()
            return 0
