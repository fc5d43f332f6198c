"""A batch of request records summed per hour and day, as the usage-aggregate rows they add to.

A worker sums its batch before sending it, so the control process's write is one upsert
per (granularity, bucket, key, tenant, model, provider) instead of one per request.
Compiled with the hot path: a worker sums every record it serves.
"""

from __future__ import annotations

from ferrogate.ipc.request_records import RequestRecord

HOUR = 3600
DAY = 86400

# (granularity, bucket start, key id, tenant, model, provider, requests, errors, input,
#  output, cached, reasoning tokens, cost pico, cache hits, saved cost pico)
UsageRow = tuple[str, int, str, str, str, str, int, int, int, int, int, int, int, int, int]


def usage_rows(records: list[RequestRecord]) -> list[UsageRow]:
    """The hourly and daily usage rows the records add to (records with usage only):
    grouped by hour first, then summed per group and the hours folded into their days.
    Records of one key, model and hour usually come in runs, so a record like the one
    before it joins that one's group without a lookup."""
    hours: dict[tuple[int, str, str, str, str], list[RequestRecord]] = {}
    group: list[RequestRecord] | None = None
    last: RequestRecord | None = None
    hour_end = 0
    for r in records:
        if r.usage_source is None:
            continue
        if (
            group is not None and last is not None and r.at < hour_end and r.at >= hour_end - HOUR
            and r.key_id == last.key_id and r.model == last.model and r.provider == last.provider
            and r.tenant == last.tenant
        ):
            group.append(r)
            continue
        at = int(r.at)
        hour = at - at % HOUR
        key = (hour, r.key_id or "", r.tenant or "", r.model or "", r.provider or "")
        group = hours.get(key)
        if group is None:
            group = hours[key] = [r]
        else:
            group.append(r)
        last = r
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


def _sums(group: list[RequestRecord]) -> tuple[int, int, int, int, int, int, int, int, int]:
    errors = inp = out = cached = reasoning = cost = hits = saved = 0
    for r in group:
        errors += r.status >= 400
        inp += r.input_tokens
        out += r.output_tokens
        cached += r.cached_tokens
        reasoning += r.reasoning_tokens
        cost += r.cost_pico
        hits += r.cache_hit
        saved += r.saved_cost_pico
    return (len(group), errors, inp, out, cached, reasoning, cost, hits, saved)
