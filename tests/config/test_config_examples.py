"""The shipped configs load, and the TOML twin of the default Caddyfile is equal to it."""

from __future__ import annotations

from pathlib import Path

from ferrogate.config.emit import emit_toml
from ferrogate.config.load import load_config
from ferrogate.config.toml import parse_toml
from ferrogate.governance.keys import KeyIndex

REPO = Path(__file__).resolve().parents[2]
FULL_ENV = {
    "OPENAI_API_KEY": "x",
    "ANTHROPIC_API_KEY": "x",
    "CF_API_TOKEN": "x",
    "GITHUB_TOKEN": "x",
    "FERROGATE_ADMIN_TOKEN": "x",
}


def test_default_caddyfile_serves_health_proxy_and_ai_routes() -> None:
    cfg = load_config(REPO / "Ferrogate/Caddyfile", env={})
    assert cfg.listen == [":8080"]
    assert cfg.admin.listen == "127.0.0.1:2019"
    assert [(r.paths, r.ai_gateway) for r in cfg.routes] == [(["/echo/*"], False), (["/v1/*"], True), (["/healthz"], False)]
    assert [p.kind for p in cfg.providers] == ["mock"]
    assert {m.name for m in cfg.models} == {"gpt-4o-mini", "text-embedding-3-small"}
    assert "embeddings" in cfg.models[1].capabilities
    assert cfg.api_keys[0].key == "sk-ferrogate-dev"


def test_default_caddyfile_dev_key_comes_from_the_environment_by_name() -> None:
    env = {"FERROGATE_DEV_KEY": "sk-mine"}
    cfg = load_config(REPO / "Ferrogate/Caddyfile", env=env)
    assert (cfg.api_keys[0].key, cfg.api_keys[0].key_env) == (None, "FERROGATE_DEV_KEY")
    index = KeyIndex.from_config(cfg.api_keys, env=env)
    assert index.lookup("sk-mine") is cfg.api_keys[0]
    assert index.lookup("sk-ferrogate-dev") is None


def test_gateway_toml_equals_the_default_caddyfile() -> None:
    assert load_config(REPO / "config/gateway.toml", env={}) == load_config(REPO / "Ferrogate/Caddyfile", env={})


def test_full_toml_loads_every_section() -> None:
    cfg = load_config(REPO / "config/full.toml", env=FULL_ENV)
    assert cfg.tls.acme.dns_config is not None
    assert cfg.mcp_servers and cfg.policies and cfg.gateway_configs and cfg.models[0].fallbacks


def test_full_toml_round_trips_through_the_emitter() -> None:
    cfg = load_config(REPO / "config/full.toml", env=FULL_ENV)
    again, _ = parse_toml(emit_toml(cfg), "emitted.toml")
    assert again == cfg


def test_emitter_leaves_out_defaults() -> None:
    text = emit_toml(load_config(REPO / "config/gateway.toml", env={}))
    assert "[limits]" not in text and "[telemetry]" not in text
    assert "max_idle_conns" not in text


def _caddyfile_blocks(markdown: str) -> list[str]:
    blocks, inside, current = [], False, []
    for line in markdown.splitlines():
        if line.strip() == "```caddyfile":
            inside, current = True, []
        elif inside and line.strip() == "```":
            inside = False
            blocks.append("\n".join(current) + "\n")
        elif inside:
            current.append(line)
    return blocks


def test_config_readme_caddyfile_examples_load_and_adapt_round_trip(tmp_path: Path) -> None:
    blocks = _caddyfile_blocks((REPO / "config/README.md").read_text())
    assert len(blocks) >= 2
    env = {"OPENAI_API_KEY": "sk-x", "GITHUB_TOKEN": "gh-x"}
    for i, text in enumerate(blocks):
        path = tmp_path / f"example{i}.caddyfile"
        path.write_text(text)
        cfg = load_config(path, env=env)
        toml_path = tmp_path / f"example{i}.toml"
        toml_path.write_text(emit_toml(cfg))
        assert load_config(toml_path, env=env) == cfg


def test_byte_order_mark_and_crlf_line_endings_are_accepted(tmp_path: Path) -> None:
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_bytes("\ufeff:8080 {\r\n\trespond /healthz 200\r\n}\r\n".encode())
    toml = tmp_path / "c.toml"
    toml.write_bytes('\ufefflisten = ":8080"\r\n[[routes]]\r\npaths = ["/healthz"]\r\nrespond = { status = 200 }\r\n'.encode())
    assert load_config(caddyfile, env={}) == load_config(toml, env={})


def test_emitter_quotes_keys_with_a_trailing_newline() -> None:
    from ferrogate.config.model import Config, Respond, Route

    cfg = Config(routes=[Route(respond=Respond(headers={"0\n": "v"}))])
    again, _ = parse_toml(emit_toml(cfg), "emitted.toml")
    assert again == cfg
