"""GET /metrics of a running gateway (2 workers), checked by real tools and by exact counts: promtool
lints the scrape, a real Prometheus server scrapes it, the counters equal what a client sent across a
worker's death, the scrape is guarded as configured, and label values stay bounded."""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.observability.test_grafana_dashboard import METRIC, concrete, exprs, load
from tests.support.gateway import DEFAULT_READY_SECS, Gateway, start_gateway, wait_until
from tests.support.metrics_scrape import Scrape, Watcher, by_label, scrape_text, total
from tests.support.prometheus_server import PrometheusServer

pytestmark = pytest.mark.e2e

METRICS_TOKEN = "metrics-token-3f9c1e7a-never-logged"
ADMIN_TOKEN = "admin-token-for-metrics-tests"
HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
LIMIT = 3  # requests a minute for the rate-limited key

PROVIDER = """
[[providers]]
name = "mock"
kind = "mock"

[[models]]
name = "m"
provider = "mock"
provider_model = "m"
input_price_per_1m = "1.50"
output_price_per_1m = "6"

[[api_keys]]
id = "good"
key = "sk-metrics-good"

[[api_keys]]
id = "prom"
key = "sk-metrics-prom"

[[api_keys]]
id = "limited"
key = "sk-metrics-limited"
request_limit_per_minute = 3
"""

OPEN = '[admin]\nlisten = "127.0.0.1:0"\n' + PROVIDER

GUARDED = f"""
[admin]
listen = "127.0.0.1:0"

[telemetry]
metrics_token_env = "FG_METRICS_TOKEN"
metrics_public = true
metrics_key_label = true
access_log = "all"
log_level = "debug"
{PROVIDER}"""

COUNTED = f"""
[admin]
listen = "127.0.0.1:0"
token_env = "FG_ADMIN_TOKEN"
{PROVIDER}"""


def _start(config: str, directory: Path, env: dict[str, str] | None = None) -> Iterator[Gateway]:
    gateway = start_gateway(config, "toml", workers=2, env=env, directory=directory)
    try:
        gateway.wait_ready(DEFAULT_READY_SECS)
        yield gateway
    finally:
        gateway.stop()


@pytest.fixture(scope="module")
def open_gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """/metrics open on the admin listener, not served on the public port."""
    yield from _start(OPEN, tmp_path_factory.mktemp("metrics-open"))


@pytest.fixture(scope="module")
def guarded_gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """/metrics behind a bearer token, also on the public port, with key ids as a label."""
    yield from _start(GUARDED, tmp_path_factory.mktemp("metrics-guarded"), {"FG_METRICS_TOKEN": METRICS_TOKEN})


@pytest.fixture
def counted_gw(tmp_path: Path) -> Iterator[Gateway]:
    """A gateway of its own, so its counters hold only what one test sent."""
    yield from _start(COUNTED, tmp_path, {"FG_ADMIN_TOKEN": ADMIN_TOKEN})


# -- what a client sends (each on a new connection, so the kernel spreads them over both workers)


def _chat(gw: Gateway, key: str = "sk-metrics-good", model: str = "m") -> int:
    with openai.OpenAI(base_url=gw.base_url + "/v1", api_key=key, max_retries=0) as client:
        try:
            answer = client.chat.completions.create(model=model, messages=HI)
        except openai.APIStatusError as err:
            return err.status_code
    assert answer.choices[0].message.content
    return 200


def _stream(gw: Gateway) -> int:
    with openai.OpenAI(base_url=gw.base_url + "/v1", api_key="sk-metrics-good", max_retries=0) as client:
        chunks = list(client.chat.completions.create(model="m", messages=HI, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return 200


def _get(gw: Gateway, path: str) -> int:
    return httpx.get(gw.base_url + path, timeout=10).status_code


MALFORMED = (
    b"GARBAGE \x01\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost x\r\n\r\n",
)


def _malformed(gw: Gateway, payload: bytes) -> int:
    """The status of the raw bytes' answer (the connection is read to its end)."""
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as sock:
        sock.sendall(payload)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    match = re.match(rb"HTTP/1\.[01] (\d{3}) ", data)
    assert match, data[:200]
    return int(match.group(1))


AI = ("chat", "stream", "bad_key", "limited")  # the kinds that are AI requests (records)


def send_mix(gw: Gateway, chats: int, streams: int, bad_keys: int, unknown_paths: int, limited: int) -> list[tuple[str, int]]:
    """Send the mix concurrently; (kind, status the client got) per request."""
    jobs: list[tuple[str, Callable[[], int]]] = []
    jobs += [("chat", lambda: _chat(gw))] * chats
    jobs += [("stream", lambda: _stream(gw))] * streams
    jobs += [("bad_key", lambda: _chat(gw, key="sk-not-a-key"))] * bad_keys
    jobs += [("unknown_path", lambda: _get(gw, "/no/such/path"))] * unknown_paths
    jobs += [("limited", lambda: _chat(gw, key="sk-metrics-limited"))] * limited
    jobs += [("malformed", lambda p=p: _malformed(gw, p)) for p in MALFORMED]  # type: ignore[misc]
    random.shuffle(jobs)
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda job: job[1](), jobs))
    return [(kind, status) for (kind, _), status in zip(jobs, statuses, strict=True)]


