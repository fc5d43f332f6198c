"""The 429s of limits and budgets, and the remaining-limit headers of every governed answer.

Header names are OpenAI's (``x-ratelimit-*-requests`` / ``-tokens``), so SDKs
and agent frameworks that back off on them work unchanged; they describe the
caller's own key. Resets are durations in OpenAI's style (``12s``, ``1m3s``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from ferrogate.errors import GatewayError
from ferrogate.governance.counter_table import (
    BUDGET_STRIDE,
    BUDGETS,
    RESERVED,
    RPM_COUNT,
    RPM_START,
    SPENT,
    TPM_START,
    TPM_TOKENS,
)
from ferrogate.governance.quotas import Budget, Subject, period_end

LimitHeaders = tuple[tuple[bytes, bytes], ...] | None

_WINDOW_MS = 60_000


def duration(ms: int) -> bytes:
    """``ms`` as OpenAI writes a reset: ``850ms``, ``12s``, ``1m3s``, ``2h0m5s``."""
    if ms < 1000:
        return b"%dms" % ms
    secs = -(-ms // 1000)
    if secs < 60:
        return b"%ds" % secs
    minutes, secs = divmod(secs, 60)
    if minutes < 60:
        return b"%dm%ds" % (minutes, secs)
    hours, minutes = divmod(minutes, 60)
    return b"%dh%dm%ds" % (hours, minutes, secs)


def rate_limited(subject: Subject, what: str, limit: int, reset_ms: int) -> GatewayError:
    retry = max(1, -(-reset_ms // 1000))
    return GatewayError(
        429,
        f"Rate limit reached for {subject.shown}: {limit} {what} per minute. Try again in {retry}s.",
        code="rate_limit_exceeded",
        headers=(
            (b"retry-after", b"%d" % retry),
            (b"x-ratelimit-limit-" + what.encode(), b"%d" % limit),
            (b"x-ratelimit-remaining-" + what.encode(), b"0"),
            (b"x-ratelimit-reset-" + what.encode(), duration(reset_ms)),
        ),
    )


def budget_exceeded(subject: Subject, budget: Budget, resets_at: int, now_s: int) -> GatewayError:
    when = datetime.fromtimestamp(resets_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return GatewayError(
        429,
        f"{subject.shown[0].upper()}{subject.shown[1:]} has used its {budget.label} "
        f"({budget.shown_limit()}); it resets at {when}.",
        code="budget_exceeded",
        type="insufficient_quota",
        headers=((b"retry-after", b"%d" % max(1, resets_at - now_s)),),
    )


def limit_headers(key: Subject, fields: memoryview, base: int, now_ms: int) -> LimitHeaders:
    """The key's remaining requests and tokens after this request (None: it has no such limits)."""
    out: list[tuple[bytes, bytes]] = []
    if key.rpm is not None:
        out.append((b"x-ratelimit-limit-requests", b"%d" % key.rpm))
        out.append((b"x-ratelimit-remaining-requests", b"%d" % max(0, key.rpm - fields[base + RPM_COUNT])))
        out.append((b"x-ratelimit-reset-requests", duration(max(0, fields[base + RPM_START] + _WINDOW_MS - now_ms))))
    if key.tpm is not None:
        out.append((b"x-ratelimit-limit-tokens", b"%d" % key.tpm))
        out.append((b"x-ratelimit-remaining-tokens", b"%d" % max(0, key.tpm - fields[base + TPM_TOKENS])))
        out.append((b"x-ratelimit-reset-tokens", duration(max(0, fields[base + TPM_START] + _WINDOW_MS - now_ms))))
    else:
        budget = key.token_budget
        if budget is not None:
            at = base + BUDGETS + budget.kind * BUDGET_STRIDE
            left = budget.limit - fields[at + SPENT] - fields[at + RESERVED]
            ends = period_end(budget.kind, fields[at], budget.period_secs)
            out.append((b"x-ratelimit-limit-tokens", b"%d" % budget.limit))
            out.append((b"x-ratelimit-remaining-tokens", b"%d" % max(0, left)))
            out.append((b"x-ratelimit-reset-tokens", duration(max(0, ends * 1000 - now_ms))))
    return tuple(out) if out else None
