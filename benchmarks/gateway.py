"""FerroGate under test: a generated TOML config and ``ferrogate run`` with its ready line."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.procs import LOOPBACK, Service, start_service, wait_for_service

READY_PREFIX = "FERROGATE_READY "
CLIENT_KEY = "sk-bench-client"  # the virtual key the load generator presents
GOVERNED_KEY = "sk-bench-governed"  # the key of the governed scenario (limits, policy, cache)
UPSTREAM_KEY = "sk-mock-upstream"


@dataclass(frozen=True, slots=True)
class GatewayPorts:
    public: int
    admin: int | None
    pid: int


def render_config(workdir: Path, mock_port: int, *, ai: bool, redis_url: str | None = None,
                  governed: bool = True, records: bool = True, otlp_endpoint: str | None = None,
                  responses: bool = False) -> str:
    """A config with a catch-all reverse-proxy route to the mock and, when ``ai`` is set,
    AI routes for chat completions and messages through providers that point at it, and the
    governed scenario's key, policy and cached model. ``redis_url``: counters (and the
    cache) in that Redis (cluster mode). ``governed=False`` leaves the governed scenario's
    key, policy, cached model and ``[cache]`` out (a gateway with no governance configured).
    ``records=False``: no request records (no request log, metering, usage or per-model
    metrics): the "observability off" row. ``otlp_endpoint``: traces, metrics and logs too.
    ``responses`` (with ``ai``): the AI route serves ``/v1/responses`` too, and model
    ``gpt-4o-mini-responses-stream`` (the ``responses`` capability: its requests go to the
    openai-compatible provider's ``/responses`` as they are, the stream relayed unchanged)."""
    mock = f"http://{LOOPBACK}:{mock_port}"
    parts = [
        f'listen = ["{LOOPBACK}:0"]',
        "",
        "[admin]",
        f'listen = "{LOOPBACK}:0"',
        "",
        "[storage]",
        f'path = "{workdir / "state.db"}"',
        *(["", "[cache]", "enabled = true"] if governed else []),
        "",
        "[telemetry]",
        f"request_records = {'true' if records else 'false'}",
        *([f'otlp_endpoint = "{otlp_endpoint}"'] if otlp_endpoint else []),
        "",
        "[[upstreams]]",
        'name = "mock"',
        f'urls = ["{mock}"]',
    ]
    if ai:
        providers = [  # name, kind, base URL; the mock answers SSE for anything under /stream
            ("mock-openai", "openai-compatible", f"{mock}/v1"),
            ("mock-openai-stream", "openai-compatible", f"{mock}/stream/v1"),
            ("mock-anthropic", "anthropic", mock),
            ("mock-anthropic-stream", "anthropic", f"{mock}/stream"),
        ]
        for name, kind, url in providers:
            parts += ["", "[[providers]]", f'name = "{name}"', f'kind = "{kind}"',
                      f'base_url = "{url}"', f'api_key = "{UPSTREAM_KEY}"']
        models = [  # logical name, provider, provider model
            ("gpt-4o-mini", "mock-openai", "gpt-4o-mini"),
            ("gpt-4o-mini-stream", "mock-openai-stream", "gpt-4o-mini"),
            ("gpt-4o-mini-ungoverned", "mock-openai", "gpt-4o-mini"),  # chat_governed's reference
            ("claude-bench", "mock-anthropic", "claude-bench"),
            ("claude-bench-stream", "mock-anthropic-stream", "claude-bench"),
        ]
        for name, provider, provider_model in models:
            parts += ["", "[[models]]", f'name = "{name}"', f'provider = "{provider}"',
                      f'provider_model = "{provider_model}"']
        if responses:
            parts += ["", "[[models]]", 'name = "gpt-4o-mini-responses-stream"',
                      'provider = "mock-openai-stream"', 'provider_model = "gpt-4o-mini"',
                      'capabilities = ["chat", "streaming", "responses"]']
        # The governed scenario: the same upstream, a model with the cache on (every request
        # a miss: the load varies the body), a key with a request limit and a token budget
        # too large to refuse anything, and a deny policy for that key that does not match.
        if governed:
            parts += ["", "[[models]]", 'name = "gpt-4o-mini-governed"', 'provider = "mock-openai"',
                      'provider_model = "gpt-4o-mini"', "cache_enabled = true",
                      "", "[[api_keys]]", 'id = "bench-governed"', f'key = "{GOVERNED_KEY}"',
                      "request_limit_per_minute = 1000000000", "monthly_token_budget = 1000000000000000",
                      "", "[[policies]]", 'name = "no-claude-for-governed"',
                      'api_key_ids = ["bench-governed"]', 'models = ["claude-bench"]']
        if redis_url is not None:
            parts += ["", "[cluster]", 'counter_backend = "redis"', f'redis_url = "{redis_url}"']
        paths = ["/v1/chat/completions", *(["/v1/responses"] if responses else []),
                 "/v1/messages", "/v1/models"]
        parts += ["", "[[api_keys]]", 'id = "bench"', f'key = "{CLIENT_KEY}"',
                  "", "[[routes]]", 'name = "ai"',
                  f"paths = {json.dumps(paths)}",
                  "ai_gateway = true"]
    parts += ["", "[[routes]]", 'name = "proxy"', 'upstream = "mock"', ""]
    return "\n".join(parts)


def parse_ready_line(output: str) -> GatewayPorts | None:
    """Find ``FERROGATE_READY {json}`` in the gateway's stdout; None while it is absent."""
    for line in output.splitlines():
        if not line.startswith(READY_PREFIX):
            continue
        info: dict[str, Any] = json.loads(line[len(READY_PREFIX):])
        public = info["public"][0]
        admin = info.get("admin")
        return GatewayPorts(public=int(public.rsplit(":", 1)[1]),
                            admin=int(admin.rsplit(":", 1)[1]) if admin else None,
                            pid=int(info.get("pid", 0)))
    return None


def start_gateway(workdir: Path, mock_port: int, *, ai: bool, workers: int = 2,
                  deadline_secs: float = 30.0, redis_url: str | None = None,
                  records: bool = True, otlp_endpoint: str | None = None,
                  responses: bool = False) -> Service:
    """Start ``ferrogate run`` and wait (bounded) for its ready line in the log file.

    stdout goes to a file, not a pipe, so a chatty gateway can never block on a full pipe."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "ferrogate.toml"
    config.write_text(render_config(workdir, mock_port, ai=ai, redis_url=redis_url, records=records,
                                    otlp_endpoint=otlp_endpoint, responses=responses))
    service = start_service(
        "ferrogate",
        [sys.executable, "-m", "ferrogate", "run", "--config", str(config),
         "--workers", str(workers)],
        workdir, env={"PYTHONUNBUFFERED": "1", "_TYPER_STANDARD_TRACEBACK": "1"}, cwd=workdir)
    ports = wait_for_service(service, lambda: parse_ready_line(service.log_tail(limit=1 << 20)), deadline_secs,
                             "FERROGATE_READY line")
    service.port = ports.public
    service.extra.update(admin_port=ports.admin, ready_pid=ports.pid)
    return service
