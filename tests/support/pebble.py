"""Pebble (the ACME test CA) and pebble-challtestsrv (its DNS), started for a test.

challtestsrv answers every A query with 127.0.0.1 and keeps the TXT records tests (or the
gateway's DNS hook) set through its management API; Pebble resolves through it, dials
HTTP-01 challenges on ``http_port``, and issues from a CA it makes anew at each start
(``roots()`` fetches it). Pebble's own HTTPS listener is signed by a CA made here
(``listener_ca``), which the gateway is given as ``tls.acme.ca_file``.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import ssl
import subprocess
import time
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.ports import free_port

READY_SECS = 20.0


def _ca_and_listener_cert(directory: Path) -> tuple[Path, Path, Path]:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pebble listener test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = (directory / "listener-ca.pem", directory / "listener-cert.pem", directory / "listener-key.pem")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return paths


class Pebble:
    def __init__(self, directory: Path, *, validity_secs: int | None = None) -> None:
        self.directory = directory
        self.validity_secs = validity_secs
        self.port = free_port()
        self.management_port = free_port()
        self.http_port = free_port()  # where Pebble dials HTTP-01 challenges: the gateway's challenge listener
        self.dns_port = free_port()
        self.challtest_port = free_port()
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def directory_url(self) -> str:
        return f"https://127.0.0.1:{self.port}/dir"

    @property
    def listener_ca(self) -> Path:
        return self.directory / "listener-ca.pem"

    @property
    def challtest_url(self) -> str:
        return f"http://127.0.0.1:{self.challtest_port}"

    def start(self) -> Pebble:
        self.directory.mkdir(parents=True, exist_ok=True)
        _, cert, key = _ca_and_listener_cert(self.directory)
        settings: dict[str, object] = {
            "listenAddress": f"127.0.0.1:{self.port}", "managementListenAddress": f"127.0.0.1:{self.management_port}",
            "certificate": str(cert), "privateKey": str(key), "httpPort": self.http_port, "tlsPort": free_port(),
            "ocspResponderURL": "", "externalAccountBindingRequired": False,
        }
        if self.validity_secs is not None:
            settings["certificateValidityPeriod"] = self.validity_secs
        config = self.directory / "pebble-config.json"
        config.write_text(json.dumps({"pebble": settings}))
        log = open(self.directory / "pebble.log", "wb")  # noqa: SIM115 (kept open for the processes' lives)
        self.procs.append(subprocess.Popen(
            ["pebble-challtestsrv", "-dns01", f"127.0.0.1:{self.dns_port}", "-http01", "", "-https01", "",
             "-tlsalpn01", "", "-management", f"127.0.0.1:{self.challtest_port}",
             "-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.directory,
        ))
        env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": "0"}
        self.procs.append(subprocess.Popen(
            ["pebble", "-config", str(config), "-dnsserver", f"127.0.0.1:{self.dns_port}"],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.directory, env=env,
        ))
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        context = ssl.create_default_context(cafile=str(self.listener_ca))
        deadline = time.monotonic() + READY_SECS
        while True:
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"pebble exited: {(self.directory / 'pebble.log').read_text()[-2000:]}")
            try:
                httpx.get(self.directory_url, verify=context, timeout=2).raise_for_status()
                httpx.post(self.challtest_url + "/clear-txt", json={"host": "ready.test."}, timeout=2)
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError("pebble did not come up") from None
                time.sleep(0.05)

    def roots(self) -> bytes:
        """The CA that issues certificates (made anew at every Pebble start)."""
        context = ssl.create_default_context(cafile=str(self.listener_ca))
        answer = httpx.get(f"https://127.0.0.1:{self.management_port}/roots/0", verify=context, timeout=5)
        answer.raise_for_status()
        return answer.content

    def set_txt(self, host: str, value: str) -> None:
        httpx.post(self.challtest_url + "/set-txt", json={"host": host, "value": value}, timeout=5).raise_for_status()

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
        self.procs.clear()
