"""HttpServer over TLS: the protocol sees plaintext; keep-alive works as over TCP."""

from __future__ import annotations

import asyncio
import datetime
import socket
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ferrogate._fastpath.server import HttpServer
from ferrogate.config.model import Limits
from tests.fastpath.conftest import Peer, respond_ok

pytestmark = pytest.mark.anyio


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


async def test_requests_over_tls_share_one_connection(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    server = HttpServer(respond_ok, Limits())
    await server.start(sock, ssl=server_ctx)
    try:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", sock.getsockname()[1], ssl=client_ctx, server_hostname="localhost"
        )
        peer = Peer()
        for _ in range(2):
            writer.write(peer.request_bytes("GET", "/"))
            while not (got := peer.receive(await asyncio.wait_for(reader.read(65536), 5))):
                pass
            assert got[0].status == 200 and got[0].body == b"ok"
        assert server.connection_count == 1
        writer.close()
        await writer.wait_closed()
    finally:
        await server.shutdown(1.0)
        sock.close()
