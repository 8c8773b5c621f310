"""Turning user input (a statement, a Lean file) into a Theorem, checked before any work."""

from __future__ import annotations

import re
from pathlib import Path

from prover.errors import InputError
from prover.paths import read_text
from prover.types import Language, Theorem

_DECL = re.compile(r"^[ \t]*(?:theorem|lemma)\s+([^\s:({\[]+)", re.MULTILINE)
_HEADER_LINE = re.compile(r"^\s*(import|open|set_option|universe)\b")

# The language each built-in proof assistant speaks (others, e.g. replay, are not checked).
ENVIRONMENT_LANGUAGE: dict[str, Language] = {
    "lean-repl": Language.LEAN4,
    "lean-dojo": Language.LEAN4,
    "isabelle": Language.ISABELLE,
}
MAX_STATEMENT_CHARS = 100_000  # the longest miniF2F statement is under 2,000

# Isabelle's outer syntax right after `theorem NAME:` (a quoted term or an Isar element); Lean
# puts binders or a type there, never a double quote or these keywords.
_ISABELLE_SHAPE = re.compile(
    r"^\s*(?:theorem|lemma)\s+[^\s:]+\s*:\s*(?:\"|(?:assumes|shows|fixes|obtains)\b)"
)
_CLOSERS = {")": "(", "]": "[", "}": "{", "⟩": "⟨", "⦄": "⦃", "⟧": "⟦", "›": "‹"}
_OPENERS = {v: k for k, v in _CLOSERS.items()}


def check_statement(text: str, language: Language) -> None:
    """Refuse a statement no proof assistant of `language` could parse, naming what is wrong.

    Catches what reaches an environment only as a confusing failure: NUL and control bytes,
    unbalanced brackets or quotes, and text in the other language (Isabelle's `theorem n: "…"`
    given to Lean, Lean's `:= by` given to Isabelle). Not a parser: a statement that passes may
    still be rejected by the proof assistant itself.
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
    if language is Language.LEAN4:
        if _ISABELLE_SHAPE.match(text) and not re.search(r":=\s*by\b", text):
            raise InputError(
                'this statement is Isabelle (`theorem name: "…"` / assumes / shows), not Lean 4; '
                "pass --language isabelle with --env isabelle, or write it in Lean"
            )
        _balanced(_lean_code(text), "Lean")
    else:
        if re.search(r":=\s*by\b|:=\s*$", text):
            raise InputError(
                "this statement is Lean 4 (`… := by`), not Isabelle; pass --language lean4 "
                'with a Lean --env, or write it as `theorem name: "…"`'
            )
        if _outside_comments(text, "(*", "*)").count('"') % 2:
            raise InputError(
                'the statement has an unmatched double quote; Isabelle terms go in "…"'
            )
        _balanced(_outside_comments(text, "(*", "*)"), "Isabelle")


def check_language(theorem: Theorem, environment: str) -> None:
    """Refuse a theorem in a language the named environment does not speak."""
    speaks = ENVIRONMENT_LANGUAGE.get(environment)
    if speaks is None or theorem.language is speaks:
        return
    other = next(n for n, lang in ENVIRONMENT_LANGUAGE.items() if lang is theorem.language)
    raise InputError(
        f"the theorem is {theorem.language.value} but --env {environment} proves "
        f"{speaks.value}; use e.g. --env {other} (or --language {speaks.value})"
    )


def _lean_code(text: str) -> str:
    """The text without Lean comments (`--`, nested `/- -/`) and string literals."""
    out: list[str] = []
    i, depth = 0, 0
    while i < len(text):
        two = text[i : i + 2]
        if depth:
            depth += (two == "/-") - (two == "-/")
            i += 2 if two in ("/-", "-/") else 1
        elif two == "/-":
            depth, i = 1, i + 2
        elif two == "--":
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
        elif text[i] == '"':
            end = i + 1
            while end < len(text) and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            if end >= len(text):
                raise InputError('the statement has an unterminated string literal ("…)')
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    if depth:
        raise InputError("the statement has an unterminated comment (/- without -/)")
    return "".join(out)


def _outside_comments(text: str, start: str, end: str) -> str:
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


def _balanced(code: str, language: str) -> None:
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
    language: Language = Language.LEAN4,
    name: str | None = None,
) -> Theorem:
    """A Theorem from a `theorem NAME … :=` statement; the name is read from the text."""
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
    if language is Language.LEAN4 and ":=" not in text:
        text = f"{text} := by"
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
