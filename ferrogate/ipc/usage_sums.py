"""A batch of request records summed per hour and day, as the usage-aggregate rows they add to.

A worker sums its batch before sending it, so the control process's write is one upsert
per (granularity, bucket, key, tenant, model, provider) instead of one per request.
Compiled with the hot path: a worker sums every record it serves.
"""

from __future__ import annotations

from typing import Final

from msgspec.structs import astuple

from ferrogate.ipc.request_records import RECORD_FIELDS, RecordFields, RequestRecord

HOUR = 3600
DAY = 86400

# (granularity, bucket start, key id, tenant, model, provider, requests, errors, input,
#  output, cached, reasoning tokens, cost pico, cache hits, saved cost pico)
UsageRow = tuple[str, int, str, str, str, str, int, int, int, int, int, int, int, int, int]


_AT: Final = RECORD_FIELDS.index("at")
_STATUS: Final = RECORD_FIELDS.index("status")
_KEY_ID: Final = RECORD_FIELDS.index("key_id")
_TENANT: Final = RECORD_FIELDS.index("tenant")
_MODEL: Final = RECORD_FIELDS.index("model")
_PROVIDER: Final = RECORD_FIELDS.index("provider")
_CACHE_HIT: Final = RECORD_FIELDS.index("cache_hit")
_INPUT: Final = RECORD_FIELDS.index("input_tokens")
_OUTPUT: Final = RECORD_FIELDS.index("output_tokens")
_CACHED: Final = RECORD_FIELDS.index("cached_tokens")
_REASONING: Final = RECORD_FIELDS.index("reasoning_tokens")
_USAGE_SOURCE: Final = RECORD_FIELDS.index("usage_source")
_COST: Final = RECORD_FIELDS.index("cost_pico")
_SAVED: Final = RECORD_FIELDS.index("saved_cost_pico")
# Where the C sums find each field they read (_batch_sums.c: usage_rows's order).
_LAYOUT: Final[tuple[int, ...]] = (_AT, _STATUS, _KEY_ID, _TENANT, _MODEL, _PROVIDER, _CACHE_HIT, _INPUT, _OUTPUT, _CACHED,
                  _REASONING, _USAGE_SOURCE, _COST, _SAVED)

try:
    from ferrogate.ipc._batch_sums import usage_rows as _c_usage_rows
except ImportError:  # not built: sum_usage_py sums every batch
    _c_usage_rows = None  # type: ignore[assignment]


def bills(f: RecordFields) -> bool:
    """Whether the request whose fields are ``f`` has a metering event: it used tokens or
    was answered from the cache."""
    return f[_USAGE_SOURCE] is not None and (f[_INPUT] > 0 or f[_OUTPUT] > 0 or bool(f[_CACHE_HIT]))


def usage_rows(records: list[RequestRecord]) -> list[UsageRow]:
    """The hourly and daily usage rows the records add to (records with usage only)."""
    return sum_usage([astuple(r) for r in records])


def sum_usage(batch: list[RecordFields]) -> list[UsageRow]:
    """:func:`usage_rows` of records' fields: summed in C when it is built and can sum them
    exactly (it answers None otherwise), else by :func:`sum_usage_py`."""
    if _c_usage_rows is not None:
        rows = _c_usage_rows(batch, _LAYOUT)
        if rows is not None:
            return rows
    return sum_usage_py(batch)


def sum_usage_py(batch: list[RecordFields]) -> list[UsageRow]:
    """:func:`sum_usage` in Python: grouped by hour first, then summed per group and the
    hours folded into their days. Records of one key, model and hour usually come in runs,
    so a record like the one before it joins that one's group without a lookup."""
    hours: dict[tuple[int, str, str, str, str], list[RecordFields]] = {}
    group: list[RecordFields] | None = None
    last: RecordFields | None = None
    hour_end = 0
    for f in batch:
        if f[_USAGE_SOURCE] is None:
            continue
        at: float = f[_AT]
        if (
            group is not None and last is not None and at < hour_end and at >= hour_end - HOUR
            and f[_KEY_ID] == last[_KEY_ID] and f[_MODEL] == last[_MODEL] and f[_PROVIDER] == last[_PROVIDER]
            and f[_TENANT] == last[_TENANT]
        ):
            group.append(f)
            continue
        whole = int(at)
        hour = whole - whole % HOUR
        key = (hour, f[_KEY_ID] or "", f[_TENANT] or "", f[_MODEL] or "", f[_PROVIDER] or "")
        group = hours.get(key)
        if group is None:
            group = hours[key] = [f]
        else:
            group.append(f)
        last = f
        hour_end = hour + HOUR
    days: dict[tuple[int, str, str, str, str], list[int]] = {}
    rows: list[UsageRow] = []
    for (hour, key_id, tenant, model, provider), members in hours.items():
        s = _sums(members)
        rows.append(("hour", hour, key_id, tenant, model, provider, *s))
        day_key = (hour - hour % DAY, key_id, tenant, model, provider)
        day = days.get(day_key)
        if day is None:
            days[day_key] = list(s)
        else:
            for i, n in enumerate(s):
                day[i] += n
    for (bucket, key_id, tenant, model, provider), d in days.items():
        rows.append(("day", bucket, key_id, tenant, model, provider, d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8]))
    return rows


def _sums(group: list[RecordFields]) -> tuple[int, int, int, int, int, int, int, int, int]:
    errors = inp = out = cached = reasoning = cost = hits = saved = 0
    for f in group:
        status: int = f[_STATUS]
        errors += status >= 400
        inp += f[_INPUT]
        out += f[_OUTPUT]
        cached += f[_CACHED]
        reasoning += f[_REASONING]
        cost += f[_COST]
        hits += bool(f[_CACHE_HIT])
        saved += f[_SAVED]
    return (len(group), errors, inp, out, cached, reasoning, cost, hits, saved)
