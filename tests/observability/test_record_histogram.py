"""A histogram's buckets are Prometheus's ``le``: a value equal to a bound counts in that bound's
bucket, one above every bound only in ``+Inf``."""

from __future__ import annotations

from ferrogate.observability.record_counter import Histogram

BOUNDS = (0.005, 0.01, 0.025)


def test_a_value_on_a_bound_counts_in_that_bounds_bucket() -> None:
    h = Histogram(BOUNDS)
    h.observe(0.01)
    assert h.buckets() == [("0.005", 0), ("0.01", 1), ("0.025", 1), ("+Inf", 1)]


def test_a_value_below_the_first_bound_counts_in_every_bucket() -> None:
    h = Histogram(BOUNDS)
    h.observe(0.0)
    assert [n for _, n in h.buckets()] == [1, 1, 1, 1]


def test_a_value_above_every_bound_counts_only_in_inf() -> None:
    h = Histogram(BOUNDS)
    h.observe(0.5)
    h.observe(0.02)
    assert h.buckets() == [("0.005", 0), ("0.01", 0), ("0.025", 1), ("+Inf", 2)]
    assert (h.count, round(h.sum, 6)) == (2, 0.52)
