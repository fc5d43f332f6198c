"""Parse Python source for the tests that read the code itself (layering, idioms, sizes).

CPython 3.11's ``ast.parse`` counts its recursion in interpreter-wide state, so a parse that
another thread's parse interleaves with can fail with "AST constructor recursion depth
mismatch" (CPython gh-106905), and 3.11 parses source lines whenever it formats a traceback
(to place its carets). Under pytest-xdist a thread an earlier test in the same process left
logging can do that at any moment: the parse is tried again, the source being fine.
"""

from __future__ import annotations

import ast

_TRIES = 5


def parse_source(source: str, filename: str = "<unknown>") -> ast.Module:
    for _ in range(_TRIES - 1):
        try:
            return ast.parse(source, filename=filename)
        except SystemError as exc:
            if "recursion depth mismatch" not in str(exc):
                raise
    return ast.parse(source, filename=filename)
