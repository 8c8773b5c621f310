"""Lean 4 as the core sees it: statement form, checks, comments, gaps and closers."""

from __future__ import annotations

import re
import textwrap

from environments.lean.statement import declarations
from prover.config import Config
from prover.errors import InputError
from prover.language import LanguageSpec
from prover.statements import balanced
from prover.types import Language

# Isabelle's outer syntax right after `theorem NAME:` (a quoted term or an Isar element); Lean
# puts binders or a type there, never a double quote or these keywords.
_ISABELLE_SHAPE = re.compile(
    r"^\s*(?:theorem|lemma)\s+[^\s:]+\s*:\s*(?:\"|(?:assumes|shows|fixes|obtains)\b)"
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


def _check(text: str) -> None:
    if _ISABELLE_SHAPE.match(text) and not re.search(r":=\s*by\b", text):
        raise InputError(
            'this statement is Isabelle (`theorem name: "…"` / assumes / shows), not Lean 4; '
            "pass --language isabelle with --env isabelle, or write it in Lean"
        )
    balanced(_lean_code(text), "Lean")


def _complete(statement: str) -> str:
    """A bare `theorem t : P` becomes `theorem t : P := by`, the form the environments prove."""
    return statement if ":=" in statement else f"{statement} := by"


def _header(config: Config) -> str:
    return config.section("lean").header


# Lean 4 + Mathlib automation, cheapest and most often decisive first.
CLOSERS: tuple[str, ...] = (
    "omega",
    "norm_num",
    "linarith",
    "nlinarith",
    "positivity",
    "simp_all",
    "decide",
    "aesop",
    "field_simp",
    "ring_nf",
)


def _proof_of(code: str, name: str | None) -> tuple[str | None, str]:
    found = declarations(code)
    if not found:
        return None, "the code holds no theorem with a proof"
    chosen = next((d for d in reversed(found) if d.name == name), found[-1])
    proof = chosen.proof.strip("\n")
    if not proof.strip() or re.fullmatch(r"\s*sorry\s*", proof):
        return None, "the code leaves the proof as sorry"
    return textwrap.dedent(proof), ""


LEAN4 = LanguageSpec(
    name=Language.LEAN4,
    environments=("lean-repl", "lean-dojo"),
    complete=_complete,
    header=_header,
    check=_check,
    block_comment=("/-", "-/"),
    gap_word="sorry",
    gap_aliases=frozenset({"sorry", "admit"}),
    closers=CLOSERS,
    proof_of=_proof_of,
)
