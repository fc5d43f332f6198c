"""Loading the raw request corpus in tests/corpus (format in tests/corpus/README.md)."""

from __future__ import annotations

import codecs
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


@dataclass(frozen=True)
class Case:
    name: str
    raw: bytes
    expect: dict[str, Any]


def decode_http(text: str) -> bytes:
    joined = "".join(text.splitlines())
    decoded, _ = codecs.escape_decode(joined.encode("latin-1"))
    return bytes(decoded)


def load(kind: str) -> list[Case]:
    cases = []
    for path in sorted((CORPUS / kind).glob("*.http")):
        expect = tomllib.loads(path.with_suffix(".expect").read_text())
        cases.append(Case(path.stem, decode_http(path.read_text(encoding="latin-1")), expect))
    return cases


def methods_of(case: Case) -> list[str]:
    """The request methods in a valid case, in order (h11 needs them to parse answers)."""
    return [str(r.get("method", "GET")) for r in case.expect.get("request", [])]


def check_request(seen: dict[str, Any], expected: dict[str, Any]) -> None:
    """Compare a recorded request with one ``[[request]]`` table (only the keys it gives)."""
    for key, want in expected.items():
        if key in ("headers", "exact_headers"):
            continue
        got = seen[key]
        if isinstance(got, bytes):
            got = got.decode("latin-1")
        assert got == want, f"{key}: {got!r} != {want!r}"
    if "headers" in expected:
        want_headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in expected["headers"]]
        if expected.get("exact_headers"):
            assert seen["headers"] == want_headers
        else:
            for pair in want_headers:
                assert pair in seen["headers"], f"{pair!r} not in {seen['headers']!r}"
