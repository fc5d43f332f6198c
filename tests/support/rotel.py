"""rotel, a real third-party OpenTelemetry collector (Rust, shipped in the PyPI wheel ``rotel``),
as the OTLP/HTTP receiver of end-to-end tests.

It runs ``rotel-agent start --exporter blackhole --debug-log traces|metrics|logs
--debug-log-verbosity detailed``, which prints everything it receives in the collector's
"detailed" text format; :func:`parse` turns that text into spans, metric data points and
log records. rotel cannot listen on port 0 and report it, so :meth:`Rotel.start` picks
free ports (bind to 0, close) and starts again with new ones when rotel exits or another
process holds the port. Ready = rotel itself listens on the HTTP port and accepts a
connection.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import rotel

from tests.support.gateway import wait_until
from tests.support.listening import listening_ports
from tests.support.ports import free_port

T = TypeVar("T")

BINARY = Path(rotel.__file__).parent / "rotel-agent"
START_ATTEMPTS = 5
READY_SECS = 10.0


@dataclass
class Span:
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str  # "" for a root span
    kind: str  # SPAN_KIND_SERVER, SPAN_KIND_CLIENT, ...
    start_ns: int = 0
    end_ns: int = 0
    attributes: dict[str, object] = field(default_factory=dict)
    resource: dict[str, object] = field(default_factory=dict)


@dataclass
class DataPoint:
    metric: str
    unit: str
    kind: str  # Histogram, Sum, Gauge, ...
    attributes: dict[str, object] = field(default_factory=dict)
    count: int = 0  # of a histogram point
    resource: dict[str, object] = field(default_factory=dict)


@dataclass
class LogRecord:
    body: str
    severity: str
    event_name: str
    trace_id: str = ""
    span_id: str = ""
    attributes: dict[str, object] = field(default_factory=dict)
    resource: dict[str, object] = field(default_factory=dict)


@dataclass
class Received:
    spans: list[Span] = field(default_factory=list)
    points: list[DataPoint] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)


_ATTRIBUTE = re.compile(r"^-> (.+?): (\w+)\((.*)\)$")
_DESCRIPTOR = re.compile(r"^-> (\w+):\s?(.*)$")
_FIELD = re.compile(r"^([A-Za-z][A-Za-z ]*?)\s*: ?(.*)$")
_TYPED = re.compile(r"^(\w+)\((.*)\)$")
_BLOCK = re.compile(r"^(ResourceSpans|ResourceMetrics|ResourceLog) #\d+$")
_SPAN_FIELDS = {"Trace ID": "trace_id", "Parent ID": "parent_span_id", "ID": "span_id", "Name": "name", "Kind": "kind",
                "Start time": "start_ns", "End time": "end_ns"}
_LOG_FIELDS = {"Trace ID": "trace_id", "Span ID": "span_id", "Body": "body", "SeverityText": "severity",
               "EventName": "event_name"}


def _value(kind: str, text: str) -> object:
    if kind == "Int":
        return int(text)
    if kind == "Double":
        return float(text)
    if kind == "Bool":
        return text == "true"
    return text


def parse(text: str) -> Received:
    """Spans, metric data points and log records in rotel's detailed debug output."""
    out = Received()
    resource: dict[str, object] = {}
    attributes: dict[str, object] | None = None  # where the next "-> key: Type(value)" lines go
    descriptor: dict[str, str] | None = None  # the current metric's name, unit and type
    metric: dict[str, str] = {}
    span: Span | None = None
    point: DataPoint | None = None
    log: LogRecord | None = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("-> "):
            if descriptor is not None and (found := _DESCRIPTOR.match(line)) is not None:
                descriptor[found.group(1)] = found.group(2)
            elif attributes is not None and (found := _ATTRIBUTE.match(line)) is not None:
                attributes[found.group(1)] = _value(found.group(2), found.group(3))
            continue
        descriptor = attributes = None
        if _BLOCK.match(line):
            resource, span, point, log = {}, None, None, None
        elif line == "Resource attributes:":
            attributes = resource
        elif line.startswith("Span #"):
            span = Span("", "", "", "", "", resource=resource)
            out.spans.append(span)
        elif line == "Descriptor:":
            descriptor = metric = {}
        elif line.startswith(("HistogramDataPoints #", "NumberDataPoints #")):
            point = DataPoint(metric.get("Name", ""), metric.get("Unit", ""), metric.get("DataType", ""),
                              resource=resource)
            out.points.append(point)
        elif line == "Data point attributes:" and point is not None:
            attributes = point.attributes
        elif line.startswith("LogRecord #"):
            log = LogRecord("", "", "", resource=resource)
            out.logs.append(log)
        elif line == "Attributes:":
            attributes = span.attributes if span is not None else log.attributes if log is not None else None
        elif (found := _FIELD.match(line)) is not None:
            _set_field(found.group(1), found.group(2).strip(), span, point, log)
    return out


