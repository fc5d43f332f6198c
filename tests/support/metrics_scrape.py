"""Scrapes of a running gateway's GET /metrics, parsed into samples a test can count and compare.

A :class:`Watcher` keeps every scrape it made, so a test can check afterwards that no
counter ever went back between two of them (a worker's death must not lose counts).
"""

from __future__ import annotations

from collections import Counter

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.gateway import Gateway, wait_until

Series = tuple[str, tuple[tuple[str, str], ...]]  # sample name, sorted labels
Scrape = dict[Series, float]


def scrape_text(gw: Gateway, token: str | None = None) -> str:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = httpx.get(gw.admin_url + "/metrics", headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.text


def parse(text: str) -> Scrape:
    out: Scrape = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return out


def total(samples: Scrape, name: str, **labels: str) -> float:
    """The sum of ``name``'s series that have ``labels`` (a subset of theirs)."""
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))


def by_label(samples: Scrape, name: str, label: str) -> Counter[str]:
    out: Counter[str] = Counter()
    for (n, ls), v in samples.items():
        if n == name:
            out[dict(ls)[label]] += int(v)
    return +out


class Watcher:
    """Scrapes of one gateway, all kept so a test can check that no counter ever went back."""

    def __init__(self, gw: Gateway, token: str | None = None) -> None:
        self.gw = gw
        self.token = token
        self.scrapes: list[Scrape] = []

    def scrape(self) -> Scrape:
        samples = parse(scrape_text(self.gw, self.token))
        self.scrapes.append(samples)
        return samples

    def counts(self, samples: Scrape) -> tuple[Counter[str], Counter[str]]:
        return (
            by_label(samples, "ferrogate_http_responses_total", "code"),
            by_label(samples, "ferrogate_requests_total", "status_class"),
        )

    def wait_for(self, responses: Counter[str], requests: Counter[str]) -> Scrape:
        """Poll until the response and request counters equal what was sent (fail on timeout)."""
        seen: list[tuple[Counter[str], Counter[str]]] = []

        def reached() -> Scrape | None:
            samples = self.scrape()
            seen.append(self.counts(samples))
            return samples if seen[-1] == (responses, requests) else None

        try:
            return wait_until(reached, 15, "the counters to reach what the client sent", interval=0.1)
        except AssertionError:
            raise AssertionError(f"expected {(responses, requests)}, last scrape {seen[-1]}") from None

    def went_back(self) -> list[str]:
        """Every counter series that fell (or vanished) between two consecutive scrapes."""
        out = []
        for before, after in zip(self.scrapes, self.scrapes[1:], strict=False):
            for (name, labels), value in before.items():
                if name.endswith(("_total", "_bucket", "_count", "_sum")) and after.get((name, labels), -1) < value:
                    out.append(f"{name}{dict(labels)}: {value} -> {after.get((name, labels))}")
        return out
