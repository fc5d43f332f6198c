"""The listener table: keys, port 0 resolved once, adoption before binding."""

from __future__ import annotations

import socket

import pytest

from ferrogate.supervisor.listeners import (
    Address,
    ListenerError,
    ListenerKey,
    ListenerRole,
    ListenerSource,
    bind_listener,
    build_table,
    wanted_keys,
)


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("127.0.0.1:8080", "127.0.0.1", 8080),
        (":9000", "0.0.0.0", 9000),
        ("[::1]:443", "::1", 443),
        ("http://127.0.0.1:0", "127.0.0.1", 0),
    ],
)
def test_address_parse(text, host, port):
    assert Address.parse(text) == Address(host, port)


@pytest.mark.parametrize("text", ["localhost", "127.0.0.1:http", "127.0.0.1:70000"])
def test_bad_addresses_are_rejected_with_the_address_named(text):
    with pytest.raises(ListenerError, match="listen address"):
        Address.parse(text)


def test_key_text_round_trips():
    for text in ("public/127.0.0.1:8080/slot-3", "admin/127.0.0.1:2019", "public/[::1]:0/slot-0"):
        assert str(ListenerKey.parse(text)) == text


def test_port_zero_is_resolved_once_and_every_slot_has_its_own_reuseport_socket():
    table, leftover = build_table(wanted_keys(["127.0.0.1:0"], "127.0.0.1:0", 3))
    try:
        slots = [table.slot_sockets(i)[0] for i in range(3)]
        assert len({id(s) for s in slots}) == 3
        assert len({s.getsockname()[1] for s in slots}) == 1
        assert all(s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) for s in slots)
        admin = table.admin_socket()
        assert admin is not None and admin.getsockname()[1] != slots[0].getsockname()[1]
        assert not admin.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
        assert set(table.sources.values()) == {ListenerSource.BIND}
        assert leftover == {}
    finally:
        table.close_all()


def test_inherited_sockets_are_adopted_not_rebound_and_extras_are_handed_back():
    first, _ = build_table(wanted_keys(["127.0.0.1:0"], None, 2))
    try:
        inherited = dict(first.sockets)
        second, leftover = build_table(wanted_keys(["127.0.0.1:0"], None, 1), inherited=inherited)
        key0 = ListenerKey(ListenerRole.PUBLIC, Address("127.0.0.1", 0), 0)
        key1 = ListenerKey(ListenerRole.PUBLIC, Address("127.0.0.1", 0), 1)
        assert second.sockets[key0] is first.sockets[key0]
        assert second.sources[key0] is ListenerSource.HANDOFF
        assert leftover == {key1: first.sockets[key1]}
    finally:
        first.close_all()


def test_more_slots_than_inherited_bind_the_inherited_port():
    first, _ = build_table(wanted_keys(["127.0.0.1:0"], None, 1))
    try:
        second, _ = build_table(wanted_keys(["127.0.0.1:0"], None, 2), inherited=dict(first.sockets))
        ports = {second.slot_sockets(i)[0].getsockname()[1] for i in range(2)}
        assert ports == {first.slot_sockets(0)[0].getsockname()[1]}
        second.slot_sockets(1)[0].close()
    finally:
        first.close_all()


def test_a_systemd_socket_is_shared_by_every_slot_of_its_address():
    activated = bind_listener(Address("127.0.0.1", 0), reuse_port=False)
    port = activated.getsockname()[1]
    try:
        table, _ = build_table(wanted_keys([f"127.0.0.1:{port}"], None, 2), systemd=[activated])
        assert table.slot_sockets(0) == [activated] == table.slot_sockets(1)
        assert set(table.sources.values()) == {ListenerSource.SYSTEMD}
    finally:
        activated.close()


def test_a_failed_bind_closes_what_it_bound_and_names_the_address():
    blocker = bind_listener(Address("127.0.0.1", 0), reuse_port=False)
    port = blocker.getsockname()[1]
    try:
        with pytest.raises(ListenerError, match=f"127.0.0.1:{port}: address already in use"):
            build_table(wanted_keys(["127.0.0.1:0", f"127.0.0.1:{port}"], None, 1))
    finally:
        blocker.close()


def test_key_matches_only_its_own_address():
    sock = bind_listener(Address("127.0.0.1", 0), reuse_port=True)
    try:
        port = sock.getsockname()[1]
        assert ListenerKey(ListenerRole.PUBLIC, Address("127.0.0.1", port), 0).matches(sock)
        assert ListenerKey(ListenerRole.PUBLIC, Address("127.0.0.1", 0), 0).matches(sock)
        assert not ListenerKey(ListenerRole.PUBLIC, Address("127.0.0.1", port + 1), 0).matches(sock)
        assert not ListenerKey(ListenerRole.PUBLIC, Address("127.0.0.2", port), 0).matches(sock)
    finally:
        sock.close()
