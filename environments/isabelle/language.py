"""Isabelle/Isar as the core sees it: statement checks, comments, gaps and closers."""

from __future__ import annotations

import re

from environments.isabelle.isar import GAP_WORD, uses_evaluation
from environments.isabelle.settings import DSP_HEURISTICS
from prover.errors import InputError
from prover.language import LanguageSpec
from prover.statements import balanced, outside_comments
from prover.types import Language


def _check(text: str) -> None:
    if re.search(r":=\s*by\b|:=\s*$", text):
        raise InputError(
            "this statement is Lean 4 (`… := by`), not Isabelle; pass --language lean4 "
            'with a Lean --env, or write it as `theorem name: "…"`'
        )
    code = outside_comments(text, "(*", "*)")
    if code.count('"') % 2:
        raise InputError('the statement has an unmatched double quote; Isabelle terms go in "…"')
    balanced(code, "Isabelle")


# Draft, Sketch, Prove's heuristic list (Jiang et al., 2023), in its order.
CLOSERS: tuple[str, ...] = DSP_HEURISTICS

ISABELLE = LanguageSpec(
    name=Language.ISABELLE,
    environments=("isabelle",),
    check=_check,
    block_comment=("(*", "*)"),
    gap_word=GAP_WORD,
    gap_aliases=frozenset({"sledgehammer", "sorry"}),
    closers=CLOSERS,
    # `by eval` and friends prove through the code generator's oracle.
    evaluates=uses_evaluation,
)