def codes(sent: list[tuple[str, int]]) -> Counter[str]:
    return Counter(str(status) for _, status in sent)


def classes(sent: list[tuple[str, int]], kinds: tuple[str, ...] | None = None) -> Counter[str]:
    return Counter(f"{status // 100}xx" for kind, status in sent if kinds is None or kind in kinds)


# -- tests


@pytest.mark.parametrize("which", ["open_gw", "guarded_gw"])
def test_promtool_finds_nothing_to_complain_about_in_a_scrape(which: str, request: pytest.FixtureRequest) -> None:
    gw: Gateway = request.getfixturevalue(which)
    token = METRICS_TOKEN if which == "guarded_gw" else None
    assert [_chat(gw), _stream(gw), _chat(gw, key="sk-not-a-key"), _get(gw, "/nope")] == [200, 200, 401, 404]
    watcher = Watcher(gw, token)
    wait_until(lambda: total(watcher.scrape(), "ferrogate_requests_total") >= 3, 10, "the requests in /metrics")
    text = scrape_text(gw, token)
    assert "ferrogate_request_duration_seconds_bucket" in text and "ferrogate_breaker_state" in text
    lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert lint.returncode == 0, lint.stdout + lint.stderr


@pytest.mark.slow
def test_counters_equal_what_clients_sent_across_a_killed_worker(counted_gw: Gateway) -> None:
    gw = counted_gw
    watcher = Watcher(gw)
    first = send_mix(gw, chats=12, streams=6, bad_keys=4, unknown_paths=4, limited=LIMIT + 3)
    assert set(codes(first)) == {"200", "400", "401", "404", "429"}, codes(first)
    watcher.wait_for(codes(first), classes(first, AI))
    served = _requests_per_worker(gw)
    assert len(served) == 2 and all(served.values()), f"both workers served the first phase: {served}"

    pids = gw.worker_pids()
    assert len(pids) == 2, pids
    victim_slot, victim = min(pids.items())
    restarts_before = total(watcher.scrape(), "ferrogate_worker_restarts_total")
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: gw.worker_pids().get(victim_slot, victim) != victim, 15, "the supervisor to respawn the worker")
    wait_until(
        lambda: total(s := watcher.scrape(), "ferrogate_workers", state="ready") == 2
        and total(s, "ferrogate_worker_restarts_total") == restarts_before + 1,
        15, "both workers ready again, the restart counted",
    )

    second = send_mix(gw, chats=8, streams=4, bad_keys=3, unknown_paths=3, limited=2)
    sent = first + second
    watcher.wait_for(codes(sent), classes(sent, AI))
    _wait_for_heartbeats_after(gw)  # one more beat of every worker: nothing is counted twice
    final = watcher.scrape()

    assert watcher.counts(final) == (codes(sent), classes(sent, AI))
    http_classes: Counter[str] = Counter()
    for code, n in by_label(final, "ferrogate_http_responses_total", "code").items():
        http_classes[f"{code[0]}xx"] += n
    assert http_classes == classes(sent)
    assert total(final, "ferrogate_worker_restarts_total") == restarts_before + 1 == 1
    assert total(final, "ferrogate_limit_rejections_total", reason="rate_limit") == codes(sent)["429"]
    assert total(final, "ferrogate_records_dropped_total") == 0
    assert watcher.went_back() == []
    assert len(watcher.scrapes) >= 5


