"""The one module of metric names: unique, prefixed, and following Prometheus conventions."""

from __future__ import annotations

import re

from ferrogate.observability import names

_NAME = re.compile(r"^ferrogate_[a-z][a-z0-9_]*$")


def test_every_metric_defined_in_the_module_is_listed_in_all() -> None:
    defined = {v for v in vars(names).values() if isinstance(v, names.MetricName)}
    assert defined == set(names.ALL)


def test_metric_names_are_unique() -> None:
    spelled = [m.name for m in names.ALL]
    assert len(spelled) == len(set(spelled))


def test_metric_names_are_prefixed_snake_case_and_counters_end_in_total() -> None:
    for metric in names.ALL:
        assert _NAME.match(metric.name), metric.name
        assert metric.name.endswith("_total") == (metric.kind == "counter"), metric.name
        assert metric.help.endswith("."), metric.name
