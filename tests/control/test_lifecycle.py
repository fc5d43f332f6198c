"""The lifecycle words every process shares: a worker's phases move forward only, and each
exit code has one meaning."""

from __future__ import annotations

from itertools import pairwise, product

from ferrogate.ipc import ExitCode, WorkerPhase, can_move, later

P = WorkerPhase


def test_a_worker_starts_then_serves_then_drains_then_exits() -> None:
    path = [P.STARTING, P.READY, P.DRAINING, P.EXITED]
    assert all(can_move(a, b) for a, b in pairwise(path))


def test_a_worker_may_drain_or_die_before_it_was_ready() -> None:
    assert can_move(P.STARTING, P.DRAINING)
    assert can_move(P.STARTING, P.EXITED)
    assert can_move(P.READY, P.EXITED)


def test_no_phase_moves_back_or_stays_put() -> None:
    for a, b in product(P, P):
        if later(b, a) is False:
            assert not can_move(a, b), (a, b)


def test_an_exited_worker_moves_nowhere() -> None:
    assert not any(can_move(P.EXITED, b) for b in P)


def test_later_orders_the_phases_along_the_transitions() -> None:
    order = [P.STARTING, P.READY, P.DRAINING, P.EXITED]
    for i, a in enumerate(order):
        for j, b in enumerate(order):
            assert later(a, b) == (i > j), (a, b)


def test_phases_compare_equal_to_the_words_on_the_wire() -> None:
    assert P.READY == "ready" and later("exited", "ready")  # type: ignore[arg-type]


def test_exit_codes_are_distinct_and_keep_their_numbers() -> None:
    assert len({int(c) for c in ExitCode}) == len(ExitCode)
    assert (ExitCode.OK, ExitCode.CONFIG_ERROR, ExitCode.STARTUP_FAILED) == (0, 1, 2)
    assert (ExitCode.BOOT_ERROR, ExitCode.CRASH_LOOP) == (3, 4)