def _admin_status(gw: Gateway) -> dict[str, object]:
    answer = httpx.get(gw.admin_url + "/admin/v1/status", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    status: dict[str, object] = answer.json()
    return status


def _requests_per_worker(gw: Gateway) -> dict[int, int]:
    workers = _admin_status(gw)["workers"]
    assert isinstance(workers, list)
    return {w["pid"]: (w["ai_requests"] or {}).get("requests", 0) for w in workers if w["connected"]}


def _wait_for_heartbeats_after(gw: Gateway) -> None:
    """Until every connected worker has sent a heartbeat since now."""
    since = time.monotonic()

    def fresh() -> bool:
        elapsed = time.monotonic() - since
        workers = _admin_status(gw)["workers"]
        assert isinstance(workers, list)
        ages = [w["heartbeat_age_secs"] for w in workers if w["connected"]]
        return len(ages) == 2 and all(a is not None and a < elapsed for a in ages)

    wait_until(fresh, 10, "a heartbeat of every worker", interval=0.1)


@pytest.fixture(scope="module")
def prometheus(guarded_gw: Gateway, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """A real Prometheus scraping the guarded gateway's public port with the bearer token."""
    directory = tmp_path_factory.mktemp("prometheus")
    server = PrometheusServer(directory, f"127.0.0.1:{guarded_gw.port}", bearer=METRICS_TOKEN).start()
    try:
        yield server
    finally:
        server.stop()


def _prometheus_value(prometheus: PrometheusServer, promql: str) -> float | None:
    result = prometheus.query(promql)
    return float(result[0]["value"][1]) if result else None


@pytest.mark.slow
def test_a_real_prometheus_scrapes_the_request_count_through_the_public_port(
    guarded_gw: Gateway, prometheus: PrometheusServer
) -> None:
    sent = [_chat(guarded_gw, key="sk-metrics-prom") for _ in range(7)]
    assert sent == [200] * 7
    watcher = Watcher(guarded_gw, METRICS_TOKEN)
    wait_until(lambda: total(watcher.scrape(), "ferrogate_requests_total", key_id="prom") == 7, 10, "the gateway to count 7")
    query = 'sum(ferrogate_requests_total{key_id="prom", model="m", status_class="2xx"})'
    values: list[float | None] = []

    def scraped_seven() -> bool:
        values.append(_prometheus_value(prometheus, query))
        return values[-1] == 7.0

    try:
        wait_until(scraped_seven, 30, "prometheus to have scraped the 7 requests", interval=0.25)
    except AssertionError:
        raise AssertionError(f"prometheus said {values[-5:]}; targets {prometheus.targets()}") from None
    assert [t["health"] for t in prometheus.targets()] == ["up"]


@pytest.mark.slow
def test_every_dashboard_query_runs_on_a_real_prometheus(guarded_gw: Gateway, prometheus: PrometheusServer) -> None:
    """Each query succeeds, and has data unless it needs a metric the gateway has no samples of
    yet (the mock never fails upstream, no cache) or a 5xx (none was sent)."""
    statuses = {_chat(guarded_gw), _stream(guarded_gw), _chat(guarded_gw, key="sk-not-a-key"), _get(guarded_gw, "/nope")}
    statuses |= {_chat(guarded_gw, key="sk-metrics-limited") for _ in range(LIMIT + 1)}
    assert statuses >= {200, 401, 404, 429}
    watcher = Watcher(guarded_gw, METRICS_TOKEN)
    wait_until(lambda: total(watcher.scrape(), "ferrogate_limit_rejections_total") > 0, 10, "the 429 counted")
    scraped = {name for name, _ in watcher.scrape()}
    rejections = 'sum(rate(ferrogate_limit_rejections_total{job=~".*"}[1m]))'
    wait_until(lambda: prometheus.query(rejections), 30, "prometheus to have two scrapes with the 429", interval=0.25)
    answered = {expr: prometheus.query(concrete(expr)) for expr in exprs(load())}  # each asserts "success"
    expected = {e for e in answered if set(METRIC.findall(e)) <= scraped and '"5.."' not in e}
    assert {e for e, result in answered.items() if result} >= expected
    assert len(expected) >= 25


def _metrics_status(url: str, token: str | None = None, origin: str | None = None) -> int:
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if origin is not None:
        headers["Origin"] = origin
    return httpx.get(url + "/metrics", headers=headers, timeout=10).status_code


def test_with_a_metrics_token_the_admin_listener_asks_for_it(guarded_gw: Gateway) -> None:
    url = guarded_gw.admin_url
    assert (_metrics_status(url), _metrics_status(url, "wrong-token"), _metrics_status(url, METRICS_TOKEN)) == (401, 401, 200)


def test_metrics_public_serves_the_public_port_only_with_the_token(guarded_gw: Gateway) -> None:
    url = guarded_gw.base_url
    assert (_metrics_status(url), _metrics_status(url, "wrong-token"), _metrics_status(url, METRICS_TOKEN)) == (401, 401, 200)
    answer = httpx.get(url + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10)
    assert "ferrogate_http_responses_total" in answer.text


def test_without_metrics_public_the_public_port_has_no_metrics(open_gw: Gateway) -> None:
    assert _metrics_status(open_gw.admin_url) == 200
    assert _metrics_status(open_gw.base_url) == 404


@pytest.mark.parametrize("which", ["open_gw", "guarded_gw"])
def test_a_cross_origin_scrape_of_the_admin_listener_is_refused(which: str, request: pytest.FixtureRequest) -> None:
    gw: Gateway = request.getfixturevalue(which)
    token = METRICS_TOKEN if which == "guarded_gw" else None
    assert _metrics_status(gw.admin_url, token, origin="http://evil.example") == 403


def test_the_metrics_token_never_appears_in_the_gateway_log(guarded_gw: Gateway) -> None:
    asks = [
        (guarded_gw.admin_url, METRICS_TOKEN, None),
        (guarded_gw.base_url, METRICS_TOKEN, None),
        (guarded_gw.base_url, METRICS_TOKEN + "-wrong", None),
        (guarded_gw.admin_url, METRICS_TOKEN, "http://evil.example"),
    ]
    ids = [f"token-log-{i}-{random.randrange(10**9)}" for i in range(len(asks))]
    statuses = []
    for request_id, (url, token, origin) in zip(ids, asks, strict=True):
        headers = {"Authorization": f"Bearer {token}", "X-Request-Id": request_id}
        if origin is not None:
            headers["Origin"] = origin
        statuses.append(httpx.get(url + "/metrics", headers=headers, timeout=10).status_code)
    assert statuses == [200, 200, 401, 403]
    # The access log (every request, on stdout) has the public scrapes once their lines are written.
    public = ids[1:3]
    lines = guarded_gw.stdout_until(lambda seen: all(any(i in ln for ln in seen) for i in public), 10)
    assert all(any(i in ln for ln in lines) for i in public), lines
    logs = [guarded_gw.log(), "\n".join(guarded_gw.stdout_lines)]
    logs += [p.read_text(errors="replace") for p in guarded_gw.dir.rglob("*.log")]
    assert not any(METRICS_TOKEN in text for text in logs)


def test_model_names_a_client_makes_up_are_counted_as_other(open_gw: Gateway) -> None:
    watcher = Watcher(open_gw)
    before = watcher.scrape()
    made_up = [f"made-up-model-{i}-{random.randrange(10**9)}" for i in range(4)]
    assert [_chat(open_gw, model=name) for name in made_up] == [404] * 4
    other_before = total(before, "ferrogate_requests_total", model="other")

    def counted() -> Scrape | None:
        samples = watcher.scrape()
        return samples if total(samples, "ferrogate_requests_total", model="other") == other_before + 4 else None

    after = wait_until(counted, 10, "the made-up models counted as other")
    labels = {value for (_, ls) in after for _, value in ls}
    assert not labels & set(made_up)
    models = {dict(ls)["model"] for (name, ls) in after if "model" in dict(ls)}
    assert models <= {"m", "other", ""}, models


def test_key_ids_in_labels_are_only_the_configured_ones(guarded_gw: Gateway) -> None:
    assert [_chat(guarded_gw, key=f"sk-made-up-{i}") for i in range(3)] == [401] * 3
    watcher = Watcher(guarded_gw, METRICS_TOKEN)
    wait_until(lambda: total(watcher.scrape(), "ferrogate_requests_total", key_id="", status_class="4xx") >= 3, 10, "the 401s")
    keys = {dict(ls)["key_id"] for (name, ls) in watcher.scrapes[-1] if name == "ferrogate_requests_total"}
    assert "" in keys and keys <= {"", "good", "prom", "limited"}, keys
