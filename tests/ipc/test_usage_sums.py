"""A worker's usage rows: every record with usage summed into its hour and day, whatever the
order the records come in."""

from __future__ import annotations

from msgspec.structs import astuple, replace

from ferrogate.ipc.request_records import RequestRecord
from ferrogate.ipc.usage_sums import DAY, HOUR, bills, sum_usage, usage_rows

DAY_START = 1_764_892_800  # 2025-12-05T00:00:00Z


def rec(n: int, at: float, key: str | None = "a", model: str = "m", **fields: object) -> RequestRecord:
    return RequestRecord(
        event_id=f"e{n}", at=at, request_id=f"r{n}", endpoint="chat", status=200, duration_ms=1.0, overhead_ms=0.1,
        key_id=key, model=model, provider="p", input_tokens=n, output_tokens=1, usage_source="provider",
        **fields,  # type: ignore[arg-type]
    )


def by_bucket(rows: list[tuple[object, ...]]) -> dict[tuple[object, ...], tuple[object, ...]]:
    return {row[:6]: row[6:] for row in rows}


def test_a_run_of_one_key_is_one_hour_row_and_one_day_row() -> None:
    rows = by_bucket(usage_rows([rec(1, DAY_START + 5), rec(2, DAY_START + 6), rec(3, DAY_START + 7)]))
    assert rows[("hour", DAY_START, "a", "", "m", "p")][:4] == (3, 0, 6, 3)
    assert rows[("day", DAY_START, "a", "", "m", "p")][:4] == (3, 0, 6, 3)
    assert len(rows) == 2


def test_a_run_that_crosses_an_hour_is_split_at_the_hour() -> None:
    rows = by_bucket(usage_rows([rec(1, DAY_START + HOUR - 0.5), rec(2, DAY_START + HOUR), rec(4, DAY_START + HOUR + 1)]))
    assert rows[("hour", DAY_START, "a", "", "m", "p")][0] == 1
    assert rows[("hour", DAY_START + HOUR, "a", "", "m", "p")][0] == 2
    assert rows[("day", DAY_START, "a", "", "m", "p")][:3] == (3, 0, 7)


def test_interleaved_keys_and_models_each_get_their_own_rows() -> None:
    records = [rec(1, DAY_START + 1, key="a"), rec(2, DAY_START + 2, key="b"), rec(3, DAY_START + 3, key="a"),
               rec(4, DAY_START + 4, key="a", model="n"), rec(5, DAY_START + 5, key=None), rec(6, DAY_START + 6, key="")]
    rows = by_bucket(usage_rows(records))
    hour = {k[2:5]: v[:3] for k, v in rows.items() if k[0] == "hour"}
    assert hour == {("a", "", "m"): (2, 0, 4), ("b", "", "m"): (1, 0, 2), ("a", "", "n"): (1, 0, 4), ("", "", "m"): (2, 0, 11)}


def test_records_without_usage_add_nothing_and_days_fold_their_hours() -> None:
    bare = RequestRecord(event_id="x", at=DAY_START + 9, request_id="x", endpoint="chat", status=401, duration_ms=1.0,
                         overhead_ms=0.1, key_id="a")
    rows = by_bucket(usage_rows([rec(1, DAY_START + 1), bare, rec(2, DAY_START + DAY - 1), rec(3, DAY_START + DAY)]))
    assert rows[("day", DAY_START, "a", "", "m", "p")][:3] == (2, 0, 3)
    assert rows[("day", DAY_START + DAY, "a", "", "m", "p")][:3] == (1, 0, 3)


def test_a_record_bills_when_it_used_tokens_or_was_answered_from_the_cache() -> None:
    assert bills(astuple(rec(1, DAY_START)))
    assert bills(astuple(replace(rec(0, DAY_START, cache_hit=True), output_tokens=0)))
    assert not bills(astuple(replace(rec(0, DAY_START), output_tokens=0)))
    assert not bills(astuple(replace(rec(1, DAY_START), usage_source=None)))  # nothing reached a provider


def test_the_sums_of_fields_equal_the_sums_of_records() -> None:
    records = [replace(rec(n, DAY_START + n * 600, key="ab"[n % 2], cache_hit=n % 3 == 0), status=200 + n % 2 * 300)
               for n in range(40)]
    assert sum_usage([astuple(r) for r in records]) == usage_rows(records)
    days = by_bucket(usage_rows(records))
    assert days[("day", DAY_START, "a", "", "m", "p")][:2] == (20, 0)  # requests, errors
    assert days[("day", DAY_START, "b", "", "m", "p")][:2] == (20, 20)
