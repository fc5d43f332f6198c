"""Caddyfile lexer: Caddy's lexical rules, positions, and {$VAR} substitution."""

from __future__ import annotations

from ferrogate.config.caddyfile.lexer import tokenize


def texts(source: str, env: dict[str, str] | None = None) -> list[str]:
    tokens, errors = tokenize(source, "Caddyfile", env or {})
    assert errors == []
    return [t.text for t in tokens]


def test_tokens_are_separated_by_whitespace() -> None:
    assert texts("respond  /x\t200\n") == ["respond", "/x", "200"]


def test_tokens_carry_line_and_column() -> None:
    tokens, _ = tokenize(":8080 {\n\trespond 200\n}\n", "f", {})
    assert [(t.text, t.line, t.column) for t in tokens] == [
        (":8080", 1, 1), ("{", 1, 7), ("respond", 2, 2), ("200", 2, 10), ("}", 3, 1),
    ]


def test_double_quoted_string_keeps_spaces_and_unescapes_quotes() -> None:
    assert texts('respond "hello \\"world\\"" 200') == ["respond", 'hello "world"', "200"]


def test_backtick_string_is_raw() -> None:
    assert texts('respond `{"a": "b\\n"}`') == ["respond", '{"a": "b\\n"}']


def test_quoted_string_may_span_lines() -> None:
    tokens, _ = tokenize('respond "a\nb" 200', "f", {})
    assert tokens[1].text == "a\nb"
    assert (tokens[2].line, tokens[2].column) == (2, 4)


def test_comment_starts_only_at_a_token_start() -> None:
    assert texts("respond a#b # the rest is a comment\nlog") == ["respond", "a#b", "log"]


def test_backslash_escapes_the_next_character() -> None:
    tokens, _ = tokenize("respond \\{ a\\ b", "f", {})
    assert [t.text for t in tokens] == ["respond", "{", "a b"]
    assert not tokens[1].is_open  # an escaped brace is text, not a block


def test_backslash_newline_continues_the_logical_line() -> None:
    tokens, _ = tokenize("reverse_proxy a:1 \\\n    b:2\nlog", "f", {})
    assert [t.logical_line for t in tokens] == [1, 1, 1, 2]
    assert tokens[2].line == 2


def test_quoted_brace_is_not_a_block_delimiter() -> None:
    tokens, _ = tokenize('respond "{"', "f", {})
    assert tokens[1].text == "{" and not tokens[1].is_open


def test_env_placeholder_is_substituted() -> None:
    assert texts("key {$KEY}", {"KEY": "sk-1"}) == ["key", "sk-1"]


def test_env_placeholder_inside_a_token() -> None:
    assert texts("127.0.0.1:{$PORT}", {"PORT": "9000"}) == ["127.0.0.1:9000"]


def test_env_placeholder_default_is_used_when_unset() -> None:
    assert texts("key {$KEY:sk-default}") == ["key", "sk-default"]


def test_env_placeholder_value_wins_over_default() -> None:
    assert texts("key {$KEY:sk-default}", {"KEY": "sk-real"}) == ["key", "sk-real"]


def test_missing_env_placeholder_is_an_error_naming_the_variable() -> None:
    _, errors = tokenize("a\nkey {$MISSING_VAR}", "f", {})
    assert [str(e) for e in errors] == [
        "f:2:5: environment variable `MISSING_VAR` is not set (write {$MISSING_VAR:default} to give a default)"
    ]


def test_runtime_env_placeholder_is_left_for_the_adapter() -> None:
    assert texts("api_key {env.OPENAI}") == ["api_key", "{env.OPENAI}"]


def test_unterminated_quote_is_an_error() -> None:
    _, errors = tokenize('respond "oops', "f", {})
    assert [str(e) for e in errors] == ["f:1:9: unterminated quoted string"]
