"""What the proxy adds and removes on the way upstream: one pass over the client's headers.

HTTP proxy mechanics, not configuration: the pass that filters the client's headers also
serialises the upstream request head, so it lives with the other head builders here.

- hop-by-hop headers (and any the client's ``Connection`` lists) are dropped;
- ``X-Forwarded-For`` gets the client address appended, ``X-Forwarded-Proto``
  and ``X-Forwarded-Host`` are set from what this hop saw;
- ``X-Request-Id`` is propagated when the client sent a sane one, else made up;
- a valid W3C ``traceparent`` continues its trace with a new span id (the
  gateway's hop); a missing or malformed one starts a new trace.
"""

from __future__ import annotations

import os
import random
import weakref
from binascii import hexlify
from typing import Final

from ferrogate._fastpath.api import Headers
from ferrogate._fastpath.request import HttpRequest
from ferrogate._fastpath.wire import HOP_BY_HOP

X_FORWARDED_FOR: Final = b"x-forwarded-for"
X_FORWARDED_PROTO: Final = b"x-forwarded-proto"
X_FORWARDED_HOST: Final = b"x-forwarded-host"
X_REQUEST_ID: Final = b"x-request-id"
TRACEPARENT: Final = b"traceparent"

# Names the single pass treats specially (everything else is copied as-is).
_SPECIAL: Final = HOP_BY_HOP | {
    X_FORWARDED_FOR,
    X_FORWARDED_PROTO,
    X_FORWARDED_HOST,
    X_REQUEST_ID,
    TRACEPARENT,
    b"expect",  # the gateway answers 100-continue itself
}
# The one-pass serializer also owns the framing headers.
_SPECIAL_HEAD: Final = _SPECIAL | {b"content-length"}
# The one-pass serializer's split of them (HttpRequest.forward_fields): those it reads, the rest.
_HEAD_NOTED: Final[tuple[bytes, ...]] = (X_FORWARDED_FOR, X_REQUEST_ID, TRACEPARENT, b"connection")
_HEAD_DROPPED: Final = tuple(sorted(_SPECIAL_HEAD.difference(_HEAD_NOTED)))
_HEX_DIGITS: Final = b"0123456789abcdef"  # strip() by it leaves nothing of a lowercase hex string
_ZERO_TRACE: Final = b"0" * 32
_ZERO_SPAN: Final = b"0" * 16
_MAX_REQUEST_ID: Final = 200
_POOL_DIGITS: Final = 8000  # hex digits drawn at once: 100 requests' ids

try:
    from ferrogate._fastpath._hex_ids import HexStream, traceparent_line
except ImportError:  # not built: hex of random.Random bytes, and an f-string
    HexStream = None  # type: ignore[assignment,misc]
    traceparent_line = None  # type: ignore[assignment]


def valid_request_id(value: bytes) -> bool:
    """Visible ASCII without spaces, at most 200 bytes: safe to echo and log."""
    return 0 < len(value) <= _MAX_REQUEST_ID and all(0x21 <= b <= 0x7E for b in value)


def parse_traceparent(value: bytes) -> tuple[bytes, bytes, bytes] | None:
    """(trace id, parent span id, trace flags), as hex, of a valid W3C ``traceparent``; else None.

    The Trace Context rules, as the OpenTelemetry SDKs read them: lowercase hex only, ids not
    all zeros, version ``ff`` invalid; a version-``00`` value is exactly its four fields, a
    later version may carry more after a dash (its first four fields are read as ``00``'s).
    The AI path and the reverse proxy both read callers' headers through here."""
    v = value.strip(b" \t")
    n = len(v)
    if n < 55 or v[2:3] != b"-" or v[35:36] != b"-" or v[52:53] != b"-":
        return None
    version = v[:2]
    if version == b"ff" or version.strip(_HEX_DIGITS) or (n > 55 and (version == b"00" or v[55:56] != b"-")):
        return None
    trace, parent, flags = v[3:35], v[36:52], v[53:55]
    if trace.strip(_HEX_DIGITS) or parent.strip(_HEX_DIGITS) or flags.strip(_HEX_DIGITS):
        return None  # a character that is not lowercase hex
    if trace == _ZERO_TRACE or parent == _ZERO_SPAN:
        return None
    return trace, parent, flags


def child_traceparent(incoming: bytes | None, span_id: bytes, new_trace_id: bytes) -> bytes:
    """The traceparent to send upstream: the caller's trace (:func:`parse_traceparent`) with
    our span as parent and the caller's flags, else a new sampled trace with ``new_trace_id``."""
    parsed = parse_traceparent(incoming) if incoming is not None else None
    if parsed is not None:
        return b"00-" + parsed[0] + b"-" + span_id + b"-" + parsed[2]
    return b"00-" + new_trace_id + b"-" + span_id + b"-01"


