"""What to load: one :class:`Case` per (suite, scenario, target), built from what is running."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks.gateway import CLIENT_KEY, GOVERNED_KEY, UPSTREAM_KEY
from benchmarks.peers import litellm_headers, portkey_headers
from benchmarks.procs import Service

SUITES = ("proxy", "ai", "translate")
Headers = tuple[tuple[str, str], ...]

_UPSTREAM_AUTH: Headers = (("Authorization", f"Bearer {UPSTREAM_KEY}"),)
_CLIENT_AUTH: Headers = (("Authorization", f"Bearer {CLIENT_KEY}"),)
_ANTHROPIC_CLIENT: Headers = (("x-api-key", CLIENT_KEY), ("anthropic-version", "2023-06-01"))
_GOVERNED_CLIENT: Headers = (("Authorization", f"Bearer {GOVERNED_KEY}"),)


@dataclass(frozen=True, slots=True)
class Case:
    """One load target. ``body`` names a request body (None: GET); ``reference`` is the
    (scenario, target) this row is compared with, e.g. the untranslated path."""

    suite: str
    scenario: str
    target: str
    port: int
    path: str
    body: str | None
    headers: Headers
    cpu_root: int | None
    terminal: bytes | None = None  # a stream's last event, checked by the probe
    reference: tuple[str, str] | None = None
    vary_body: bool = False  # a different body each request (benchmarks/lua/post_varying_body.lua)


@dataclass(frozen=True, slots=True)
class Running:
    """The services a plan may use; None for what is not running."""

    mock: Service
    nginx: Service
    ferrogate: Service | None
    ai: bool  # the gateway's AI routes answer
    litellm: Service | None = None
    portkey: Service | None = None
    bare: Service | None = None  # FerroGate with request records off (observability off)


def _baselines(run: Running, suite: str, scenario: str, path: str, body: str | None,
               headers: Headers, terminal: bytes | None) -> list[Case]:
    return [Case(suite, scenario, "direct", run.mock.port, path, body, headers, run.mock.pid,
                 terminal),
            Case(suite, scenario, "nginx", run.nginx.port, path, body, headers, run.nginx.pid,
                 terminal)]


def build_cases(suites: Sequence[str], run: Running) -> list[Case]:
    cases: list[Case] = []
    gw = run.ferrogate
    done, stop = b"data: [DONE]", b"event: message_stop"
    if "proxy" in suites:
        cases += _baselines(run, "proxy", "get_small", "/", None, (), None)
        if gw is not None:
            cases.append(Case("proxy", "get_small", "ferrogate", gw.port, "/", None, (), gw.pid))
    if "ai" in suites:
        for scenario, mock_path, body, terminal in (
            ("chat", "/v1/chat/completions", "chat", None),
            ("chat_stream", "/stream/v1/chat/completions", "chat_stream", done),
        ):
            cases += _baselines(run, "ai", scenario, mock_path, body, _UPSTREAM_AUTH, terminal)
            if gw is not None and run.ai:
                bare = run.bare
                cases.append(Case("ai", scenario, "ferrogate", gw.port, "/v1/chat/completions",
                                  body, _CLIENT_AUTH, gw.pid, terminal,
                                  reference=(scenario, "fg-bare") if bare is not None else None))
                if bare is not None:
                    cases.append(Case("ai", scenario, "fg-bare", bare.port, "/v1/chat/completions",
                                      body, _CLIENT_AUTH, bare.pid, terminal))
            if run.litellm is not None:
                cases.append(Case("ai", scenario, "litellm", run.litellm.port,
                                  "/v1/chat/completions", body, tuple(litellm_headers()),
                                  run.litellm.pid, terminal))
            if run.portkey is not None:
                cases.append(Case("ai", scenario, "portkey", run.portkey.port,
                                  "/v1/chat/completions", body,
                                  tuple(portkey_headers(run.mock.port, stream=terminal is not None)),
                                  run.portkey.pid, terminal))
        # Governance on: a key with a request limit and a token budget, a deny policy that
        # does not match, and the cache on with a miss every time (the body varies).
        cases += _baselines(run, "ai", "chat_governed", "/v1/chat/completions", "chat_governed",
                            _UPSTREAM_AUTH, None)
        if gw is not None and run.ai:
            # Its reference: the same body shape, varied the same way, to a model of the same
            # routing (an alias of the same provider model) with no cache, by the ungoverned key.
            cases.append(Case("ai", "chat_ungoverned", "ferrogate", gw.port, "/v1/chat/completions",
                              "chat_ungoverned", _CLIENT_AUTH, gw.pid,
                              reference=("chat", "ferrogate"), vary_body=True))
            cases.append(Case("ai", "chat_governed", "ferrogate", gw.port, "/v1/chat/completions",
                              "chat_governed", _GOVERNED_CLIENT, gw.pid,
                              reference=("chat_ungoverned", "ferrogate"), vary_body=True))
    if "translate" in suites and gw is not None and run.ai:
        if "ai" not in suites:  # the untranslated rows the translated ones are compared with
            for scenario, body, terminal in (("chat", "chat", None),
                                             ("chat_stream", "chat_stream", done)):
                cases.append(Case("ai", scenario, "ferrogate", gw.port, "/v1/chat/completions",
                                  body, _CLIENT_AUTH, gw.pid, terminal))
        for scenario, path, body, headers, terminal, ref in (
            ("openai_in_anthropic_out", "/v1/chat/completions", "chat_to_anthropic",
             _CLIENT_AUTH, None, "chat"),
            ("openai_in_anthropic_out_stream", "/v1/chat/completions",
             "chat_to_anthropic_stream", _CLIENT_AUTH, done, "chat_stream"),
            ("anthropic_in_openai_out", "/v1/messages", "messages", _ANTHROPIC_CLIENT, None,
             "chat"),
            ("anthropic_in_openai_out_stream", "/v1/messages", "messages_stream",
             _ANTHROPIC_CLIENT, stop, "chat_stream"),
        ):
            cases.append(Case("translate", scenario, "ferrogate", gw.port, path, body, headers,
                               gw.pid, terminal, reference=(ref, "ferrogate")))
    return cases
