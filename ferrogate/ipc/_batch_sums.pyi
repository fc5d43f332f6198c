"""Types of the C sums of a worker's batch (``_batch_sums.c``); None: sum it in Python."""

from typing import Any

def usage_rows(batch: list[tuple[Any, ...]], layout: tuple[int, ...]) -> list[Any] | None: ...
def series_sums(
    batch: list[tuple[Any, ...]], layout: tuple[int, ...], latency_bounds: tuple[float, ...],
    overhead_bounds: tuple[float, ...],
) -> tuple[list[Any], list[tuple[Any, int]], bool, int, list[tuple[Any, int]], list[int]] | None: ...
def genai_sums(
    batch: list[tuple[Any, ...]], layout: tuple[int, ...], bounds: tuple[tuple[float, ...], ...],
) -> list[Any] | None: ...
