"""Keep-alive connection pools: one :class:`UpstreamPool` per origin, a :class:`PoolSet` per worker.

The checkout decision is a pure function (:func:`plan_checkout`) over the idle
list; the pool applies it and does the I/O afterwards (httpcore's
``_assign_requests_to_connections``). Idle connections are kept LIFO so the
warmest one is reused and the cold tail expires. A connection the upstream
closed while idle is noticed by its protocol (``connection_lost`` or stray
bytes mark it CLOSED) and is skipped at checkout.

Retry is allowed in exactly one case (Pingora's ``ReusedOnly``): a *reused*
connection failed before any response byte arrived and the body is bytes,
so the request is replayed once on a fresh connection.

Why one module: the pure checkout plan, the per-origin pool that applies it,
the worker's set of pools and the request-head serialisation they send are
one small API; each part is short and only the pool uses the others.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from typing import Final

from ferrogate._fastpath.api import Headers
from ferrogate._fastpath.number_bytes import decimal_between
from ferrogate._fastpath.origin import Origin
from ferrogate._fastpath.upstream import (
    Body,
    ConnState,
    Timeouts,
    UpstreamConnection,
    UpstreamResponse,
    Watchdog,
)
from ferrogate._fastpath.upstream_errors import (
    UpstreamConnectError,
    UpstreamError,
    UpstreamTimeout,
)

__all__ = [
    "CheckoutPlan",
    "Origin",
    "PoolSet",
    "Timeouts",
    "UpstreamPool",
    "UpstreamResponse",
    "plan_checkout",
]

_BODY_METHODS: Final = frozenset((b"POST", b"PUT", b"PATCH"))


def build_ssl_context(origin: Origin) -> ssl.SSLContext:
    """Client TLS context: verification on (system CAs or ``ca_file``) unless told to skip."""
    ctx = ssl.create_default_context(cafile=origin.ca_file)
    if origin.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


CheckoutPlan = tuple["UpstreamConnection | None", int, Sequence["UpstreamConnection"]]
"""Outcome of :func:`plan_checkout`: (connection to reuse or None, how many idle
connections to keep (``idle[:keep]``), connections to close)."""

_NOTHING: Final[tuple[UpstreamConnection, ...]] = ()
_IDLE: Final = ConnState.IDLE


def plan_checkout(
    idle: Sequence[UpstreamConnection], now: float, keepalive_secs: float
) -> CheckoutPlan:
    """Pick the newest usable idle connection. Pure: no I/O, no mutation.

    ``idle`` is ordered oldest → newest. Dead connections on the way are simply
    dropped (already closed); once one has outlived ``keepalive_secs``, every
    older one has too, so they are all closed.
    """
    i = len(idle)
    while i > 0:
        i -= 1
        conn = idle[i]
        if conn.state is not _IDLE:
            continue
        if now - conn.idle_since >= keepalive_secs:
            return None, 0, [c for c in idle[: i + 1] if c.state is _IDLE]
        return conn, i, _NOTHING
    return None, 0, _NOTHING


def expired_prefix(idle: Sequence[UpstreamConnection], now: float, keepalive_secs: float) -> int:
    """How many of the oldest idle connections are dead or past their keep-alive. Pure."""
    n = 0
    for conn in idle:
        if conn.state is _IDLE and now - conn.idle_since < keepalive_secs:
            break
        n += 1
    return n


class UpstreamPool:
    """Keep-alive connections to one origin."""

    __slots__ = (
        "_idle",
        "_release_cb",
        "_ssl",
        "_watchdog",
        "connects",
        "host_header",
        "keepalive_secs",
        "max_idle",
        "origin",
        "requests",
        "retries",
        "timeouts",
    )

    def __init__(
        self,
        origin: Origin,
        *,
        max_idle: int = 128,
        keepalive_secs: float = 60.0,
        timeouts: Timeouts | None = None,
    ) -> None:
        self.origin = origin
        self.max_idle = max_idle
        self.keepalive_secs = keepalive_secs
        self.timeouts = timeouts or Timeouts()
        self.host_header = origin.host_header
        self._ssl: ssl.SSLContext | None = build_ssl_context(origin) if origin.tls else None
        self._idle: list[UpstreamConnection] = []
        self._release_cb = self._release
        self._watchdog: Watchdog | None = None
        self.connects = 0  # connections opened (observable in tests and metrics)
        self.requests = 0
        self.retries = 0

    @property
    def idle_count(self) -> int:
        """Connections in the idle list (some may have died since; checkout skips those)."""
        return len(self._idle)

    @property
    def live_idle_count(self) -> int:
        """Idle connections still usable as far as the event loop has seen."""
        return sum(1 for c in self._idle if c.state is _IDLE)

    # ------------------------------------------------------------ request

    async def request(
        self,
        method: bytes,
        target: bytes,
        headers: Headers,
        body: Body = b"",
        timeouts: Timeouts | None = None,
    ) -> UpstreamResponse:
        """Send one request; return once the response head has arrived.

        ``headers`` must not carry hop-by-hop fields; Host is added when absent,
        Content-Length for a bytes body, ``Transfer-Encoding: chunked`` for a
        streamed body without a Content-Length header.
        """
        t = timeouts or self.timeouts
        chunked = False
        if isinstance(body, bytes):
            length: int | None = len(body) if body or method in _BODY_METHODS else None
        else:
            length = None
            chunked = not _has_header(headers, b"content-length")
        head = build_head(method, target, headers, self.host_header, length, chunked)
        return await self.send(head, body, t, is_head=method == b"HEAD", chunked=chunked)

    async def send(
        self, head: bytes, body: Body, timeouts: Timeouts, *, is_head: bool, chunked: bool
    ) -> UpstreamResponse:
        """Send an already serialized request head (framing included) and its body.

        The lower half of :meth:`request`, for callers that build the head in one
        pass themselves (the proxy's hot path). ``chunked`` says the head declares
        chunked framing, so a streamed body is sent chunk-encoded.
        """
        self.requests += 1
        conn = self._checkout()
        if conn is None:
            conn = await self._connect(timeouts.connect)
        try:
            return await conn.send(head, body, timeouts, is_head=is_head, chunked=chunked)
        except UpstreamError as exc:
            if not (exc.retry_safe and isinstance(body, bytes)):
                raise
        except BaseException:
            conn.cancel_request()
            raise
        self.retries += 1
        conn = await self._connect(timeouts.connect)
        try:
            return await conn.send(head, body, timeouts, is_head=is_head, chunked=chunked)
        except BaseException:
            conn.cancel_request()
            raise

    # ------------------------------------------------------------ checkout / release

    def _checkout(self) -> UpstreamConnection | None:
        idle = self._idle
        if not idle:
            return None
        conn = idle[-1]
        # Not asyncio.get_running_loop(): on 3.11 it makes a getpid() system call
        # (its fork check) on every call. A pool with idle connections has a watchdog.
        watchdog = self._watchdog
        now = watchdog.now() if watchdog is not None else asyncio.get_running_loop().time()
        if conn.state is _IDLE and now - conn.idle_since < self.keepalive_secs:
            return idle.pop()  # the common case, same answer plan_checkout gives
        reuse, keep, close = plan_checkout(idle, now, self.keepalive_secs)
        del idle[keep:]
        for conn in close:
            conn.close()
        return reuse

    def _release(self, conn: UpstreamConnection, reusable: bool) -> None:
        if not reusable:
            return
        idle = self._idle
        if idle:
            oldest = idle[0]
            if (
                oldest.state is not _IDLE
                or conn.idle_since - oldest.idle_since >= self.keepalive_secs
            ):
                n = expired_prefix(idle, conn.idle_since, self.keepalive_secs)
                for old in idle[:n]:
                    old.close()
                del idle[:n]
        if len(idle) >= self.max_idle:
            idle[:] = [c for c in idle if c.state is _IDLE]  # drop the dead before refusing
            if len(idle) >= self.max_idle:
                conn.close()
                return
        idle.append(conn)

    async def _connect(self, timeout: float) -> UpstreamConnection:
        loop = asyncio.get_running_loop()
        origin = self.origin
        where = f"{origin.host}:{origin.port}"
        release = self._release_cb
        watchdog = self._watchdog
        if watchdog is None or watchdog.loop is not loop:
            watchdog = self._watchdog = Watchdog(loop)
        self.connects += 1
        try:
            async with asyncio.timeout(timeout):
                if self._ssl is not None:
                    _, conn = await loop.create_connection(
                        lambda: UpstreamConnection(loop, release, watchdog),
                        origin.host,
                        origin.port,
                        ssl=self._ssl,
                        server_hostname=origin.server_name or origin.host,
                    )
                else:
                    _, conn = await loop.create_connection(
                        lambda: UpstreamConnection(loop, release, watchdog),
                        origin.host,
                        origin.port,
                    )
        except TimeoutError:
            raise UpstreamTimeout("connect", secs=timeout) from None
        except ssl.SSLCertVerificationError as exc:
            reason = exc.verify_message or "certificate verification failed"
            raise UpstreamConnectError(
                f"TLS verification of upstream {where} failed: {reason}", phase="tls"
            ) from None
        except ssl.SSLError as exc:
            raise UpstreamConnectError(
                f"TLS handshake with upstream {where} failed: {exc.reason or exc}", phase="tls"
            ) from None
        except ConnectionRefusedError:
            raise UpstreamConnectError(f"connection refused by upstream {where}") from None
        except OSError as exc:
            raise UpstreamConnectError(
                f"cannot connect to upstream {where}: {exc.strerror or exc}"
            ) from None
        return conn

    def close(self) -> None:
        """Close every idle connection (worker shutdown, config swap)."""
        for conn in self._idle:
            conn.close()
        self._idle.clear()
        if self._watchdog is not None:
            self._watchdog.close()


class PoolSet:
    """All upstream pools of one worker, keyed by :class:`Origin`. Passed explicitly."""

    __slots__ = ("_by_origin", "_by_url", "keepalive_secs", "max_idle", "timeouts")

    def __init__(
        self,
        *,
        timeouts: Timeouts | None = None,
        max_idle: int = 128,
        keepalive_secs: float = 60.0,
    ) -> None:
        self.timeouts = timeouts or Timeouts()
        self.max_idle = max_idle
        self.keepalive_secs = keepalive_secs
        self._by_origin: dict[Origin, UpstreamPool] = {}
        self._by_url: dict[str, UpstreamPool] = {}

    def pool(
        self,
        origin: Origin | str,
        *,
        max_idle: int | None = None,
        keepalive_secs: float | None = None,
        timeouts: Timeouts | None = None,
    ) -> UpstreamPool:
        """The pool for ``origin``: created on first use; given settings replace older ones."""
        if isinstance(origin, str):
            cached = self._by_url.get(origin)
            if cached is not None:
                return cached
            key = Origin.from_url(origin)
        else:
            key = origin
        pool = self._by_origin.get(key)
        if pool is None:
            pool = UpstreamPool(
                key,
                max_idle=self.max_idle if max_idle is None else max_idle,
                keepalive_secs=self.keepalive_secs if keepalive_secs is None else keepalive_secs,
                timeouts=timeouts or self.timeouts,
            )
            self._by_origin[key] = pool
        else:
            # Same origin registered again (a reloaded config): the newest settings win,
            # and the warm connections are kept.
            if max_idle is not None:
                pool.max_idle = max_idle
            if keepalive_secs is not None:
                pool.keepalive_secs = keepalive_secs
            if timeouts is not None:
                pool.timeouts = timeouts
        if isinstance(origin, str):
            self._by_url[origin] = pool
        return pool

    async def request(
        self,
        url_or_origin: Origin | str,
        method: bytes,
        target: bytes,
        headers: Headers,
        body: Body = b"",
        timeouts: Timeouts | None = None,
    ) -> UpstreamResponse:
        """One request to ``url_or_origin`` (only its scheme/host/port count) at ``target``."""
        return await self.pool(url_or_origin).request(method, target, headers, body, timeouts)

    def pools(self) -> list[UpstreamPool]:
        return list(self._by_origin.values())

    def close(self) -> None:
        for pool in self._by_origin.values():
            pool.close()


def _has_header(headers: Headers, name: bytes) -> bool:
    return any(n == name for n, _ in headers)


_FRAMING: Final = frozenset((b"content-length", b"transfer-encoding"))


def head_prefix(method: bytes, target: bytes, headers: Headers, default_host: bytes) -> bytes:
    """The request line and header lines of requests that differ only in their body, built
    once: add ``content-length: N\r\n\r\n`` per request and hand it to :meth:`UpstreamPool.send`."""
    return build_head(method, target, headers, default_host, None, False)[:-2]


def complete_head(prefix: bytes, body: bytes) -> bytes:
    """A :func:`head_prefix` head finished with ``body``'s Content-Length, for :meth:`UpstreamPool.send`."""
    return decimal_between(prefix + b"content-length: ", len(body), b"\r\n\r\n")


def build_head(
    method: bytes,
    target: bytes,
    headers: Headers,
    default_host: bytes,
    content_length: int | None,
    chunked: bool,
) -> bytes:
    """Serialize a request line and header block (names as given, lowercase).

    Framing is ours: a Content-Length in ``headers`` is kept only for a streamed
    body sent as-is (``content_length`` None and not ``chunked``).
    """
    has_host = False
    for name, _ in headers:
        if name == b"host":
            has_host = True
            break
    if content_length is None and not chunked:
        lines = [b": ".join(h) for h in headers if h[0] != b"transfer-encoding"]
    else:
        lines = [b": ".join(h) for h in headers if h[0] not in _FRAMING]
    if not has_host:
        lines.append(b"host: " + default_host)
    if content_length is not None:
        lines.append(b"content-length: %d" % content_length)
    elif chunked:
        lines.append(b"transfer-encoding: chunked")
    return b"%b %b HTTP/1.1\r\n%b\r\n\r\n" % (method, target, b"\r\n".join(lines))