def _set_field(name: str, value: str, span: Span | None, point: DataPoint | None, log: LogRecord | None) -> None:
    if span is not None and name in _SPAN_FIELDS:
        setattr(span, _SPAN_FIELDS[name], int(value) if name.endswith("time") else value)
    elif point is not None and name == "Count":
        point.count = int(value)
    elif log is not None and name in _LOG_FIELDS:
        typed = _TYPED.match(value)  # the body prints as Str(...)
        setattr(log, _LOG_FIELDS[name], typed.group(2) if typed is not None and name == "Body" else value)


class Rotel:
    """``start()`` it, point an exporter at :attr:`url`, read :meth:`received`; ``stop()`` it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.output = directory / "rotel.out"
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self._seen = -1  # the output's size at the previous read

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Rotel:
        failures = []
        for _ in range(START_ATTEMPTS):
            if self._start_once():
                return self
            failures.append(self.text()[-2000:])
        raise AssertionError("rotel did not start:\n" + "\n---\n".join(failures))

    def _start_once(self) -> bool:
        self.port, grpc = free_port(), free_port()
        argv = [
            str(BINARY), "start", "--otlp-http-endpoint", f"127.0.0.1:{self.port}",
            "--otlp-grpc-endpoint", f"127.0.0.1:{grpc}", "--exporter", "blackhole",
            "--debug-log", "traces", "--debug-log", "metrics", "--debug-log", "logs",
            "--debug-log-verbosity", "detailed",
            "--pid-file", str(self.directory / "rotel.pid"), "--log-file", str(self.directory / "rotel.log"),
        ]
        env = {**os.environ, "NO_COLOR": "1"}
        with open(self.output, "wb") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=self.directory, env=env)
        deadline = time.monotonic() + READY_SECS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:  # a port taken between our check and its bind
                self.proc = None
                return False
            if self.port in listening_ports(self.proc.pid) and self._accepts():
                return True
            time.sleep(0.01)
        self.stop()
        return False

    def _accepts(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def text(self) -> str:
        try:
            return self.output.read_text(errors="replace")
        except OSError:
            return ""

    def received(self) -> Received:
        """What rotel has printed so far. A block still being written counts only once the output
        stopped growing between two reads (rotel may print a batch in several writes)."""
        text = self.text()
        if len(text) != self._seen:
            self._seen = len(text)
            last = max(text.rfind("\nResourceSpans #"), text.rfind("\nResourceMetrics #"), text.rfind("\nResourceLog #"))
            text = text[: last + 1] if last >= 0 else ""
        return parse(text)

    def wait_for(self, what: str, found: Callable[[Received], list[T]], timeout: float = 10.0) -> list[T]:
        """Poll :meth:`received` until ``found`` gives a non-empty list, and return it."""
        got: list[T] = wait_until(lambda: found(self.received()), timeout, what)
        return got
