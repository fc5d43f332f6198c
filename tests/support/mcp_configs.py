"""Config text the MCP end-to-end tests share: the offline mock model every AI config needs
(the tool endpoints are served beside the model endpoints)."""

from __future__ import annotations

MOCK_AI = """[[providers]]
name = "mock"
kind = "mock"

[[models]]
name = "mock-model"
provider = "mock"
provider_model = "mock-model"
"""
