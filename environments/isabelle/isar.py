"""Isar proof text: comments, gaps, statements, and the screen that keeps proofs honest.

Splitting text into commands is Isabelle's job (PISA's `<parse text>`); these helpers only look at
the pieces it returns.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from prover.types import Failed, FailureKind

# Words a sketch or a search uses for "close this goal with automation" (PROTOCOLS.md §4).
# `sledgehammer` is an Isabelle command, so Isabelle's parser splits it off as a step of its own.
HAMMER_WORDS = frozenset({"sledgehammer", "normalhammer", "hammer"})
GAP_WORD = "sledgehammer"

# Commands that abandon a goal, and commands or proof methods (`tactic`) that run ML code, which
# can make any theorem: a proof using them is not a proof. `sorry` gets its own failure kind so
# searches can count it.
# `\<proof>` is Isabelle's other spelling of `sorry` (Pure's skip_proof command).
_SORRY = re.compile(r"\bsorry\b|\\<proof>")
# Checked with string literals and cartouches kept: a method name may be written as a string
# (`apply ("tactic" ‹…›)`), and ML inside a literal is still ML.
_FORBIDDEN_ANYWHERE = re.compile(
    r"\b(cheat_tac|Skip_Proof|skip_proof|quick_and_dirty|oracle)\b|\"(tactic|raw_tactic)\""
)
_FORBIDDEN = re.compile(
    r"\b(oops|ML|ML_val|ML_prf|ML_command|ML_file|ML_export|SML_file|SML_import|SML_export|"
    r"setup|local_setup|method_setup|attribute_setup|simproc_setup|declaration|"
    r"syntax_declaration|oracle|axiomatization|quick_and_dirty|skip_proof|Skip_Proof|"
    r"cheat_tac|tactic|raw_tactic)\b"
)
_STATEMENT = re.compile(r"^\s*(theorem|lemma|corollary|proposition|schematic_goal)\b", re.MULTILINE)
_TAG = "<apply to top level state>"
_OPEN = "\\<open>"
_CLOSE = "\\<close>"


def strip_comments(text: str) -> str:
    """`text` without (nested) `(* … *)` comments; string literals are kept as they are."""
    return _scan(text, keep_literals=True)


def _scan(text: str, *, keep_literals: bool) -> str:
    """Drop comments, and also string literals and cartouches unless `keep_literals`."""
    out: list[str] = []
    comment = 0  # nesting depth of (* … *)
    cartouche = 0  # nesting depth of \<open> … \<close>
    in_string = ""  # the open quote: `"` (a string) or a backquote (a literal fact), or none
    i = 0
    while i < len(text):
        if in_string:
            step = 2 if text[i] == "\\" else 1
            if text[i] == in_string:
                in_string = ""
            if keep_literals:
                out.append(text[i : i + step])
            i += step
            continue
        if comment:
            if text.startswith("(*", i):
                comment += 1
                i += 2
            elif text.startswith("*)", i):
                comment -= 1
                i += 2
            else:
                i += 1
            continue
        if text.startswith("(*", i):
            comment = 1
            i += 2
            continue
        for token, change in ((_OPEN, 1), (_CLOSE, -1)):
            if text.startswith(token, i) and (change > 0 or cartouche > 0):
                cartouche += change
                if keep_literals:
                    out.append(token)
                i += len(token)
                break
        else:
            if cartouche == 0 and text[i] in ('"', "`"):
                in_string = text[i]
            if keep_literals or (cartouche == 0 and not in_string):
                out.append(text[i])
            i += 1
    return "".join(out)


def is_blank(command: str) -> bool:
    """True for a piece of parsed text that holds only whitespace and comments."""
    return not strip_comments(command).strip()


def command_word(command: str) -> str:
    """The command's text without comments and surrounding space, e.g. `by simp`."""
    return " ".join(strip_comments(command).split())


def is_gap(command: str, extra: Sequence[str] = ()) -> bool:
    """True when the command is a hammer gap (`sledgehammer`, or a configured hammer word)."""
    word = command_word(command)
    return word in HAMMER_WORDS or word in extra


def is_statement(command: str) -> bool:
    """True when the command opens a new goal at theory level (`theorem`, `lemma`, …)."""
    return _STATEMENT.match(strip_comments(command)) is not None


def same_statement(a: str, b: str) -> bool:
    """Equal up to comments and white space."""
    return command_word(a) == command_word(b)


def with_gap_word(text: str, hammer_command: str) -> str:
    """Write every hammer word as `sledgehammer`, the one Isabelle's parser knows as a command."""
    words = sorted(HAMMER_WORDS | {hammer_command}, key=len, reverse=True)
    pattern = re.compile(r"\b(" + "|".join(re.escape(w) for w in words if w) + r")\b")
    return pattern.sub(GAP_WORD, text)


# Proof methods that trust the code generator through an oracle (Isabelle's native_decide).
_EVALUATION = re.compile(r"\b(eval|normalization)\b")


def uses_evaluation(text: str) -> bool:
    """True when the text calls a method that proves by evaluating generated code."""
    return _EVALUATION.search(_scan(text, keep_literals=False)) is not None


def screen(text: str, *, allow_sorry: bool = False, allow_eval: bool = False) -> Failed | None:
    """Refuse text that would fake a proof or run code; None when it may be sent to Isabelle."""
    if _TAG in text:
        return Failed(FailureKind.REJECTED, f"the text contains PISA's separator {_TAG}")
    body = _scan(text, keep_literals=False)  # keywords inside terms are harmless
    if not allow_sorry and _SORRY.search(body):
        return Failed(FailureKind.SORRY, "the text uses `sorry`, which skips a goal")
    match = _FORBIDDEN.search(body)
    if match is not None:
        return Failed(
            FailureKind.REJECTED,
            f"`{match.group(1)}` is not allowed in a proof (it abandons a goal or runs code)",
        )
    if not allow_eval and uses_evaluation(text):
        return Failed(
            FailureKind.REJECTED,
            "`eval`/`normalization` prove by running generated code (an oracle); "
            "allow them with isabelle.allow_eval = true",
        )
    match = _FORBIDDEN_ANYWHERE.search(_scan(text, keep_literals=True))
    if match is not None:
        word = match.group(1) or match.group(2)
        return Failed(
            FailureKind.REJECTED,
            f"`{word}` is not allowed in a proof, not even inside a literal (it runs code)",
        )
    return None


def assemble(steps: Sequence[str]) -> str:
    """The proof text for `steps`: one Isar step per line, blank steps dropped."""
    return "\n".join(s.strip() for s in steps if s.strip())
