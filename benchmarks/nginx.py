"""nginx in two roles: the instant mock upstream, and the ``proxy_pass`` baseline."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from benchmarks.payloads import mock_answers
from benchmarks.procs import (
    LOOPBACK,
    Service,
    free_loopback_port,
    raw_request,
    start_service,
    stop_service,
    wait_until_serving,
)

PORT_ATTEMPTS = 3


def nginx_string(text: str) -> str:
    """Quote ``text`` as a single-quoted nginx config string."""
    for bad in ("'", "\\", "$"):
        if bad in text:
            raise ValueError(f"{bad!r} cannot appear in an nginx return body")
    return "'" + text.replace("\n", "\\n") + "'"


def _prelude(workdir: Path, worker_processes: int) -> str:
    tmp = workdir / "tmp"
    return (
        f"worker_processes {worker_processes};\n"
        "daemon off;\n"
        f"pid {workdir}/nginx.pid;\n"
        f"error_log {workdir}/error.log warn;\n"
        "events { worker_connections 8192; }\n"
        "http {\n"
        "  access_log off;\n  server_tokens off;\n"
        f"  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy;\n"
        f"  fastcgi_temp_path {tmp}/fastcgi; uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;\n"
        "  keepalive_requests 10000000; keepalive_timeout 300s;\n"
        "  client_body_buffer_size 64k;\n"
    )


def _answer(content_type: str, body: str, *, sse: bool = False) -> str:
    extra = " add_header Cache-Control no-cache;" if sse else ""
    return f"default_type {content_type};{extra} return 200 {nginx_string(body)};"


def render_mock_conf(workdir: Path, port: int) -> str:
    """The mock upstream.

    nginx cannot read a JSON body, so streaming is chosen by path: anything under
    ``/stream/`` answers SSE. Exact locations serve the usual paths; the regex fallbacks
    accept other base-URL conventions (``/messages``, ``/v1/v1/chat/completions``...).
    """
    a = mock_answers()
    json_ct, sse_ct = "application/json", "text/event-stream"
    return _prelude(workdir, 1) + f"""  server {{
    listen {LOOPBACK}:{port} backlog=4096;
    location = / {{ {_answer(json_ct, a["small"])} }}
    location = /v1/chat/completions {{ {_answer(json_ct, a["openai_json"])} }}
    location = /stream/v1/chat/completions {{ {_answer(sse_ct, a["openai_sse"], sse=True)} }}
    location = /v1/messages {{ {_answer(json_ct, a["anthropic_json"])} }}
    location = /stream/v1/messages {{ {_answer(sse_ct, a["anthropic_sse"], sse=True)} }}
    location ~ ^/stream/.*chat/completions$ {{ {_answer(sse_ct, a["openai_sse"], sse=True)} }}
    location ~ ^/stream/.*messages$ {{ {_answer(sse_ct, a["anthropic_sse"], sse=True)} }}
    location ~ chat/completions$ {{ {_answer(json_ct, a["openai_json"])} }}
    location ~ messages$ {{ {_answer(json_ct, a["anthropic_json"])} }}
    location / {{ default_type {json_ct}; return 404 {nginx_string(a["not_found"])}; }}
  }}
}}
"""


def render_proxy_conf(workdir: Path, port: int, upstream_port: int, workers: int) -> str:
    """``proxy_pass`` with upstream keep-alive and unbuffered responses (streams flow)."""
    return _prelude(workdir, workers) + f"""  upstream mock {{
    server {LOOPBACK}:{upstream_port};
    keepalive 256;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
  }}
  server {{
    listen {LOOPBACK}:{port} backlog=4096;
    location / {{
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }}
  }}
}}
"""


def render_discard_conf(workdir: Path, port: int) -> str:
    """An OTLP/HTTP endpoint that reads each export request and answers 200 with an empty
    body (an empty Export*ServiceResponse: all accepted): what the gateway's OTLP export costs
    without a collector's decoding on the same cores."""
    return _prelude(workdir, 1) + f"""  server {{
    listen {LOOPBACK}:{port} backlog=4096;
    client_max_body_size 256m;
    location / {{ default_type application/x-protobuf; return 200 ''; }}
  }}
}}
"""


def _start(name: str, workdir: Path, render: Callable[[int], str]) -> Service:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "tmp").mkdir(exist_ok=True)
    last_error: Exception | None = None
    for _ in range(PORT_ATTEMPTS):  # the probed port may be taken before nginx binds it
        port = free_loopback_port()
        conf = workdir / "nginx.conf"
        conf.write_text(render(port))
        service = start_service(name, ["nginx", "-p", f"{workdir}/", "-c", str(conf)],
                                workdir, port=port)
        try:
            wait_until_serving(service, raw_request("GET", "/"), deadline_secs=10)
            return service
        except RuntimeError as exc:
            stop_service(service)
            last_error = exc
    raise RuntimeError(f"{name} did not start: {last_error}")



def start_mock(workdir: Path) -> Service:
    return _start("mock", workdir, lambda port: render_mock_conf(workdir, port))


def start_discard(workdir: Path) -> Service:
    return _start("otlp-discard", workdir, lambda port: render_discard_conf(workdir, port))


def start_proxy(workdir: Path, upstream_port: int, workers: int = 2) -> Service:
    return _start("nginx", workdir,
                  lambda port: render_proxy_conf(workdir, port, upstream_port, workers))
