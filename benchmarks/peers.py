"""Optional peer gateways (LiteLLM, Portkey) in front of the same mock, for ``--peers``.

Both are installed on first use under PEERS_DIR (a venv for LiteLLM, node_modules for
Portkey) and skipped, with the reason, when they cannot be installed or started.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from benchmarks.procs import (
    LOOPBACK,
    Service,
    free_loopback_port,
    raw_request,
    start_service,
    stop_service,
    wait_until_serving,
)

PEERS_DIR = Path("/tmp/ferrogate-peers")
LITELLM_SPEC = "litellm[proxy]==1.108.7"
PORTKEY_PACKAGE, PORTKEY_VERSION = "@portkey-ai/gateway", "1.15.2"
# Portkey's streaming answers 500 ("TypeError: immutable") with @hono/node-server >= 1.14.2
# (Portkey-AI/gateway issue #1389); an npm override keeps the last version that works.
HONO_NODE_SERVER_PIN = "1.14.1"
LITELLM_MASTER_KEY = "sk-bench-litellm-master"
INSTALL_TIMEOUT_SECS = 900
# Without these LiteLLM fetches cost maps, beta-header lists, blog posts... from the
# internet at start-up, which hangs for minutes on a machine without internet access.
LITELLM_OFFLINE_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
    "LITELLM_LOCAL_BLOG_POSTS": "True", "LITELLM_LOCAL_POLICY_TEMPLATES": "True",
    "LITELLM_LOCAL_AUTOROUTER_PRESETS": "True", "LITELLM_TELEMETRY_DISABLED": "true",
    "DISABLE_SCHEMA_UPDATE": "true", "HF_HUB_OFFLINE": "1", "LITELLM_DONT_SHOW_FEEDBACK_BOX": "True",
    # uvicorn kills a worker that has not answered its health ping within 5 s; importing
    # LiteLLM takes longer than that on a busy 2-core box, so workers would restart forever.
    "TIMEOUT_WORKER_HEALTHCHECK": "180",
}


def _install_litellm() -> Path:
    venv = PEERS_DIR / "venv-litellm"
    exe = venv / "bin" / "litellm"
    if exe.exists():
        return exe
    PEERS_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run(["python3", "-m", "venv", str(venv)], check=True, timeout=120)
    with open(PEERS_DIR / "pip-litellm.log", "wb") as log:
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", LITELLM_SPEC],
                       stdout=log, stderr=subprocess.STDOUT, check=True,
                       timeout=INSTALL_TIMEOUT_SECS)
    return exe


def _install_portkey() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise RuntimeError("node/npm not installed")
    home = PEERS_DIR / "portkey"
    entry = home / "node_modules" / PORTKEY_PACKAGE / "build" / "start-server.js"
    manifest = json.dumps({"name": "ferrogate-bench-portkey", "private": True,
                           "dependencies": {PORTKEY_PACKAGE: PORTKEY_VERSION},
                           "overrides": {"@hono/node-server": HONO_NODE_SERVER_PIN}}, indent=2)
    package_json = home / "package.json"
    if entry.exists() and package_json.exists() and package_json.read_text() == manifest:
        return entry
    home.mkdir(parents=True, exist_ok=True)
    package_json.write_text(manifest)
    with open(PEERS_DIR / "npm-portkey.log", "wb") as log:
        subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=home, stdout=log,
                       stderr=subprocess.STDOUT, check=True, timeout=INSTALL_TIMEOUT_SECS)
    return entry


def litellm_config(mock_port: int) -> str:
    """Two model names so the stream/non-stream split matches the mock's paths."""
    base = f"http://{LOOPBACK}:{mock_port}"
    return f"""model_list:
  - model_name: gpt-4o-mini
    litellm_params: {{model: openai/gpt-4o-mini, api_base: "{base}/v1", api_key: sk-mock-upstream}}
  - model_name: gpt-4o-mini-stream
    litellm_params: {{model: openai/gpt-4o-mini, api_base: "{base}/stream/v1", api_key: sk-mock-upstream}}
general_settings:
  master_key: {LITELLM_MASTER_KEY}
  disable_spend_logs: true
  disable_error_logs: true
litellm_settings:
  set_verbose: false
"""


def start_litellm(workdir: Path, mock_port: int, workers: int = 2) -> Service:
    exe = _install_litellm()
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "litellm.yaml"
    config.write_text(litellm_config(mock_port))
    port = free_loopback_port()  # probe-and-release: harness only, see procs.free_loopback_port
    env = dict(LITELLM_OFFLINE_ENV, LITELLM_MODE="PRODUCTION", LITELLM_LOG="ERROR")
    service = start_service("litellm", [str(exe), "--config", str(config), "--host", LOOPBACK,
                                        "--port", str(port), "--num_workers", str(workers)],
                            workdir, env=env, port=port)
    _await(service, raw_request("GET", "/health/liveliness"), 300)
    return service


def start_portkey(workdir: Path) -> Service:
    entry = _install_portkey()
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_loopback_port()
    service = start_service("portkey", ["node", str(entry), f"--port={port}", "--headless"],
                            workdir, env={"NODE_ENV": "production"}, port=port)
    _await(service, raw_request("GET", "/"), 60)
    return service


def _await(service: Service, request: bytes, deadline_secs: float) -> None:
    try:
        wait_until_serving(service, request, deadline_secs)
    except BaseException:
        stop_service(service)
        raise


def portkey_headers(mock_port: int, *, stream: bool) -> list[tuple[str, str]]:
    prefix = "/stream/v1" if stream else "/v1"
    return [("Authorization", "Bearer sk-mock-upstream"), ("x-portkey-provider", "openai"),
            ("x-portkey-custom-host", f"http://{LOOPBACK}:{mock_port}{prefix}")]


def litellm_headers() -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {LITELLM_MASTER_KEY}")]
