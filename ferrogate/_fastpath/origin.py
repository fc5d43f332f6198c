"""The pool key: where and how to connect to one upstream origin.

Kept in its own module, outside the mypyc-compiled set (scripts/compiled_modules.txt):
a compiled frozen msgspec Struct loses its ``__hash__``, and Origin is a dict key.
``ferrogate._fastpath.pool`` re-exports it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import msgspec

__all__ = ["Origin"]


class Origin(msgspec.Struct, frozen=True):
    """Where and how to connect; the pool key (TLS settings are part of it)."""

    scheme: str  # "http" | "https"
    host: str
    port: int
    server_name: str | None = None  # SNI + verified name; default: host
    ca_file: str | None = None
    insecure_skip_verify: bool = False

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        server_name: str | None = None,
        ca_file: str | None = None,
        insecure_skip_verify: bool = False,
    ) -> Origin:
        """The origin of ``url`` (``http://h:p``, ``https://h``, or bare ``h:p``); its path is not used."""
        if "://" not in url:
            url = "http://" + url
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise ValueError(f"unsupported upstream scheme {parts.scheme!r} in {url!r}")
        host = parts.hostname
        if not host:
            raise ValueError(f"upstream URL {url!r} has no host")
        try:
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"invalid port in upstream URL {url!r}") from exc
        if port is None:
            port = 443 if scheme == "https" else 80
        return cls(scheme, host, port, server_name, ca_file, insecure_skip_verify)

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    @property
    def host_header(self) -> bytes:
        """The Host value for this origin (port omitted when it is the default)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.tls else 80
        return (host if self.port == default else f"{host}:{self.port}").encode("ascii")
