"""HTTPS upstreams: verification against a CA file, SNI, and failures as 502s."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ferrogate.config.model import Config
from tests.proxy.gateway import gateway, make_config
from tests.proxy.upstreams import TestUpstream, UpConn, UpRequest

pytestmark = pytest.mark.anyio

SERVER_NAME = "upstream.test"


@dataclass
class Pki:
    ca_file: Path
    cert_file: Path
    key_file: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A throwaway CA and a server certificate for ``upstream.test`` signed by it."""
    out = tmp_path_factory.mktemp("pki")
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("FerroGate test CA"))
        .issuer_name(_name("FerroGate test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(SERVER_NAME))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(SERVER_NAME), x509.IPAddress(ipaddress.ip_address("127.0.0.2"))]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pki = Pki(out / "ca.pem", out / "server.pem", out / "server.key")
    pki.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return pki


def server_context(pki: Pki, sni_seen: list[str | None]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.cert_file, pki.key_file)

    def on_sni(sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        sni_seen.append(name)

    ctx.sni_callback = on_sni
    return ctx


async def hello(req: UpRequest, conn: UpConn) -> None:
    await conn.respond(200, [], b"over tls")


def tls_config(url: str, **tls: object) -> Config:
    return make_config(
        upstreams=[{"name": "secure", "urls": [url], **tls}], routes=[{"upstream": "secure"}]
    )


async def test_verified_tls_upstream_with_ca_file_and_sni(pki: Pki) -> None:
    sni: list[str | None] = []
    async with TestUpstream(hello, ssl=server_context(pki, sni)) as up:
        cfg = tls_config(up.url, ca_file=str(pki.ca_file), tls_server_name=SERVER_NAME)
        async with gateway(cfg) as gw, httpx.AsyncClient(base_url=gw.url) as c:
            r1 = await c.get("/")
            r2 = await c.get("/")
    assert (r1.status_code, r1.text, r2.text) == (200, "over tls", "over tls")
    assert sni == [SERVER_NAME]
    assert up.connections == 1  # TLS connections are pooled too


async def test_untrusted_certificate_is_a_502(pki: Pki) -> None:
    async with TestUpstream(hello, ssl=server_context(pki, [])) as up:
        cfg = tls_config(up.url, tls_server_name=SERVER_NAME)  # system CAs only
        async with gateway(cfg) as gw, httpx.AsyncClient(base_url=gw.url) as c:
            r = await c.get("/")
    assert r.status_code == 502
    err = r.json()["error"]
    assert err["code"] == "upstream_connect_error"
    assert "TLS verification" in err["message"]


async def test_certificate_for_another_name_is_a_502(pki: Pki) -> None:
    async with TestUpstream(hello, ssl=server_context(pki, [])) as up:
        cfg = tls_config(up.url, ca_file=str(pki.ca_file), tls_server_name="other.test")
        async with gateway(cfg) as gw, httpx.AsyncClient(base_url=gw.url) as c:
            r = await c.get("/")
    assert r.status_code == 502
    assert "TLS verification" in r.json()["error"]["message"]


async def test_skip_verify_accepts_an_untrusted_certificate(pki: Pki) -> None:
    async with TestUpstream(hello, ssl=server_context(pki, [])) as up:
        cfg = tls_config(up.url, tls_insecure_skip_verify=True)
        async with gateway(cfg) as gw, httpx.AsyncClient(base_url=gw.url) as c:
            r = await c.get("/")
    assert (r.status_code, r.text) == (200, "over tls")
