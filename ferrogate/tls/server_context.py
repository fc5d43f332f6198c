"""The public listener's TLS: certificate pairs from the config, chosen by SNI.

TLS 1.2 or newer, ALPN ``http/1.1`` (the listener speaks HTTP/1.1 only, so it must
not let a client believe it agreed to h2). The first pair is the default for
clients that send no server name or one no certificate covers; the others are
picked by the names in their certificates (subject alternative names, or the
common name when there are none; ``*.example.com`` covers one label). With
``[tls.acme]`` the stored ACME certificate is one more pair, reloaded in place when renewed.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from ferrogate.config.model import Tls
from ferrogate.tls.acme_storage import AcmeFiles, certificate_info


class TlsConfigError(Exception):
    """A certificate pair that cannot be served; the message names the files and why."""


def certificate_pairs(tls: Tls) -> list[tuple[str, str]]:
    """The configured pairs (the ACME one is added by :func:`build_server_tls`)."""
    pairs: list[tuple[str, str]] = []
    if tls.cert_path is not None and tls.key_path is not None:
        pairs.append((tls.cert_path, tls.key_path))
    pairs.extend((c.cert_path, c.key_path) for c in tls.certificates)
    return pairs


class ServerTls:
    """The listener's contexts and the files each came from.

    :meth:`reload` loads every pair into the context it already is: OpenSSL copies a
    context's certificate into each connection when the connection starts, so handshakes
    from then on get the new certificate and connections already open keep theirs. This
    is how a renewed certificate goes into service without a reload.
    """

    def __init__(self, context: ssl.SSLContext, pairs: list[tuple[ssl.SSLContext, Path, Path]]) -> None:
        self.context = context  # the listener's (the first pair's; SNI picks the others)
        self.pairs = pairs

    def reload(self) -> None:
        """Load every pair again (TlsConfigError naming the pair when one cannot be used)."""
        for context, cert, key in self.pairs:
            _load(context, cert, key)


def build_server_context(tls: Tls, base_dir: Path | None = None) -> ssl.SSLContext | None:
    """The listener's SSLContext, or None when TLS is off."""
    server = build_server_tls(tls, base_dir)
    return server.context if server is not None else None


def build_server_tls(tls: Tls, base_dir: Path | None = None) -> ServerTls | None:
    """The listener's TLS, or None when it is off; with ACME, its stored pair comes last
    (the certificate must be there: ``ferrogate run`` orders it before anything listens)."""
    if not tls.enabled:
        return None
    pairs = [(_resolve(c, base_dir), _resolve(k, base_dir)) for c, k in certificate_pairs(tls)]
    if tls.acme.enabled:
        files = AcmeFiles.of(tls.acme, base_dir)
        pairs.append((files.cert, files.key))
    if not pairs:
        raise TlsConfigError("tls is enabled but no certificate pair is configured")
    contexts = [(_context(cert, key), _names(cert)) for cert, key in pairs]
    default = contexts[0][0]
    by_name: dict[str, ssl.SSLContext] = {}
    for context, names in contexts:
        for name in names:
            by_name.setdefault(name, context)
    if len(contexts) > 1:

        def choose(sslobj: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext) -> None:
            if server_name:
                name = server_name.lower()
                chosen = by_name.get(name)
                if chosen is None and "." in name:
                    chosen = by_name.get("*." + name.split(".", 1)[1])
                if chosen is not None:
                    sslobj.context = chosen

        default.sni_callback = choose
    return ServerTls(default, [(context, cert, key) for (context, _), (cert, key) in zip(contexts, pairs, strict=True)])


def _resolve(path: str, base_dir: Path | None) -> Path:
    p = Path(path)
    return p if p.is_absolute() or base_dir is None else base_dir / p


def _context(cert: Path, key: Path) -> ssl.SSLContext:
    for path in (cert, key):
        if not path.is_file():
            raise TlsConfigError(f"cannot read {path}: no such file")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    _load(context, cert, key)
    return context


def _load(context: ssl.SSLContext, cert: Path, key: Path) -> None:
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        reason = "the private key does not match the certificate" if "KEY_VALUES_MISMATCH" in str(exc) else (
            exc.reason or str(exc)
        )
        raise TlsConfigError(f"cannot use the certificate pair {cert} / {key}: {reason}") from None
    except OSError as exc:
        raise TlsConfigError(f"cannot read {cert} / {key}: {exc.strerror or exc}") from None


def _names(cert: Path) -> list[str]:
    try:
        return list(certificate_info(cert.read_bytes()).names)
    except (OSError, ValueError) as exc:
        raise TlsConfigError(f"cannot read the certificate {cert}: {exc}") from None
