"""The keyed fd table over SCM_RIGHTS, in one process (both ends of a socketpair)."""

from __future__ import annotations

import os
import socket
import time

import pytest

from ferrogate.governance.counter_table import CounterTable
from ferrogate.supervisor import handoff
from ferrogate.supervisor.handoff import (
    MAX_FDS_PER_MESSAGE,
    HandoffError,
    TableBatch,
    receive_table,
    recv_message,
    send_message,
    send_table,
)
from ferrogate.supervisor.listeners import ListenerSource, ListenerTable, build_table, wanted_keys


def inode(sock: socket.socket) -> int:
    return os.fstat(sock.fileno()).st_ino


@pytest.fixture
def channel():
    old, new = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    yield old, new
    old.close()
    new.close()


def test_table_arrives_keyed_with_the_same_sockets_in_batches_of_at_most_32(channel, monkeypatch):
    old, new = channel
    table, _ = build_table(wanted_keys(["127.0.0.1:0", "127.0.0.2:0"], "127.0.0.1:0", 20))
    sent_batches: list[int] = []
    real_send = handoff.send_message

    def counting_send(sock, msg, fds=()):
        if isinstance(msg, TableBatch):
            sent_batches.append(len(fds))
        real_send(sock, msg, fds)

    monkeypatch.setattr(handoff, "send_message", counting_send)
    try:
        send_table(old, table, generation=7)
        received, generation, counters_fd = receive_table(new, time.monotonic() + 5)
        assert counters_fd is None
        assert generation == 7
        assert set(received) == set(table.sockets)
        for key, sock in received.items():
            assert inode(sock) == inode(table.sockets[key])  # the very same socket
            assert sock.fileno() != table.sockets[key].fileno()
            assert not os.get_inheritable(sock.fileno())
        assert max(sent_batches) <= MAX_FDS_PER_MESSAGE and sum(sent_batches) == len(table.sockets)
        assert len(sent_batches) > 1
        request, fds = recv_message(old, 1)
        assert isinstance(request, handoff.TableRequest) and fds == []
        for sock in received.values():
            sock.close()
    finally:
        table.close_all()


def test_the_counter_table_travels_with_the_last_batch_and_is_the_same_memory(channel):
    old, new = channel
    table, _ = build_table(wanted_keys(["127.0.0.1:0"], None, 40))  # more sockets than one batch
    counters = CounterTable.create(capacity=8)
    try:
        send_table(old, table, generation=3, counters_fd=counters.fd)
        received, _, counters_fd = receive_table(new, time.monotonic() + 5)
        assert counters_fd is not None and set(received) == set(table.sockets)
        adopted = CounterTable(counters_fd)
        counters.fields[counters.slot_base(42) + 1] = 7
        assert adopted.fields[adopted.slot_base(42) + 1] == 7
        for sock in received.values():
            sock.close()
    finally:
        table.close_all()


def test_a_socket_bound_elsewhere_than_its_key_is_rejected(channel):
    old, new = channel
    table, _ = build_table(wanted_keys(["127.0.0.1:0"], None, 1))
    other, _ = build_table(wanted_keys(["127.0.0.1:0"], None, 1))
    try:
        (key,) = table.sockets
        liar = ListenerTable()
        real_port = table.sockets[key].getsockname()[1]
        pinned = handoff.ListenerKey.parse(f"public/127.0.0.1:{real_port}/slot-0")
        liar.add(pinned, other.sockets[key], ListenerSource.BIND)
        send_table(old, liar, generation=2)
        with pytest.raises(HandoffError, match="bound elsewhere"):
            receive_table(new, time.monotonic() + 5)
    finally:
        table.close_all()
        other.close_all()


def test_peer_closing_the_channel_is_an_error_not_a_hang(channel):
    old, new = channel
    old.close()
    with pytest.raises(HandoffError, match="closed"):
        recv_message(new, 1)


def test_silence_times_out(channel):
    _, new = channel
    with pytest.raises(HandoffError, match="timed out"):
        recv_message(new, 0.05)


def test_messages_keep_their_boundaries(channel):
    old, new = channel
    send_message(old, handoff.SuccessorFailed("first"))
    send_message(old, handoff.CutOver(42))
    assert recv_message(new, 1)[0] == handoff.SuccessorFailed("first")
    assert recv_message(new, 1)[0] == handoff.CutOver(42)
