"""The proxy's random ids: 80 hex digits a request, cut from digits drawn in bulk, never shared
by a forked child with its parent."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest

from ferrogate._fastpath import forwarding
from ferrogate._fastpath.forwarding import IdSource

HEX80 = re.compile(rb"[0-9a-f]{80}")
IDS_PER_DRAW = 100  # 8,000 digits


@pytest.fixture(params=["c-stream", "python-draw"], autouse=True)
def draw(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Every test runs with the C hex stream (when built) and with the Python fallback."""
    if request.param == "c-stream" and forwarding.HexStream is None:
        pytest.skip("the C modules are not built")
    if request.param == "python-draw":
        monkeypatch.setattr(forwarding, "HexStream", None)
    yield request.param


def test_ids_are_80_lowercase_hex_digits_and_all_differ_across_refills() -> None:
    ids = IdSource()
    drawn = [ids.hex80() for _ in range(350)]  # more than three bulk draws
    assert all(HEX80.fullmatch(d) for d in drawn)
    assert len(set(drawn)) == len(drawn)


def next_id_in_a_child(ids: IdSource) -> bytes:
    """The id a forked child of this process draws next (the child leaves without running
    the parent's cleanup)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write_end, ids.hex80())
        os._exit(0)
    os.close(write_end)
    try:
        return os.read(read_end, 80)
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)


def test_a_forked_child_draws_other_ids_than_its_parent() -> None:
    ids = IdSource()
    ids.hex80()  # the pool is filled before the fork
    child = next_id_in_a_child(ids)
    assert HEX80.fullmatch(child)
    assert child != ids.hex80()


def test_a_forked_child_and_its_parent_draw_different_digits_after_the_fork() -> None:
    """Both refill right after the fork: the child's generator is re-seeded, not a copy."""
    ids = IdSource()
    for _ in range(IDS_PER_DRAW):  # the pool is used up: the next id on either side draws anew
        ids.hex80()
    child = next_id_in_a_child(ids)
    assert HEX80.fullmatch(child)
    assert child != ids.hex80()
