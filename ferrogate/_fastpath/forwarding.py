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
from typing import Final

from ferrogate._fastpath.api import Headers, Request
from ferrogate._fastpath.pump import HOP_BY_HOP

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
_HEX: Final = frozenset(b"0123456789abcdef")
_MAX_REQUEST_ID: Final = 200


def valid_request_id(value: bytes) -> bool:
    """Visible ASCII without spaces, at most 200 bytes: safe to echo and log."""
    return 0 < len(value) <= _MAX_REQUEST_ID and all(0x21 <= b <= 0x7E for b in value)


def child_traceparent(incoming: bytes | None, span_id: bytes, new_trace_id: bytes) -> bytes:
    """The traceparent to send upstream: the same trace with our span as parent.

    ``incoming`` is kept only when it parses as version-00 layout
    (``vv-32hex-16hex-2hex``) with non-zero ids and a version other than ``ff``;
    otherwise a new sampled trace starts with ``new_trace_id``.
    """
    if incoming is not None and len(incoming) >= 55:
        v = incoming.strip().lower()
        if (
            (len(v) == 55 or (len(v) > 55 and v[55:56] == b"-" and v[:2] != b"00"))
            and v[2:3] == b"-"
            and v[35:36] == b"-"
            and v[52:53] == b"-"
            and v[:2] != b"ff"
            and _is_hex(v[:2])
            and _is_hex(v[3:35])
            and _is_hex(v[36:52])
            and _is_hex(v[53:55])
            and v[3:35] != b"0" * 32
            and v[36:52] != b"0" * 16
        ):
            return b"00-" + v[3:35] + b"-" + span_id + b"-" + v[53:55]
    return b"00-" + new_trace_id + b"-" + span_id + b"-01"


def _is_hex(b: bytes) -> bool:
    return all(c in _HEX for c in b)


class IdSource:
    """Random ids for requests and traces: a PRNG seeded from the OS, re-seeded after fork.

    ``os.urandom`` (and even ``os.getpid``) is a system call per request; these ids
    need uniqueness, not secrecy.
    """

    __slots__ = ("rng",)

    def __init__(self) -> None:
        self.rng = random.Random(os.urandom(32))
        ref = weakref.ref(self.rng)  # not to self: compiled (mypyc) instances take no weakrefs

        def reseed() -> None:
            rng = ref()
            if rng is not None:
                rng.seed(os.urandom(32))

        os.register_at_fork(after_in_child=reseed)

def upstream_headers(req: Request, scheme: bytes, ids: IdSource) -> tuple[Headers, bytes]:
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
    rnd = b"%080x" % ids.rng.getrandbits(320)
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
    req: Request, scheme: bytes, ids: IdSource, target: bytes, default_host: bytes, framing: bytes
) -> tuple[bytes, bytes]:
    """The whole upstream request head in one pass, and the request id.

    Same headers as :func:`upstream_headers` (for routes without header edits),
    serialized as it goes; ``framing`` is the Content-Length or Transfer-Encoding
    line to send (or empty). A client ``Connection`` header naming extra fields
    (rare) takes the general path.
    """
    lines = [req.method + b" " + target + b" HTTP/1.1"]
    xff: bytes | None = None
    rid: bytes | None = None
    traceparent: bytes | None = None
    host: bytes | None = None
    for h in req.headers:
        name = h[0]
        if name not in _SPECIAL_HEAD:
            if name == b"host":
                host = h[1]
            lines.append(b": ".join(h))
        elif name == X_FORWARDED_FOR:
            xff = h[1] if xff is None else xff + b", " + h[1]
        elif name == X_REQUEST_ID:
            if rid is None and valid_request_id(h[1]):
                rid = h[1]
        elif name == TRACEPARENT:
            traceparent = h[1] if traceparent is None else b""
        elif name == b"connection" and h[1].lower() not in (b"keep-alive", b"close"):
            headers, rid = upstream_headers(req, scheme, ids)
            lines = [req.method + b" " + target + b" HTTP/1.1"]
            lines += [b": ".join(x) for x in headers if x[0] != b"content-length"]
            if not any(x[0] == b"host" for x in headers):
                lines.append(b"host: " + default_host)
            if framing:
                lines.append(framing)
            lines.append(b"\r\n")
            return b"\r\n".join(lines), rid
    rnd = b"%080x" % ids.rng.getrandbits(320)
    if rid is None:
        rid = rnd[:32]
    client = req.client
    if client is not None:
        ip = client[0].encode("ascii")
        xff = ip if xff is None else xff + b", " + ip
    if xff is not None:
        lines.append(b"x-forwarded-for: " + xff)
    # The fixed tail in one formatting operation (one allocation instead of five).
    lines.append(
        b"x-forwarded-proto: %b\r\n%b%b\r\nx-request-id: %b\r\ntraceparent: %b%b\r\n\r\n"
        % (
            scheme,
            b"host: " if host is None else b"x-forwarded-host: ",
            default_host if host is None else host,
            rid,
            b"00-%b-%b-01" % (rnd[32:64], rnd[64:80])
            if traceparent is None
            else child_traceparent(traceparent, rnd[64:80], rnd[32:64]),
            b"\r\n" + framing if framing else b"",
        )
    )
    return b"\r\n".join(lines), rid
