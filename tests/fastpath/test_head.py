"""Header blocks and templates: checked when built, one format step per request."""

from __future__ import annotations

import pytest

from ferrogate._fastpath.head import HeaderTemplate, header_block


def test_a_header_block_is_lines_ending_in_crlf() -> None:
    assert header_block(((b"x-a", b"1"), (b"x-b", b"two words"))) == b"x-a: 1\r\nx-b: two words\r\n"


@pytest.mark.parametrize("value", [b"a\r\nx-injected: 1", b"a\nb", b"a\x00"])
def test_a_value_that_would_split_the_head_is_refused_when_the_block_is_built(value: bytes) -> None:
    with pytest.raises(ValueError):
        header_block(((b"x-a", value),))


@pytest.mark.parametrize("name", [b"X-Upper", b"bad name", b"x:y", b""])
def test_a_name_that_is_not_a_lowercase_token_is_refused(name: bytes) -> None:
    with pytest.raises(ValueError):
        header_block(((name, b"1"),))


def test_a_template_fills_values_blocks_and_fixed_fields_in_order() -> None:
    template = HeaderTemplate(
        (b"content-type", b"application/json"),
        (b"x-id", b"%b"),
        (b"", b"%b"),
        (b"x-n", b"%d"),
        (b"x-ms", b"%.3f"),
    )
    filled = template.fill((b"r1", header_block(((b"x-who", b"p"),)), 3, 1.5))
    assert filled == b"content-type: application/json\r\nx-id: r1\r\nx-who: p\r\nx-n: 3\r\nx-ms: 1.500\r\n"


def test_a_template_field_with_two_specs_is_refused() -> None:
    with pytest.raises(ValueError):
        HeaderTemplate((b"x-a", b"%b%b"))
