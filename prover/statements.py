"""Turning user input (a statement, a Lean file) into a Theorem, checked before any work."""

from __future__ import annotations

import re
from pathlib import Path

from prover.errors import InputError
from prover.language import language as language_spec
from prover.paths import read_text
from prover.types import Language, Theorem

_DECL = re.compile(r"^[ \t]*(?:theorem|lemma)\s+([^\s:({\[]+)", re.MULTILINE)
_HEADER_LINE = re.compile(r"^\s*(import|open|set_option|universe)\b")

MAX_STATEMENT_CHARS = 100_000  # the longest miniF2F statement is under 2,000

_CLOSERS = {")": "(", "]": "[", "}": "{", "⟩": "⟨", "⦄": "⦃", "⟧": "⟦", "›": "‹"}
_OPENERS = {v: k for k, v in _CLOSERS.items()}


def check_statement(text: str, language: str) -> None:
    """Refuse a statement no proof assistant of `language` could parse, naming what is wrong.

    Catches here what would reach an environment only as a confusing failure: NUL and control
    bytes, an over-long text; then the language's own check (brackets, quotes, text in another
    language). Not a parser: a statement that passes may still be rejected by the proof
    assistant itself.
    """
    if len(text) > MAX_STATEMENT_CHARS:
        raise InputError(
            f"the statement is {len(text):,} characters (at most {MAX_STATEMENT_CHARS:,}); "
            "pass one theorem statement"
        )
    for i, ch in enumerate(text):
        if ch == "\0" or (ord(ch) < 32 and ch not in "\n\t\r") or ord(ch) == 127:
            raise InputError(
                f"the statement holds control character {ord(ch):#04x} at position {i}; "
                "remove it (statements are plain text)"
            )
    spec = language_spec(language)
    if spec.check is not None:
        spec.check(text)


def outside_comments(text: str, start: str, end: str) -> str:
    """`text` without its (nested) `start … end` comments; an unterminated one is an error."""
    out, depth, i = [], 0, 0
    while i < len(text):
        if text.startswith(start, i):
            depth, i = depth + 1, i + len(start)
        elif depth and text.startswith(end, i):
            depth, i = depth - 1, i + len(end)
        else:
            if not depth:
                out.append(text[i])
            i += 1
    if depth:
        raise InputError(f"the statement has an unterminated comment ({start} without {end})")
    return "".join(out)


def balanced(code: str, language: str) -> None:
    """Refuse `code` whose brackets do not pair up, naming the first culprit."""
    stack: list[tuple[str, int]] = []
    for i, ch in enumerate(code):
        if ch in _OPENERS:
            stack.append((ch, i))
        elif ch in _CLOSERS:
            if not stack or stack[-1][0] != _CLOSERS[ch]:
                want = f"'{_OPENERS[stack[-1][0]]}'" if stack else "nothing"
                raise InputError(
                    f"unbalanced brackets in the {language} statement: '{ch}' where {want} "
                    "was expected; fix the parentheses"
                )
            stack.pop()
    if stack:
        raise InputError(
            f"unbalanced brackets in the {language} statement: '{stack[-1][0]}' is never "
            f"closed (expected '{_OPENERS[stack[-1][0]]}'); fix the parentheses"
        )


def theorem_from_statement(
    statement: str,
    *,
    header: str = "",
    language: str = Language.LEAN4,
    name: str | None = None,
) -> Theorem:
    """A Theorem from a `theorem NAME …` statement in `language`; the name is read from the text,
    and the statement is completed to the form the language's environments take."""
    text = statement.strip()
    if not text:
        raise InputError("the statement is empty; pass e.g. 'theorem t (x : ℕ) : x + 0 = x := by'")
    check_statement(text, language)
    match = _DECL.search(text)
    if name is None:
        if match is None:
            raise InputError(
                "cannot find `theorem NAME` in the statement; start it with 'theorem NAME …'"
            )
        name = match.group(1)
    text = language_spec(language).complete(text)
    return Theorem(name=name, statement=text, language=language, header=header, source="cli")


def theorem_from_file(path: str | Path, name: str) -> Theorem:
    """The declaration `name` in a Lean file; its import/open/set_option lines become the header."""
    p = Path(path)
    text = read_text(p, "--file")
    decls = list(_DECL.finditer(text))
    for i, match in enumerate(decls):
        if match.group(1) != name:
            continue
        end = decls[i + 1].start() if i + 1 < len(decls) else len(text)
        body = text[match.start() : end]
        cut = re.search(r":=\s*by\b(\s*sorry\b)?", body)
        statement = body[: cut.end()] if cut else body.rstrip()
        check_statement(statement.strip(), Language.LEAN4)
        header_lines = [ln for ln in text[: match.start()].splitlines() if _HEADER_LINE.match(ln)]
        header = "\n".join(header_lines) + ("\n" if header_lines else "")
        return Theorem(
            name=name,
            statement=statement.strip(),
            header=header,
            source=str(p),
            language=Language.LEAN4,
        )
    found = ", ".join(m.group(1) for m in decls[:10]) or "none"
    raise InputError(f"no theorem '{name}' in '{p}' (found: {found}); check --theorem")
