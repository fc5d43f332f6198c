"""Which policy refuses what: selectors, globs, order, and MCP-only targets."""

from __future__ import annotations

from ferrogate.config.model import ApiKey, Policy
from ferrogate.governance.policies import PolicyBook

DEV = ApiKey(id="dev", key="sk-dev", tenant="team-a")
OPS = ApiKey(id="ops", key="sk-ops", tenant="team-b")


def _name(found: object) -> str | None:
    return getattr(found, "name", None)


def test_a_policy_with_no_selectors_refuses_every_request() -> None:
    book = PolicyBook([Policy(name="all")])
    assert _name(book.refusing_request(DEV, "m")) == "all"
    assert _name(book.refusing_request(None, "m")) == "all"


def test_key_ids_limit_a_policy_to_those_keys() -> None:
    book = PolicyBook([Policy(name="p", api_key_ids=["dev"])])
    assert _name(book.refusing_request(DEV, "m")) == "p"
    assert book.refusing_request(OPS, "m") is None
    assert book.refusing_request(None, "m") is None  # no keys configured: no key to match


def test_tenants_limit_a_policy_to_the_keys_of_those_tenants() -> None:
    book = PolicyBook([Policy(name="p", tenants=["team-b"])])
    assert book.refusing_request(DEV, "m") is None
    assert _name(book.refusing_request(OPS, "m")) == "p"


def test_models_match_exact_names_and_globs() -> None:
    book = PolicyBook([Policy(name="p", models=["gpt-4*", "claude"])])
    assert _name(book.refusing_request(DEV, "gpt-4o")) == "p"
    assert _name(book.refusing_request(DEV, "claude")) == "p"
    assert book.refusing_request(DEV, "claude-2") is None


def test_a_policy_naming_providers_refuses_those_providers_not_the_request() -> None:
    book = PolicyBook([Policy(name="p", providers=["openai*"])])
    assert book.refusing_request(DEV, "m") is None
    assert _name(book.refusing_provider(DEV, "m", "openai-eu")) == "p"
    assert book.refusing_provider(DEV, "m", "anthropic") is None


def test_disabled_policies_refuse_nothing() -> None:
    book = PolicyBook([Policy(name="p", enabled=False)])
    assert book.empty
    assert book.refusing_request(DEV, "m") is None


def test_the_first_matching_policy_in_config_order_decides() -> None:
    book = PolicyBook([Policy(name="first", models=["m"]), Policy(name="second")])
    assert _name(book.refusing_request(DEV, "m")) == "first"
    assert _name(book.refusing_request(DEV, "other")) == "second"


def test_a_policy_that_names_only_mcp_targets_never_refuses_a_model_request() -> None:
    book = PolicyBook(
        [
            Policy(name="tools", models=["mcp_tool:github-search"]),
            Policy(name="servers", providers=["mcp:github"]),
        ]
    )
    assert book.empty
    assert book.refusing_request(DEV, "m") is None
    assert book.refusing_provider(DEV, "m", "openai") is None


def test_the_refusal_is_a_403_policy_denied_with_message_and_name() -> None:
    book = PolicyBook([Policy(name="no-gpt", message="GPT is off for this team")])
    found = book.refusing_request(DEV, "m")
    assert found is not None
    err = found.error()
    assert (err.status, err.code) == (403, "policy_denied")
    assert "GPT is off for this team" in err.message and "no-gpt" in err.message
