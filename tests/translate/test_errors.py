"""Provider errors land in the AI path's taxonomy."""

from __future__ import annotations

import json

import pytest

from ferrogate.ai.translate.errors import classify_anthropic, classify_gemini


def _anthropic(kind: str, message: str = "m") -> bytes:
    return json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()


def _gemini(status: str, message: str = "m", details: list | None = None) -> bytes:
    return json.dumps({"error": {"code": 400, "message": message, "status": status, "details": details or []}}).encode()


@pytest.mark.parametrize(("status", "kind", "expected"), [
    (529, "overloaded_error", "upstream_transient"),
    (429, "rate_limit_error", "rate_limited"),
    (400, "invalid_request_error", "invalid_request"),
    (401, "authentication_error", "auth"),
    (403, "permission_error", "auth"),
    (404, "not_found_error", "invalid_request"),
    (500, "api_error", "upstream_transient"),
    (413, "request_too_large", "invalid_request"),
])
def test_anthropic_error_types_map_to_taxonomy(status: int, kind: str, expected: str) -> None:
    err = classify_anthropic(status, _anthropic(kind))
    assert err.kind == expected
    assert err.raw_type == kind


def test_anthropic_prompt_too_long_is_context_length() -> None:
    err = classify_anthropic(400, _anthropic("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"))
    assert err.kind == "context_length"


def test_anthropic_low_credit_is_quota_exhausted() -> None:
    err = classify_anthropic(400, _anthropic("invalid_request_error", "Your credit balance is too low"))
    assert err.kind == "quota_exhausted"


def test_unparseable_body_falls_back_to_the_status() -> None:
    assert classify_anthropic(503, b"<html>bad gateway</html>").kind == "upstream_transient"
    assert classify_gemini(429, b"").kind == "rate_limited"


@pytest.mark.parametrize(("status", "expected"), [
    ("RESOURCE_EXHAUSTED", "rate_limited"),
    ("INVALID_ARGUMENT", "invalid_request"),
    ("PERMISSION_DENIED", "auth"),
    ("UNAUTHENTICATED", "auth"),
    ("UNAVAILABLE", "upstream_transient"),
    ("INTERNAL", "upstream_transient"),
    ("DEADLINE_EXCEEDED", "timeout"),
])
def test_gemini_statuses_map_to_taxonomy(status: str, expected: str) -> None:
    assert classify_gemini(400, _gemini(status)).kind == expected


def test_gemini_daily_quota_is_quota_exhausted() -> None:
    details = [{"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]}]
    assert classify_gemini(429, _gemini("RESOURCE_EXHAUSTED", "quota", details)).kind == "quota_exhausted"


def test_gemini_bad_api_key_is_auth_not_invalid_request() -> None:
    assert classify_gemini(400, _gemini("INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.")).kind == "auth"


def test_gemini_token_limit_is_context_length() -> None:
    msg = "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."
    assert classify_gemini(400, _gemini("INVALID_ARGUMENT", msg)).kind == "context_length"
