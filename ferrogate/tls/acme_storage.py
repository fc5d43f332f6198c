"""Where automatic HTTPS keeps its account and certificate, and how it writes them.

Under ``[tls.acme].storage_dir`` (relative to the config file's directory):

- ``account.key``: the ACME account's private key (PEM), made once;
- ``account.json``: the account's URL at the CA, so a restart reuses the account;
- ``certificates/<first domain>/fullchain.pem`` and ``privkey.pem``: the certificate chain
  the listener serves and its key (a wildcard's ``*`` is written ``_wildcard``).

Every file is written whole to a temporary file in the same directory, mode 0600 from its
creation, flushed and renamed over the old one: a reader (a worker loading the pair) sees
the old file or the new one, never half of one, and no other user can read a key.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from ferrogate.config.model import Acme


@dataclass(frozen=True, slots=True)
class AcmeFiles:
    directory: Path
    account_key: Path
    account: Path
    cert: Path
    key: Path

    @classmethod
    def of(cls, acme: Acme, base_dir: Path | None) -> AcmeFiles:
        root = Path(acme.storage_dir).expanduser()
        if not root.is_absolute() and base_dir is not None:
            root = base_dir / root
        name = (acme.domains[0] if acme.domains else "default").replace("*", "_wildcard")
        certs = root / "certificates" / name
        return cls(root, root / "account.key", root / "account.json", certs / "fullchain.pem", certs / "privkey.pem")


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """What the status shows of a certificate (never its key)."""

    names: tuple[str, ...]
    issuer: str
    serial: str  # hex
    not_before: datetime
    not_after: datetime

    def covers(self, domains: list[str]) -> bool:
        return {d.lower() for d in domains} <= set(self.names)

    def seconds_left(self, now: datetime | None = None) -> float:
        return (self.not_after - (now or datetime.now(UTC))).total_seconds()


def certificate_info(pem: bytes) -> CertificateInfo:
    """The first (leaf) certificate of a PEM chain; ValueError when there is none."""
    cert = x509.load_pem_x509_certificate(pem)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple(n.lower() for n in san.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = tuple(str(a.value).lower() for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME))
    issuer = ", ".join(str(a.value) for a in cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME))
    return CertificateInfo(
        names=names,
        issuer=issuer or cert.issuer.rfc4514_string(),
        serial=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
    )


def stored_certificate(files: AcmeFiles) -> CertificateInfo | None:
    """The stored certificate, if both files are there and the chain parses."""
    try:
        if not files.key.is_file():
            return None
        return certificate_info(files.cert.read_bytes())
    except (OSError, ValueError):
        return None


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, mode 0600 (its directory made 0700 if new)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + ".")  # created 0600
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