class IdSource:
    """Random ids for requests and traces: a PRNG seeded from the OS, re-seeded after fork.

    ``os.urandom`` (and even ``os.getpid``) is a system call per request; these ids
    need uniqueness, not secrecy. A request's 80 hex digits (request id, trace id,
    span id) are cut from hex drawn for a hundred requests at once: a ``getrandbits``
    and a ``%x`` formatting per request cost about 2,000 instructions. The C
    ``HexStream`` draws them when it is built, else ``random.Random``.
    """

    __slots__ = ("_at", "_pool", "_stream", "rng")

    def __init__(self) -> None:
        self.rng = random.Random(os.urandom(32))
        self._stream = HexStream(os.urandom(32)) if HexStream is not None else None
        self._pool: list[bytes] = [b""]  # hex digits drawn ahead; emptied in a forked child
        self._at = 0
        ref = weakref.ref(self.rng)  # not to self: compiled (mypyc) instances take no weakrefs
        pool = self._pool
        stream = self._stream

        def reseed() -> None:
            rng = ref()
            if rng is not None:
                rng.seed(os.urandom(32))
            if stream is not None:
                stream.reseed(os.urandom(32))
            pool[0] = b""  # never hand a child the digits its parent hands out too

        os.register_at_fork(after_in_child=reseed)

    def hex80(self) -> bytes:
        """80 random lowercase hex digits, never the same ones twice."""
        at = self._at
        end = at + 80
        digits = self._pool[0]
        if end > len(digits):
            stream = self._stream
            digits = self._pool[0] = (stream.ascii(_POOL_DIGITS) if stream is not None
                                      else hexlify(self.rng.randbytes(_POOL_DIGITS // 2)))
            at, end = 0, 80
        self._at = end
        return digits[at:end]


def upstream_headers(req: HttpRequest, scheme: bytes, ids: IdSource) -> tuple[Headers, bytes]:
    """Headers to send upstream (before header_up edits) and the request id."""
    out: Headers = []
    xff: bytes | None = None
    rid: bytes | None = None
    traceparent: bytes | None = None
    host: bytes | None = None
    listed: list[bytes] | None = None
    for h in req.headers:
        name = h[0]
        if name not in _SPECIAL:
            if name == b"host":
                host = h[1]
            out.append(h)
            continue
        if name == X_FORWARDED_FOR:
            xff = h[1] if xff is None else xff + b", " + h[1]
        elif name == X_REQUEST_ID:
            if rid is None and valid_request_id(h[1]):
                rid = h[1]
        elif name == TRACEPARENT:
            traceparent = h[1] if traceparent is None else b""  # two of them: invalid
        elif name == b"connection":
            for token in h[1].split(b","):
                token = token.strip().lower()
                if token and token not in (b"close", b"keep-alive"):
                    listed = [token] if listed is None else [*listed, token]
    rnd = ids.hex80()
    if rid is None:
        rid = rnd[:32]
    if req.client is not None:
        ip = req.client[0].encode("ascii")
        xff = ip if xff is None else xff + b", " + ip
    if xff is not None:
        out.append((X_FORWARDED_FOR, xff))
    out.append((X_FORWARDED_PROTO, scheme))
    if host is not None:
        out.append((X_FORWARDED_HOST, host))
    out.append((X_REQUEST_ID, rid))
    if traceparent is None:
        out.append((TRACEPARENT, b"00-%b-%b-01" % (rnd[32:64], rnd[64:80])))
    else:
        out.append((TRACEPARENT, child_traceparent(traceparent, rnd[64:80], rnd[32:64])))
    if listed is not None:
        drop = frozenset(listed)
        out = [h for h in out if h[0] not in drop]
    return out, rid


def upstream_head(
    req: HttpRequest, scheme: bytes, ids: IdSource, target: bytes, default_host: bytes, framing: bytes
) -> tuple[bytes, bytes]:
    """The whole upstream request head in one pass, and the request id.

    Same headers as :func:`upstream_headers` (for routes without header edits),
    serialized as it goes; ``framing`` is the Content-Length or Transfer-Encoding
    line to send (or empty). The fields the proxy only copies come serialized from the
    client's head (``HttpRequest.forward_fields``). A client ``Connection`` header
    naming extra fields (rare) takes the general path.
    """
    copied, specials, host = req.forward_fields(_HEAD_NOTED, _HEAD_DROPPED)
    xff: bytes | None = None
    rid: bytes | None = None
    traceparent: bytes | None = None
    for h in specials:
        name = h[0]
        if name == X_FORWARDED_FOR:
            xff = h[1] if xff is None else xff + b", " + h[1]
        elif name == X_REQUEST_ID:
            if rid is None and valid_request_id(h[1]):
                rid = h[1]
        elif name == TRACEPARENT:
            traceparent = h[1] if traceparent is None else b""
        elif name == b"connection" and h[1].lower() not in (b"keep-alive", b"close"):
            return _listed_hop_head(req, scheme, ids, target, default_host, framing)
    rnd = ids.hex80()
    if rid is None:
        rid = rnd[:32]
    client = req.client
    if client is not None:
        ip = client[0].encode("ascii")
        xff = ip if xff is None else xff + b", " + ip
    # The whole head in one formatting operation (one allocation).
    head = b"%b %b HTTP/1.1\r\n%b%b%bx-forwarded-proto: %b\r\n%b%b\r\nx-request-id: %b\r\ntraceparent: %b%b\r\n\r\n" % (
        req.method,
        target,
        copied,
        b"" if xff is None else b"x-forwarded-for: ",
        b"" if xff is None else xff + b"\r\n",
        scheme,
        b"host: " if host is None else b"x-forwarded-host: ",
        default_host if host is None else host,
        rid,
        b"00-%b-%b-01" % (rnd[32:64], rnd[64:80])
        if traceparent is None
        else child_traceparent(traceparent, rnd[64:80], rnd[32:64]),
        b"\r\n" + framing if framing else b"",
    )
    return head, rid


def _listed_hop_head(
    req: HttpRequest, scheme: bytes, ids: IdSource, target: bytes, default_host: bytes, framing: bytes
) -> tuple[bytes, bytes]:
    """:func:`upstream_head` for a client whose ``Connection`` names more hop-by-hop fields."""
    headers, rid = upstream_headers(req, scheme, ids)
    lines = [req.method + b" " + target + b" HTTP/1.1"]
    lines += [b": ".join(x) for x in headers if x[0] != b"content-length"]
    if not any(x[0] == b"host" for x in headers):
        lines.append(b"host: " + default_host)
    if framing:
        lines.append(framing)
    lines.append(b"\r\n")
    return b"\r\n".join(lines), rid
