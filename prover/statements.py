"""Turning user input (a statement, a Lean file) into a Theorem."""

from __future__ import annotations

import re
from pathlib import Path

from prover.errors import InputError
from prover.types import Language, Theorem

_DECL = re.compile(r"^[ \t]*(?:theorem|lemma)\s+([^\s:({\[]+)", re.MULTILINE)
_HEADER_LINE = re.compile(r"^\s*(import|open|set_option|universe)\b")


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
    if not p.is_file():
        raise InputError(f"file '{p}' not found; pass an existing .lean file to --file")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"file '{p}' is not UTF-8 text") from exc
    decls = list(_DECL.finditer(text))
    for i, match in enumerate(decls):
        if match.group(1) != name:
            continue
        end = decls[i + 1].start() if i + 1 < len(decls) else len(text)
        body = text[match.start() : end]
        cut = re.search(r":=\s*by\b(\s*sorry\b)?", body)
        statement = body[: cut.end()] if cut else body.rstrip()
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
