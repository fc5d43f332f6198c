"""Config text the MCP end-to-end tests share: the offline mock model every AI config needs
(the tool endpoints are served beside the model endpoints)."""

from __future__ import annotations

import sys
from pathlib import Path

MOCK_AI = """[[providers]]
name = "mock"
kind = "mock"

[[models]]
name = "mock-model"
provider = "mock"
provider_model = "mock-model"
"""

ROOT = Path(__file__).resolve().parents[2]


def agent_key(key: str) -> str:
    """An ``[[api_keys]]`` entry ``agent`` that may list and run tools."""
    return f'[[api_keys]]\nid = "agent"\nkey = "{key}"\nscopes = ["tools.read", "tools.execute"]\n'


def stdio_test_server(name: str) -> str:
    """The head of an ``[[mcp_servers]]`` entry running this repo's MCP test server over stdio;
    the caller adds its own keys after it (``tools_to_execute``...)."""
    return (
        f'[[mcp_servers]]\nname = "{name}"\ntransport = "stdio"\ncommand = "{sys.executable}"\n'
        f'args = ["-m", "tests.support.mcp_test_server", "stdio"]\nenv = {{ PYTHONPATH = "{ROOT}" }}\n'
    )
