"""What the gateway exports to in ``--otlp`` runs. ``rotel`` (the default): a real OTLP
collector from PyPI with its blackhole exporter, so the figures include the cost of sending
traces, metrics and logs without measuring a collector's storage; its decoding shares the
box's cores. ``discard``: nginx reading each request and answering 200, so the figures are
the gateway's own cost, as with a collector on another machine."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from benchmarks.nginx import start_discard
from benchmarks.procs import LOOPBACK, Service, free_loopback_port, start_service, stop_service

COLLECTORS = ("rotel", "discard")


def start_otlp_collector(kind: str, workdir: Path) -> Service:
    """The ``kind`` of collector (``COLLECTORS``), listening on the loopback."""
    if kind == "discard":
        return start_discard(workdir)
    return start_collector(workdir)


def start_collector(workdir: Path, deadline_secs: float = 10.0) -> Service:
    import rotel  # a dev dependency: only --otlp runs need it

    workdir.mkdir(parents=True, exist_ok=True)
    http, grpc = free_loopback_port(), free_loopback_port()
    argv = [str(Path(rotel.__file__).parent / "rotel-agent"), "start",
            "--otlp-http-endpoint", f"{LOOPBACK}:{http}", "--otlp-grpc-endpoint", f"{LOOPBACK}:{grpc}",
            "--exporter", "blackhole"]
    service = start_service("rotel", argv, workdir, port=http)
    deadline = time.monotonic() + deadline_secs
    while time.monotonic() < deadline:
        if service.proc.poll() is not None:
            raise RuntimeError(f"rotel exited rc={service.proc.returncode}: {service.log_tail()}")
        try:
            socket.create_connection((LOOPBACK, http), timeout=0.5).close()
            return service
        except OSError:
            time.sleep(0.05)
    stop_service(service)
    raise RuntimeError("rotel did not listen in time")
