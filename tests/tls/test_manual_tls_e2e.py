"""Manual TLS on the public listener, against a real gateway and a real TLS client."""

from __future__ import annotations

import datetime
import os
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


class Pki:
    """A test CA and leaf certificates it signs, written as PEM files."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name("FerroGate test CA"))
            .issuer_name(_name("FerroGate test CA"))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.ca_file = directory / "ca.pem"
        self.ca_file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def leaf(self, host: str) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(host))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        cert_path, key_path = self.dir / f"{host}.crt", self.dir / f"{host}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(_pem_key(key))
        return cert_path, key_path


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


def _config(pairs: list[tuple[Path, Path]]) -> str:
    (cert, key), rest = pairs[0], pairs[1:]
    text = f'[tls]\nenabled = true\ncert_path = "{cert}"\nkey_path = "{key}"\n'
    for c, k in rest:
        text += f'\n[[tls.certificates]]\ncert_path = "{c}"\nkey_path = "{k}"\n'
    return text + '\n[[routes]]\npaths = ["/hello"]\nrespond = { body = "hello over tls" }\n'


def _handshake(port: int, ca: Path, server_name: str, **ctx_options: object) -> ssl.SSLSocket:
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    for name, value in ctx_options.items():
        setattr(ctx, name, value)
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    return ctx.wrap_socket(raw, server_hostname=server_name)


def test_requests_are_served_over_tls(gateway_factory, pki: Pki) -> None:
    gw = gateway_factory(_config([pki.leaf("a.test")]), workers=1)
    with httpx.Client(verify=ssl.create_default_context(cafile=str(pki.ca_file))) as client:
        r = client.get(f"https://127.0.0.1:{gw.port}/hello", headers={"host": "a.test"}, extensions={"sni_hostname": "a.test"})
    assert r.text == "hello over tls"


def test_plaintext_is_not_served_on_a_tls_listener(gateway_factory, pki: Pki) -> None:
    gw = gateway_factory(_config([pki.leaf("a.test")]), workers=1)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{gw.port}/hello", timeout=5)


def test_sni_picks_the_certificate_for_the_name(gateway_factory, pki: Pki) -> None:
    gw = gateway_factory(_config([pki.leaf("a.test"), pki.leaf("b.test")]), workers=1)
    for name in ("a.test", "b.test"):
        with _handshake(gw.port, pki.ca_file, name) as tls:
            subject = dict(x[0] for x in tls.getpeercert()["subject"])
            assert subject["commonName"] == name


def test_alpn_agrees_on_http_1_1_only(gateway_factory, pki: Pki) -> None:
    gw = gateway_factory(_config([pki.leaf("a.test")]), workers=1)
    with _handshake(gw.port, pki.ca_file, "a.test") as tls:
        assert tls.selected_alpn_protocol() == "http/1.1"


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_tls_1_1_is_refused(gateway_factory, pki: Pki) -> None:
    gw = gateway_factory(_config([pki.leaf("a.test")]), workers=1)
    with pytest.raises((ssl.SSLError, ConnectionError, ValueError)):
        _handshake(
            gw.port, pki.ca_file, "a.test",
            minimum_version=ssl.TLSVersion.MINIMUM_SUPPORTED, maximum_version=ssl.TLSVersion.TLSv1_1,
        ).close()


def _run_once(config: str, directory: Path) -> subprocess.CompletedProcess[str]:
    path = directory / "gateway.toml"
    path.write_text('listen = "127.0.0.1:0"\n[admin]\nlisten = "127.0.0.1:0"\n' + config)
    return subprocess.run(
        [sys.executable, "-m", "ferrogate", "run", "--config", str(path), "--workers", "1"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "FERROGATE_PURE": "1"},
    )


def test_a_key_that_does_not_match_the_certificate_stops_run_with_a_message(pki: Pki, tmp_path: Path) -> None:
    cert, _ = pki.leaf("a.test")
    _, other_key = pki.leaf("b.test")
    result = _run_once(_config([(cert, other_key)]), tmp_path)
    assert result.returncode != 0
    assert "the private key does not match the certificate" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreadable_certificate_stops_run_with_a_message(pki: Pki, tmp_path: Path) -> None:
    result = _run_once(_config([(tmp_path / "missing.crt", tmp_path / "missing.key")]), tmp_path)
    assert result.returncode != 0
    assert "missing.crt" in result.stderr and "no such file" in result.stderr
