"""The parsed request the server hands to the application (see ``api.Request``)."""

from __future__ import annotations

from ferrogate._fastpath.api import Headers
from ferrogate._fastpath.bytes_search import find
from ferrogate._fastpath.request_head import (
    ForwardFields,
    field_value,
    forward_fields,
    request_fields,
    serialize_forward_fields,
)


class HttpRequest:
    """Immutable-by-convention view of one request head; built once in on_headers_complete.

    ``target`` is exactly what the client sent; ``path`` is the target without its query
    and, for an absolute-form target, without scheme and authority.

    The server hands over the head's bytes rather than its fields: ``headers`` makes the list
    the first time something reads it, and until then ``header`` finds one field in the bytes
    (``request_head``), so a request read for three fields makes no object for the others.
    """

    __slots__ = (
        "_fields",
        "_fields_at",
        "_head",
        "absolute_form",
        "chunked",
        "client",
        "content_length",
        "http_version",
        "keep_alive",
        "method",
        "path",
        "query",
        "target",
    )

    def __init__(
        self,
        method: bytes,
        target: bytes,
        headers: Headers | None,
        http_version: str,
        keep_alive: bool,
        client: tuple[str, int] | None,
        content_length: int | None,
        chunked: bool,
        head: bytes = b"",
        fields_at: int = 0,
    ) -> None:
        """``headers``, or (None) the head they are read from when asked: its bytes and where
        its field lines begin."""
        self.method = method
        self.target = target
        self._fields = headers
        self._head = head
        self._fields_at = fields_at
        mark = find(target, b"?")  # bytes.partition is a method looked up by name from compiled code
        path = target if mark < 0 else target[:mark]
        query = b"" if mark < 0 else target[mark + 1 :]
        self.absolute_form = False
        if path[:1] != b"/" and (path.startswith(b"http://") or path.startswith(b"https://")):
            # absolute-form (RFC 9112 §3.2.2): route on the path, not on scheme and authority,
            # and the target's authority replaces the Host header (§3.2.2 says to ignore it).
            start = find(path, b"//") + 2
            slash = find(path, b"/", start)
            authority = (path[start:slash] if slash >= 0 else path[start:]).rpartition(b"@")[2]
            path = path[slash:] if slash >= 0 else b"/"
            self.absolute_form = True
            self._fields = [(b"host", authority) if name == b"host" else (name, value) for name, value in self.headers]
        self.path = path
        self.query = query
        self.http_version = http_version
        self.keep_alive = keep_alive
        self.client = client
        self.content_length = content_length
        self.chunked = chunked

    def set_origin_form(self, path: bytes) -> None:
        """Replace the path (normalised) and make the target origin-form to match."""
        self.path = path
        self.target = path + b"?" + self.query if self.query else path

    @property
    def headers(self) -> Headers:
        """Lowercased names, values without the spaces and tabs around them, in received order."""
        fields = self._fields
        if fields is None:
            fields = self._fields = request_fields(self._head, self._fields_at)
            self._head = b""
        return fields

    @headers.setter
    def headers(self, fields: Headers) -> None:
        self._fields = fields
        self._head = b""

    def release_headers(self) -> None:
        """Let the headers go once nothing will read them again (an AI request being dispatched:
        the pipeline read what it needs and the access log takes the request id it set), so
        neither the wait for the upstream nor a long stream keeps them (~0.4 KB)."""
        self._fields = []
        self._head = b""

    def forward_fields(self, noted: tuple[bytes, ...], dropped: tuple[bytes, ...]) -> ForwardFields:
        """The fields as the proxy passes them on (``request_head.serialize_forward_fields``):
        read from the head's bytes when nothing made the list, without making it."""
        fields = self._fields
        if fields is None:
            return forward_fields(self._head, self._fields_at, noted, dropped)
        return serialize_forward_fields(fields, noted, dropped)

    def header(self, name: bytes) -> bytes | None:
        """The first value of the field ``name`` (lowercase)."""
        fields = self._fields
        if fields is None:
            return field_value(self._head, self._fields_at, name)
        for key, value in fields:
            if key == name:
                return value
        return None

    def __repr__(self) -> str:
        # The query is left out on purpose: some APIs carry credentials there (?key=...).
        return f"HttpRequest({self.method!r}, {self.path!r}, HTTP/{self.http_version})"
