"""The OTLP/HTTP transport against a scripted collector: where payloads go, the OTLP
environment variables it honours, its retries and its deadline, and header values (a
vendor's key) never logged."""

from __future__ import annotations

import gzip
import logging
import time

import pytest

from ferrogate.observability.otlp_http import OtlpHttp, parse_headers
from tests.support.ports import free_port
from tests.support.scripted_collector import Collector

SECRET = "vendor-key-Zx81/+="


def _soon(seconds: float = 5.0) -> float:
    return time.monotonic() + seconds


def test_a_payload_goes_to_its_signals_path_as_protobuf(collector: Collector) -> None:
    client = OtlpHttp(collector.url, 5.0, {})
    assert client.post("traces", b"\x0a\x00", _soon())
    (post,) = collector.posts
    assert (post.path, post.headers["content-type"], post.body) == ("/otlp/v1/traces", "application/x-protobuf",
                                                                    b"\x0a\x00")
    client.close()


def test_the_three_signals_share_one_connection(collector: Collector) -> None:
    client = OtlpHttp(collector.url, 5.0, {})
    for signal in ("traces", "logs", "metrics"):
        assert client.post(signal, b"", _soon())
    assert [p.path for p in collector.posts] == ["/otlp/v1/traces", "/otlp/v1/logs", "/otlp/v1/metrics"]
    assert len({p.client_port for p in collector.posts}) == 1
    client.close()


def test_the_otlp_headers_variables_are_sent(collector: Collector) -> None:
    env = {"OTEL_EXPORTER_OTLP_HEADERS": "x-team=gw,Authorization=Bearer%20" + SECRET,
           "OTEL_EXPORTER_OTLP_LOGS_HEADERS": "x-team=logs-only"}
    client = OtlpHttp(collector.url, 5.0, env)
    assert client.post("traces", b"", _soon()) and client.post("logs", b"", _soon())
    traces, logs = collector.posts
    assert (traces.headers["authorization"], traces.headers["x-team"]) == ("Bearer " + SECRET, "gw")
    assert (logs.headers["authorization"], logs.headers["x-team"]) == ("Bearer " + SECRET, "logs-only")
    client.close()


def test_gzip_compression_when_asked(collector: Collector) -> None:
    client = OtlpHttp(collector.url, 5.0, {"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"})
    payload = b"\x0a\x04span" * 100
    assert client.post("traces", payload, _soon())
    (post,) = collector.posts
    assert post.headers["content-encoding"] == "gzip" and gzip.decompress(post.body) == payload
    client.close()


def test_a_retryable_answer_is_retried_until_accepted(collector: Collector) -> None:
    collector.plan = [503, 429]
    client = OtlpHttp(collector.url, 5.0, {})
    assert client.post("logs", b"x", _soon())
    assert [p.body for p in collector.posts] == [b"x", b"x", b"x"]
    client.close()


def test_a_refusal_is_not_retried(collector: Collector, caplog: pytest.LogCaptureFixture) -> None:
    collector.plan = [400]
    client = OtlpHttp(collector.url, 5.0, {"OTEL_EXPORTER_OTLP_HEADERS": "authorization=" + SECRET})
    with caplog.at_level(logging.DEBUG, logger="ferrogate"):
        assert not client.post("traces", b"x", _soon())
    assert len(collector.posts) == 1
    assert "HTTP 400" in caplog.text and SECRET not in caplog.text
    client.close()


def test_a_collector_that_keeps_failing_is_given_up_at_the_deadline(collector: Collector) -> None:
    collector.plan = [503] * 100
    client = OtlpHttp(collector.url, 5.0, {})
    started = time.monotonic()
    assert not client.post("traces", b"x", _soon(1.0))
    assert 0.9 < time.monotonic() - started < 2.0
    client.close()


def test_a_collector_that_is_not_there_is_given_up_at_the_deadline(caplog: pytest.LogCaptureFixture) -> None:
    client = OtlpHttp(f"http://127.0.0.1:{free_port()}", 5.0, {"OTEL_EXPORTER_OTLP_HEADERS": "k=" + SECRET})
    started = time.monotonic()
    with caplog.at_level(logging.DEBUG, logger="ferrogate"):
        assert not client.post("metrics", b"x", _soon(0.6))
    assert time.monotonic() - started < 1.5
    assert SECRET not in caplog.text


def test_headers_parse_as_the_otlp_exporter_specification_says() -> None:
    assert parse_headers("a=1, B = two%20words ,,c=x%3Dy") == {"a": "1", "b": "two words", "c": "x=y"}


def test_a_malformed_header_pair_is_skipped_without_its_value(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ferrogate"):
        assert parse_headers("good=1,=" + SECRET + ",novalue") == {"good": "1"}
    assert SECRET not in caplog.text
