"""A real Prometheus server scraping one target, for end-to-end metrics tests.

It listens on ``127.0.0.1:0`` and the port the kernel gave it is read back from
``/proc`` (the listening socket among its fds), so there is no port to race for.
Storage lives in the test's directory. The first scraped sample shows up about
5-6 s after start: the server batches target updates every 5 s, whatever the
scrape interval.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx

from tests.support.gateway import wait_until
from tests.support.listening import listening_ports


class PrometheusServer:
    """Started by :meth:`start`, stopped by :meth:`stop`; :meth:`query` asks its HTTP API."""

    def __init__(self, directory: Path, target: str, *, metrics_path: str = "/metrics", bearer: str | None = None) -> None:
        self.directory = directory
        self.target = target  # host:port
        self.metrics_path = metrics_path
        self.bearer = bearer
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> str:
        auth = ""
        if self.bearer is not None:
            (self.directory / "bearer").write_text(self.bearer)
            auth = f"    authorization: {{type: Bearer, credentials_file: {self.directory / 'bearer'}}}\n"
        return (
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            "  - job_name: ferrogate\n"
            f"    metrics_path: {self.metrics_path}\n"
            f"{auth}"
            f"    static_configs: [{{targets: ['{self.target}']}}]\n"
        )

    def start(self) -> PrometheusServer:
        binary = shutil.which("prometheus") or "/usr/bin/prometheus"
        config = self.directory / "prometheus.yml"
        config.write_text(self.config())
        with open(self.directory / "prometheus.log", "wb") as log:
            self.proc = subprocess.Popen(
                [
                    binary, f"--config.file={config}", f"--storage.tsdb.path={self.directory / 'data'}",
                    "--web.listen-address=127.0.0.1:0",
                ],
                stdout=log, stderr=log, cwd=self.directory,
            )
        try:
            self.port = wait_until(self._listening_port, 15, "prometheus to listen")
            wait_until(self._ready, 15, "prometheus /-/ready")
        except AssertionError as exc:
            self.stop()
            raise AssertionError(f"{exc}\n{self.log()}") from None
        return self

    def _listening_port(self) -> int | None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"prometheus exited with {self.proc.returncode}\n{self.log()}")
        return listening_port(self.proc.pid)

    def _ready(self) -> bool:
        try:
            return httpx.get(self.url + "/-/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The instant vector ``promql`` evaluates to now (``[{"metric": {...}, "value": [ts, "v"]}]``)."""
        body = httpx.get(self.url + "/api/v1/query", params={"query": promql}, timeout=5).json()
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def targets(self) -> list[dict[str, Any]]:
        active: list[dict[str, Any]] = httpx.get(self.url + "/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
        return active

    def log(self) -> str:
        try:
            return (self.directory / "prometheus.log").read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None


def listening_port(pid: int) -> int | None:
    """The port of a TCP socket ``pid`` listens on (IPv4), or None before it listens."""
    ports = listening_ports(pid)
    return ports[0] if ports else None
