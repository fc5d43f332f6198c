"""The container image: hadolint finds nothing, the runtime lock pins what the full lock pins,
and the image's runtime steps (its ENTRYPOINT, CMD, config, WORKDIR, HEALTHCHECK, STOPSIGNAL)
run the same way in a temporary prefix, writing nowhere but the declared volume. With a Docker
daemon the image itself is built and run."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.gateway import wait_until
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
VOLUME = "/var/lib/ferrogate"


def _runtime_stage() -> dict[str, list[str]]:
    """The last stage's instructions by keyword (continuation lines joined)."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    stage = text.split("\nFROM ")[-1]
    out: dict[str, list[str]] = {}
    for line in stage.splitlines()[1:]:
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.setdefault(keyword, []).append(rest.strip())
    return out


def _pins(path: Path) -> dict[str, str]:
    return dict(re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", path.read_text(), re.M))


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    done = subprocess.run([str(Path(sys.executable).with_name("hadolint")), str(DOCKERFILE)], capture_output=True,
                          text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, ""), done.stdout


def test_the_runtime_lock_pins_the_full_locks_versions_without_the_dev_tools() -> None:
    full, runtime = _pins(ROOT / "requirements" / "lock.txt"), _pins(ROOT / "requirements" / "runtime-lock.txt")
    assert {name: full.get(name) for name in runtime} == runtime
    assert "pytest" not in runtime and "mypy" not in runtime and "msgspec" in runtime


def test_the_image_runs_as_a_non_root_user_with_one_volume_and_sigterm() -> None:
    stage = _runtime_stage()
    assert stage["USER"] == ["10001:10001"]
    assert stage["VOLUME"] == [f'["{VOLUME}"]'] and stage["WORKDIR"] == [VOLUME]
    assert stage["STOPSIGNAL"] == ["SIGTERM"]
    assert "/healthz" in stage["HEALTHCHECK"][0]
    assert not any("gcc" in run for run in stage.get("RUN", []))  # no compiler in the runtime stage


def test_the_images_runtime_steps_serve_and_stop_cleanly_in_a_prefix(tmp_path: Path) -> None:
    stage = _runtime_stage()
    env_line = " ".join(stage["ENV"])
    config_in_image = re.search(r"FERROGATE_CONFIG=(\S+)", env_line).group(1)  # type: ignore[union-attr]
    port = free_port()
    prefix = tmp_path / "root"

    def placed(path: str) -> Path:
        return prefix / path.lstrip("/")

    # COPY steps, each file where the image has it (paths inside the prefix, the port free).
    for source, target in (
        ("deploy/docker/ferrogate.toml", config_in_image),
        ("deploy/docker/ferrogate", "/usr/local/bin/ferrogate"),
    ):
        assert f"{source} {target}" in stage["COPY"], (source, stage["COPY"])
        text = (ROOT / source).read_text().replace(VOLUME, str(placed(VOLUME)))
        text = text.replace("/opt/ferrogate/bin/python", sys.executable).replace("0.0.0.0:8080", f"127.0.0.1:{port}")
        placed(target).parent.mkdir(parents=True, exist_ok=True)
        placed(target).write_text(text)
        placed(target).chmod(0o755)
    volume = placed(VOLUME)
    volume.mkdir(parents=True)
    before = {p for p in prefix.rglob("*") if not p.is_relative_to(volume)}
    command = [*json.loads(stage["ENTRYPOINT"][0]), *json.loads(stage["CMD"][0])]
    command[0] = str(placed(command[0]))
    env = {**os.environ, "FERROGATE_CONFIG": str(placed(config_in_image)), "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(command, cwd=volume, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        health = json.loads(stage["HEALTHCHECK"][0].split(" CMD ", 1)[1])
        health = [sys.executable if word == "/opt/ferrogate/bin/python" else word.replace("8080", str(port))
                  for word in health]

        def healthy() -> bool:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            return subprocess.run(health, capture_output=True, timeout=10).returncode == 0

        wait_until(healthy, 60, "the image's HEALTHCHECK to pass")
        answer = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", timeout=10,
                            json={"model": "mock-model", "messages": [{"role": "user", "content": "hi"}]})
        assert answer.status_code == 200, answer.text
        proc.send_signal(getattr(signal, _runtime_stage()["STOPSIGNAL"][0]))
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    after = {p for p in prefix.rglob("*") if not p.is_relative_to(volume)}
    assert after == before  # state went to the volume only
    assert (volume / "state.db").exists()


def _docker_daemon() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


@pytest.mark.skipif(not _docker_daemon(), reason="no Docker daemon here: the image's steps are run in a prefix instead")
def test_the_image_builds_and_answers_its_health_check() -> None:  # pragma: no cover (needs a Docker daemon)
    subprocess.run(["docker", "build", "-t", "ferrogate:test", str(ROOT)], check=True, timeout=1800)
    port = free_port()
    container = subprocess.run(["docker", "run", "-d", "-p", f"127.0.0.1:{port}:8080", "ferrogate:test"],
                               capture_output=True, text=True, check=True).stdout.strip()
    try:
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200, 60,
                   "the container to answer /healthz")
    finally:
        subprocess.run(shlex.split(f"docker rm -f {container}"), capture_output=True)
