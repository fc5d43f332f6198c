"""The supervisor's listener table: which socket serves which key, and where it came from.

Sockets are owned by the supervisor and outlive workers: a respawned or upgraded
worker gets the *same* socket object, because closing the last fd of a
SO_REUSEPORT socket resets every connection queued on it. Sources, in order:
a predecessor's hand-off, systemd ``LISTEN_FDS``, then a fresh bind.

A key names a socket's role and its *configured* address, e.g.
``public/127.0.0.1:8080/slot-3`` or ``admin/127.0.0.1:2019``. Port 0 in the
config keeps its ``:0`` in the key (so a successor with the same config finds
it) and is resolved once: the first slot socket binds port 0 and the others
bind the port the kernel picked.
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

log = logging.getLogger("ferrogate.supervisor")


class ListenerRole(StrEnum):
    PUBLIC = "public"
    ADMIN = "admin"


class ListenerSource(StrEnum):
    HANDOFF = "handoff"
    SYSTEMD = "systemd"
    BIND = "bind"


class ListenerError(Exception):
    """A listener could not be bound or adopted (the message says which and why)."""


@dataclass(frozen=True, slots=True)
class Address:
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Address:
        """``host:port``, ``[v6]:port`` or ``:port`` (all interfaces)."""
        text = text.strip()
        for scheme in ("http://", "https://"):
            if text.startswith(scheme):
                text = text[len(scheme) :]
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            port_text = rest.lstrip(":")
        else:
            host, sep, port_text = text.rpartition(":")
            if not sep:
                raise ListenerError(f"listen address {text!r} has no port")
        if not host:
            host = "0.0.0.0"
        try:
            port = int(port_text)
        except ValueError:
            raise ListenerError(f"listen address {text!r} has a bad port") from None
        if not 0 <= port <= 65535:
            raise ListenerError(f"listen address {text!r}: port out of range")
        return cls(host, port)

    @property
    def family(self) -> socket.AddressFamily:
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ListenerKey:
    role: ListenerRole
    address: Address
    slot: int | None = None

    def __str__(self) -> str:
        base = f"{self.role.value}/{self.address}"
        return base if self.slot is None else f"{base}/slot-{self.slot}"

    @classmethod
    def parse(cls, text: str) -> ListenerKey:
        role_text, _, rest = text.partition("/")
        slot: int | None = None
        addr_text = rest
        head, sep, tail = rest.rpartition("/")
        if sep and tail.startswith("slot-"):
            addr_text, slot = head, int(tail[5:])
        return cls(ListenerRole(role_text), Address.parse(addr_text), slot)

    def matches(self, sock: socket.socket) -> bool:
        """Whether ``sock`` is really bound where this key says (port 0 matches any port)."""
        try:
            name = sock.getsockname()
        except OSError:
            return False
        if not isinstance(name, tuple):
            return False
        host, port = name[0], name[1]
        if self.address.port and port != self.address.port:
            return False
        return _same_host(self.address.host, host)


def _same_host(configured: str, bound: str) -> bool:
    if configured == bound:
        return True
    wildcard = {"0.0.0.0", "::", ""}
    if configured in wildcard and bound in wildcard:
        return True
    try:
        return socket.inet_pton(_family_of(configured), configured) == socket.inet_pton(
            _family_of(bound), bound
        )
    except OSError:
        return False


def _family_of(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def bound_address(sock: socket.socket) -> Address:
    name = sock.getsockname()
    return Address(name[0], name[1])


def bind_listener(address: Address, *, reuse_port: bool, backlog: int = 2048) -> socket.socket:
    """A fresh non-blocking, non-inheritable listening TCP socket."""
    sock = socket.socket(address.family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if address.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((address.host, address.port))
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise ListenerError(f"cannot listen on {address}: {reason}") from exc
    return sock


@dataclass(slots=True)
class ListenerTable:
    """``{key: socket}`` plus each socket's source. Several keys may share one socket
    (a systemd-provided listener is shared by every slot)."""

    sockets: dict[ListenerKey, socket.socket] = field(default_factory=dict)
    sources: dict[ListenerKey, ListenerSource] = field(default_factory=dict)

    def add(self, key: ListenerKey, sock: socket.socket, source: ListenerSource) -> None:
        self.sockets[key] = sock
        self.sources[key] = source

    def slot_sockets(self, slot: int) -> list[socket.socket]:
        return [s for k, s in self.sockets.items() if k.role is ListenerRole.PUBLIC and k.slot == slot]

    def admin_socket(self) -> socket.socket | None:
        for key, sock in self.sockets.items():
            if key.role is ListenerRole.ADMIN:
                return sock
        return None

    def public_addresses(self) -> list[Address]:
        """Resolved public addresses, one per configured listen address (slot 0's view)."""
        seen: dict[Address, Address] = {}
        for key, sock in self.sockets.items():
            if key.role is ListenerRole.PUBLIC and key.address not in seen:
                seen[key.address] = bound_address(sock)
        return list(seen.values())

    def fds(self) -> set[int]:
        return {s.fileno() for s in self.sockets.values()}

    def close_all(self) -> None:
        for sock in {id(s): s for s in self.sockets.values()}.values():
            sock.close()
        self.sockets.clear()
        self.sources.clear()


def wanted_keys(listen: Iterable[str], admin_listen: str | None, workers: int) -> list[ListenerKey]:
    keys: list[ListenerKey] = []
    for text in listen:
        addr = Address.parse(text)
        keys.extend(ListenerKey(ListenerRole.PUBLIC, addr, slot) for slot in range(workers))
    if admin_listen is not None:
        keys.append(ListenerKey(ListenerRole.ADMIN, Address.parse(admin_listen)))
    return keys


def build_table(
    keys: list[ListenerKey],
    *,
    inherited: Mapping[ListenerKey, socket.socket] | None = None,
    systemd: Iterable[socket.socket] = (),
) -> tuple[ListenerTable, dict[ListenerKey, socket.socket]]:
    """Assemble the table for ``keys``: adopt inherited sockets, then systemd's, then bind.

    Returns the table and the inherited sockets no key wanted (the caller keeps
    them until the predecessor has gone, then closes them). On a bind failure the
    sockets bound *here* are closed again and ListenerError is raised; adopted
    ones are left alone.
    """
    inherited = dict(inherited or {})
    systemd_socks = list(systemd)
    table = ListenerTable()
    fresh: list[socket.socket] = []
    resolved_port: dict[tuple[ListenerRole, Address], int] = {}
    try:
        for key in keys:
            sock = inherited.pop(key, None)
            if sock is not None:
                table.add(key, sock, ListenerSource.HANDOFF)
                resolved_port.setdefault((key.role, key.address), bound_address(sock).port)
                continue
            activated = next((s for s in systemd_socks if key.matches(s)), None)
            if activated is not None:
                table.add(key, activated, ListenerSource.SYSTEMD)
                continue
            addr = key.address
            if addr.port == 0 and (key.role, addr) in resolved_port:
                addr = Address(addr.host, resolved_port[(key.role, addr)])
            sock = bind_listener(addr, reuse_port=key.role is ListenerRole.PUBLIC)
            fresh.append(sock)
            resolved_port.setdefault((key.role, key.address), bound_address(sock).port)
            table.add(key, sock, ListenerSource.BIND)
    except BaseException:
        for sock in fresh:
            sock.close()
        raise
    return table, inherited


def warn_if_closing_queues(socks: Iterable[socket.socket], why: str) -> None:
    """Closing a reuseport socket resets the connections queued on it unless the kernel
    migrates them (``net.ipv4.tcp_migrate_req``); say so when it cannot."""
    names = [str(bound_address(s)) for s in socks if s.fileno() >= 0]
    if names and tcp_migrate_req_enabled() is not True:
        log.warning(
            "%s closes listener(s) %s; connections queued on them are reset"
            " (set net.ipv4.tcp_migrate_req=1 to migrate them)", why, ", ".join(names),
        )


def tcp_migrate_req_enabled() -> bool | None:
    """Whether the kernel migrates queued connections off a closed reuseport socket."""
    try:
        with open("/proc/sys/net/ipv4/tcp_migrate_req") as fh:
            return fh.read().strip() == "1"
    except OSError:
        return None
