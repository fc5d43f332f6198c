"""Snippets and ``import``, expanded on the token stream before parsing (as Caddy does).

``(name) { ... }`` at the top level defines a snippet; ``import name [args...]``
on a line of its own splices the snippet's tokens in, with ``{args[0]}`` /
``{args.0}`` replaced by the arguments. ``import path`` with a file path (relative
to the importing file; globs allowed) splices that file's tokens. Spliced tokens
keep their own file/line/column, so errors point at where the text was written;
each splice gets fresh logical-line numbers so it never merges with its neighbours.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from ferrogate.config.caddyfile.lexer import Token, tokenize
from ferrogate.config.diagnostics import Diagnostic

_ARG = re.compile(r"\{args(?:\[(\d+)\]|\.(\d+))\}")
_MAX_DEPTH = 10
# An imported file larger than this is refused (and never read whole): `import /dev/zero`
# must not grow the process that validates the config.
MAX_IMPORT_BYTES = 4 * 1024 * 1024


class _Counter:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 1_000_000

    def next(self) -> int:
        self.value += 1
        return self.value


def expand_imports(
    tokens: list[Token], env: Mapping[str, str], *, import_root: Path | None = None
) -> tuple[list[Token], list[Diagnostic]]:
    """``import_root``, when given, is the only directory files may be imported from (config
    text submitted over the admin API may not read the rest of the file system)."""
    errors: list[Diagnostic] = []
    snippets, rest = _take_snippets(tokens, errors)
    out = _expand(rest, snippets, env, errors, _Counter(), 0, import_root)
    return out, errors


def _take_snippets(tokens: list[Token], errors: list[Diagnostic]) -> tuple[dict[str, list[Token]], list[Token]]:
    snippets: dict[str, list[Token]] = {}
    rest: list[Token] = []
    i, depth = 0, 0
    while i < len(tokens):
        tok = tokens[i]
        is_def = (
            depth == 0
            and tok.text.startswith("(")
            and tok.text.endswith(")")
            and len(tok.text) > 2
            and not tok.quoted
            and i + 1 < len(tokens)
            and tokens[i + 1].is_open
        )
        if is_def:
            end = _matching_close(tokens, i + 1)
            if end < 0:
                errors.append(tokens[i + 1].diagnostic("snippet block is never closed (missing `}`)"))
                return snippets, rest
            snippets[tok.text[1:-1]] = tokens[i + 2 : end]
            i = end + 1
            continue
        if tok.is_open:
            depth += 1
        elif tok.is_close:
            depth = max(0, depth - 1)
        rest.append(tok)
        i += 1
    return snippets, rest


def _matching_close(tokens: list[Token], open_index: int) -> int:
    depth = 0
    for j in range(open_index, len(tokens)):
        if tokens[j].is_open:
            depth += 1
        elif tokens[j].is_close:
            depth -= 1
            if depth == 0:
                return j
    return -1


def _expand(
    tokens: list[Token],
    snippets: dict[str, list[Token]],
    env: Mapping[str, str],
    errors: list[Diagnostic],
    counter: _Counter,
    depth: int,
    import_root: Path | None,
) -> list[Token]:
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        starts_line = i == 0 or tokens[i - 1].logical_line != tok.logical_line
        if not (tok.text == "import" and not tok.quoted and starts_line):
            out.append(tok)
            i += 1
            continue
        j = i + 1
        while j < len(tokens) and tokens[j].logical_line == tok.logical_line:
            j += 1
        args = tokens[i + 1 : j]
        i = j
        if not args:
            errors.append(tok.diagnostic("`import` needs a snippet name or a file"))
            continue
        if depth >= _MAX_DEPTH:
            errors.append(tok.diagnostic(f"imports nested more than {_MAX_DEPTH} deep (an import cycle?)"))
            continue
        body = snippets.get(args[0].text)
        if body is None:
            body = _file_tokens(args[0], env, errors, import_root)
        if body is None:
            continue
        values = [a.text for a in args[1:]]
        spliced = _renumber([_with_args(t, values) for t in body], counter)
        out += _expand(spliced, snippets, env, errors, counter, depth + 1, import_root)
    return out


def _renumber(tokens: list[Token], counter: _Counter) -> list[Token]:
    mapping: dict[int, int] = {}
    out: list[Token] = []
    for t in tokens:
        if t.logical_line not in mapping:
            mapping[t.logical_line] = counter.next()
        out.append(replace(t, logical_line=mapping[t.logical_line]))
    return out


def _with_args(tok: Token, values: list[str]) -> Token:
    if "{args" not in tok.text:
        return tok

    def sub(m: re.Match[str]) -> str:
        index = int(m.group(1) or m.group(2))
        return values[index] if index < len(values) else ""

    return replace(tok, text=_ARG.sub(sub, tok.text))


def _file_tokens(
    arg: Token, env: Mapping[str, str], errors: list[Diagnostic], import_root: Path | None
) -> list[Token] | None:
    base = Path(arg.file).parent if import_root is None else import_root
    pattern = arg.text if Path(arg.text).is_absolute() else str(base / arg.text)
    if import_root is not None and not _within(Path(pattern), import_root):
        errors.append(arg.diagnostic(f"`{arg.shown}`: only files in the running config's directory can be imported here"))
        return None
    matches = sorted(glob.glob(pattern)) if any(c in arg.text for c in "*?[") else [pattern]
    if not any(c in arg.text for c in "*?[") and not Path(pattern).is_file():
        errors.append(arg.diagnostic(f"`{arg.shown}` is neither a snippet nor a readable file"))
        return None
    tokens: list[Token] = []
    for path in matches:
        if import_root is not None and not _within(Path(path), import_root):
            errors.append(arg.diagnostic(f"`{arg.shown}`: only files in the running config's directory can be imported here"))
            continue
        try:
            with open(path, "rb") as f:
                raw = f.read(MAX_IMPORT_BYTES + 1)
            if len(raw) > MAX_IMPORT_BYTES:
                errors.append(arg.diagnostic(f"cannot import `{arg.shown}`: larger than {MAX_IMPORT_BYTES} bytes"))
                continue
            text = raw.decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
            errors.append(arg.diagnostic(f"cannot import `{arg.shown}`: {reason}"))
            continue
        found, lex_errors = tokenize(text, path, env)
        errors.extend(lex_errors)
        tokens += found
    return tokens


def _within(path: Path, root: Path) -> bool:
    """Whether ``path`` (symlinks resolved) lies inside ``root``."""
    try:
        path.resolve().relative_to(root.resolve())
    except (ValueError, OSError, RuntimeError):
        return False
    return True
