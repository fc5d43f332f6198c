"""Caddyfile structure: global options block, site blocks, segments and nested blocks."""

from __future__ import annotations

from ferrogate.config.caddyfile.lexer import tokenize
from ferrogate.config.caddyfile.parser import ServerBlock, parse_tokens


def parse(text: str) -> list[ServerBlock]:
    tokens, lex_errors = tokenize(text, "f", {})
    blocks, errors = parse_tokens(tokens)
    assert lex_errors == [] and errors == []
    return blocks


def test_leading_block_without_address_is_the_global_options_block() -> None:
    blocks = parse("{\n\tadmin off\n}\n:8080 {\n\trespond 200\n}\n")
    assert [b.is_global for b in blocks] == [True, False]
    assert [s.name.text for s in blocks[0].segments] == ["admin"]


def test_addresses_may_be_comma_separated_across_lines() -> None:
    (block,) = parse("a.com:80,\nb.com:80, c.com:80 {\n\trespond 200\n}\n")
    assert [k.text for k in block.keys] == ["a.com:80", "b.com:80", "c.com:80"]
    assert (block.keys[1].line, block.keys[1].column) == (2, 1)


def test_segments_nest_with_their_arguments() -> None:
    (block,) = parse(":8080 {\n\treverse_proxy /a/* x:1 {\n\t\ttransport http {\n\t\t\ttls\n\t\t}\n\t}\n}\n")
    (proxy,) = block.segments
    assert [t.text for t in proxy.args] == ["/a/*", "x:1"]
    assert proxy.block is not None
    (transport,) = proxy.block
    assert transport.block is not None and transport.block[0].name.text == "tls"


def test_empty_block_is_allowed() -> None:
    (block,) = parse(":8080 {\n\thandle /x {\n\t}\n}\n")
    assert block.segments[0].block == []


def test_several_site_blocks() -> None:
    blocks = parse(":8080 {\n\trespond 200\n}\n:8081 {\n\trespond 201\n}\n")
    assert [b.keys[0].text for b in blocks] == [":8080", ":8081"]


def test_second_site_without_braces_is_an_error() -> None:
    tokens, _ = tokenize(":8080 {\n\trespond 200\n}\n:8081\nrespond 201\n", "f", {})
    _, errors = parse_tokens(tokens)
    assert [str(e) for e in errors] == ["f:4:1: expected `{` after the site address(es)"]
