"""The 429s of limits and budgets, and the remaining-limit headers of every governed answer.

Header names are OpenAI's (``x-ratelimit-*-requests`` / ``-tokens``), so SDKs
and agent frameworks that back off on them work unchanged; they describe the
caller's own key. Resets are durations in OpenAI's style (``12s``, ``1m3s``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from ferrogate.errors import GatewayError
from ferrogate.governance.counter_table import (
    RESERVED,
    RPM_COUNT,
    RPM_START,
    SPENT,
    TPM_START,
    TPM_TOKENS,
)
from ferrogate.governance.quotas import Budget, Subject

WINDOW_MS: Final = 60_000  # a request or token window; the limiter and the C ops count in it


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


def too_large(subject: Subject, tokens: int, limit: int) -> GatewayError:
    """A request whose reservation alone is over a per-minute token limit: waiting will not help."""
    return GatewayError(
        429,
        f"Request too large for {subject.shown}: it may use {tokens} tokens (input estimate plus "
        f"max output), over its limit of {limit} tokens per minute. Lower max_tokens or the input.",
        code="request_too_large",
        headers=((b"x-ratelimit-limit-tokens", b"%d" % limit),),
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


def limit_headers(key: Subject, fields: memoryview, base: int, now_ms: int) -> bytes | None:
    """The key's remaining requests and tokens after this request, read from its counter slot."""
    budget = key.token_budget
    used = period = 0
    if budget is not None:
        at = base + budget.field
        used = fields[at + SPENT] + fields[at + RESERVED]
        period = fields[at]
    return remaining_headers(
        key, fields[base + RPM_COUNT], fields[base + RPM_START], fields[base + TPM_TOKENS], fields[base + TPM_START],
        used, period, now_ms,
    )


def remaining_headers(
    key: Subject,
    rpm_count: int,
    rpm_start: int,
    tpm_tokens: int,
    tpm_start: int,
    budget_used: int,
    budget_period: int,
    now_ms: int,
) -> bytes | None:
    """The key's remaining requests and tokens as header lines (None: it has no such limits),
    whichever backend counted them. The fixed parts were formatted once, in ``Subject.header_format``."""
    fmt = key.header_format
    if fmt is None:
        return None
    values: list[object] = []
    if key.rpm is not None:
        values.append(max(0, key.rpm - rpm_count))
        values.append(duration(max(0, rpm_start + WINDOW_MS - now_ms)))
    if key.tpm is not None:
        values.append(max(0, key.tpm - tpm_tokens))
        values.append(duration(max(0, tpm_start + WINDOW_MS - now_ms)))
    else:
        budget = key.token_budget
        if budget is not None:
            values.append(max(0, budget.limit - budget_used))
            values.append(duration(max(0, budget.period_ends(budget_period) * 1000 - now_ms)))
    return fmt % tuple(values)


def header_pairs(block: bytes) -> tuple[tuple[bytes, bytes], ...]:
    """``block``'s lines as (name, value) pairs, for an error answer."""
    pairs = []
    for line in block.split(b"\r\n"):
        if line:
            name, _, value = line.partition(b": ")
            pairs.append((name, value))
    return tuple(pairs)
