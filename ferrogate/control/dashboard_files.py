"""The dashboard's static files (``control/dashboard/``), served by the admin API at ``/admin``.

Shipped inside the package and read once, on first request. Served with a strict Content
Security Policy (scripts and styles from this origin only, no inline code, no framing), so
even a value the page shows cannot run as script or be framed for clickjacking.
"""

from __future__ import annotations

from importlib import resources

Headers = list[tuple[bytes, bytes]]

_TYPES = {
    "index.html": b"text/html; charset=utf-8",
    "dashboard.js": b"text/javascript; charset=utf-8",
    "dashboard.css": b"text/css; charset=utf-8",
}
_SECURITY: Headers = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        b"form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-cache"),
]


class DashboardFiles:
    __slots__ = ("_files",)

    def __init__(self) -> None:
        self._files: dict[str, bytes] = {}

    def answer(self, name: str) -> tuple[int, Headers, bytes]:
        data = self._files.get(name)
        if data is None:
            data = resources.files("ferrogate.control").joinpath("dashboard", name).read_bytes()
            self._files[name] = data
        return 200, [(b"content-type", _TYPES[name]), *_SECURITY], data
