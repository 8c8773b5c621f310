"""Isar proof text: comments, gaps, statements, and the screen that keeps proofs honest.

Splitting text into commands is Isabelle's job (PISA's `<parse text>`); these helpers only look at
the pieces it returns. The screen reads text the way Isabelle's outer lexer does: nested `(* … *)`
comments become a space (so `h0(**)sorry` is `h0 sorry`), and inside a cartouche or a string
nothing opens a comment. Where Isabelle's reading is not certain from the text alone (raw
`‹`/`›` may or may not be cartouche delimiters; `{* … *}` is legacy verbatim text), every
reading is screened and a word any reading finds is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from prover.types import Failed, FailureKind

# Words a sketch or a search uses for "close this goal with automation" (Draft, Sketch, Prove;
# PISA's `normalhammer`).
# `sledgehammer` is an Isabelle command, so Isabelle's parser splits it off as a step of its own.
HAMMER_WORDS = frozenset({"sledgehammer", "normalhammer", "hammer"})
GAP_WORD = "sledgehammer"

# Commands that abandon a goal, and commands or proof methods (`tactic`) that run ML code, which
# can make any theorem: a proof using them is not a proof. `sorry` gets its own failure kind so
# searches can count it.
# Word edges as Isabelle's outer lexer draws them: identifiers are ASCII letters, digits, `_`
# and `'` (a UTF-8 character is a symbol of its own, never part of a word), and a name never
# starts with a digit, so `0sorry` and `ésorry` hold the command `sorry`. Python's `\b` would
# count `é` and `0` as word characters and miss both.
_START = r"(?<![A-Za-z_'])"
_END = r"(?![A-Za-z0-9_'])"
# `\<proof>` is Isabelle's other spelling of `sorry` (Pure's skip_proof command).
_SORRY = re.compile(_START + r"sorry" + _END + r"|\\<proof>")
# Checked with string literals and cartouches kept: a method name may be written as a string
# (`apply ("tactic" ‹…›)`), ML inside a literal is still ML, and an ML antiquotation in a text
# cartouche (`txt ‹@{ML …}›`) is compiled by Isabelle; so is every antiquotation whose name holds
# `ML` (`@{define_ML …}`, `\<^ML_structure>`), by family.
_FORBIDDEN_ANYWHERE = re.compile(
    _START
    + r"(cheat_tac|Skip_Proof|skip_proofs?|quick_and_dirty|\w*oracle\w*)"
    + _END
    + r"|\"(tactic|raw_tactic)\"|(@\{\s*\w*ML\w*|\\<\^\w*ML\w*>)"
)
# Commands are named by family, so a variant (`ML_file_debug`, `print_ast_translation`) is
# refused with its kin: every command that evaluates ML (`ML…`, `SML…`, `…setup`, `…declaration`,
# `…translation`, `oracle`) and those that put ML text into generated code (`code_printing`,
# `code_reflect`), which `value` and `eval` then run.
_FORBIDDEN = re.compile(
    _START + r"(oops|S?ML(?:_\w+)?|\w*setup|\w*declaration|\w*_translation|oracle|"
    r"code_printing|code_reflect|code_include|code_module|\w*axiomatization|"
    r"quick_and_dirty|skip_proofs?|Skip_Proof|cheat_tac|tactic|raw_tactic|theory|end)" + _END
)
# Proof methods that trust the code generator through an oracle (Isabelle's native_decide):
# `approximation` also proves by evaluation (its theory names the `holds_by_evaluation` oracle).
_EVALUATION = re.compile(_START + r"(eval|normalization|approximation)" + _END)
_STATEMENT = re.compile(r"^\s*(theorem|lemma|corollary|proposition|schematic_goal)\b", re.MULTILINE)
# PISA's wire format is tagged text: `<apply to top level state>` separates the fields of a step,
# `<SEP>` the pieces of `<parse text>`, `<hammer>` Sledgehammer's reply. Any tag-shaped text (not
# an Isabelle symbol such as `\<open>`) in a proof could re-frame what the server or we read.
_PISA_TAG = re.compile(r"(?<!\\)<\s*[A-Za-z_][A-Za-z_\s]*>")
# PISA splits on these exact strings, so they are refused even where they look like an Isabelle
# symbol (`\<SEP>`): the client would cut `\<SEP>` apart just the same.
_PISA_TAGS = ("<SEP>", "<hammer>", "<apply to top level state>", "<clone>", "<delete>")
_OPEN = "\\<open>"
_CLOSE = "\\<close>"


@dataclass(frozen=True)
class _Reading:
    """One way the outer lexer may read the text: whether raw `‹`/`›` delimit cartouches, and
    whether `{* … *}` is verbatim text."""

    unicode_cartouches: bool = True
    verbatim: bool = False


_ASCII = _Reading(unicode_cartouches=False, verbatim=False)
_READINGS = (
    _ASCII,
    _Reading(unicode_cartouches=True, verbatim=False),
    _Reading(unicode_cartouches=False, verbatim=True),
    _Reading(unicode_cartouches=True, verbatim=True),
)


class Unbalanced(ValueError):
    """A comment, string or cartouche is not closed (Isabelle refuses such text)."""


def _regions(text: str, reading: _Reading = _ASCII) -> Iterator[tuple[str, str]]:
    """(kind, text) pieces in order: `code`, `comment`, `string` or `cartouche` (the last two
    with their delimiters). Raises Unbalanced at an unclosed comment, string or cartouche."""
    opens = [_OPEN, "‹"] if reading.unicode_cartouches else [_OPEN]
    closes = [_CLOSE, "›"] if reading.unicode_cartouches else [_CLOSE]
    i, start, n = 0, 0, len(text)
    while i < n:
        kind, end = "", i
        if text.startswith("(*", i):
            kind, end = "comment", _comment_end(text, i)
        elif reading.verbatim and text.startswith("{*", i):
            kind, end = "string", _find(text, "*}", i + 2) + 2
        elif any(text.startswith(o, i) for o in opens):
            kind, end = "cartouche", _cartouche_end(text, i, opens, closes)
        elif text[i] in ('"', "`"):
            kind, end = "string", _string_end(text, i)
        if not kind:
            i += 1
            continue
        if start < i:
            yield "code", text[start:i]
        yield kind, text[i:end]
        i = start = end
    if start < n:
        yield "code", text[start:]


def _find(text: str, token: str, at: int) -> int:
    found = text.find(token, at)
    if found < 0:
        raise Unbalanced(f"`{text[at - 2 : at]}` is never closed")
    return found


def _comment_end(text: str, i: int) -> int:
    depth, i = 1, i + 2
    while depth:
        if i >= len(text):
            raise Unbalanced("a `(*` comment is never closed")
        if text.startswith("(*", i):
            depth, i = depth + 1, i + 2
        elif text.startswith("*)", i):
            depth, i = depth - 1, i + 2
        else:
            i += 1
    return i


def _cartouche_end(text: str, i: int, opens: list[str], closes: list[str]) -> int:
    depth = 0
    while True:
        if i >= len(text):
            raise Unbalanced("a cartouche is never closed")
        opened = next((o for o in opens if text.startswith(o, i)), None)
        closed = next((c for c in closes if text.startswith(c, i)), None)
        if opened:
            depth, i = depth + 1, i + len(opened)
        elif closed:
            depth, i = depth - 1, i + len(closed)
            if depth == 0:
                return i
        else:
            i += 1


def _string_end(text: str, i: int) -> int:
    quote, i = text[i], i + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text[i] == quote:
            return i + 1
        else:
            i += 1
    raise Unbalanced(f"a {quote} string is never closed")


def _scan(text: str, *, keep_literals: bool, reading: _Reading = _ASCII) -> str:
    """`text` with each comment replaced by a space, and each string or cartouche too unless
    `keep_literals`: the space keeps the tokens on either side apart, as Isabelle does."""
    out = []
    for kind, piece in _regions(text, reading):
        if kind == "code" or (keep_literals and kind != "comment"):
            out.append(piece)
        else:
            out.append(" ")
    return "".join(out)


def strip_comments(text: str) -> str:
    """`text` with (nested) `(* … *)` comments replaced by a space; literals kept as they are.
    Unbalanced text is returned as it is (Isabelle will refuse it)."""
    try:
        return _scan(text, keep_literals=True)
    except Unbalanced:
        return text


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
    """Write every hammer word in the code (not in comments, strings or cartouches) as
    `sledgehammer`, the one Isabelle's parser knows as a command."""
    words = sorted(HAMMER_WORDS | {hammer_command}, key=len, reverse=True)
    pattern = re.compile(
        r"(?<![\w'.])(" + "|".join(re.escape(w) for w in words if w) + r")(?![\w'.])"
    )
    try:
        regions = list(_regions(text))
    except Unbalanced:
        return text  # the screen refuses it
    return "".join(pattern.sub(GAP_WORD, p) if k == "code" else p for k, p in regions)


def has_gap_word(text: str, extra: Sequence[str] = ()) -> bool:
    """True when the code of `text` (not its comments or literals) holds a hammer word."""
    words = sorted(HAMMER_WORDS | set(extra), key=len, reverse=True)
    pattern = re.compile(
        r"(?<![\w'.])(" + "|".join(re.escape(w) for w in words if w) + r")(?![\w'.])"
    )
    try:
        return any(k == "code" and pattern.search(p) for k, p in _regions(text))
    except Unbalanced:
        return False  # the screen refuses it


def uses_evaluation(text: str) -> bool:
    """True when the text calls a method that proves by evaluating generated code."""
    try:
        bodies = [_scan(text, keep_literals=False, reading=r) for r in _READINGS]
    except Unbalanced:
        return True
    return any(_EVALUATION.search(body) for body in bodies)


def screen(text: str, *, allow_sorry: bool = False, allow_eval: bool = False) -> Failed | None:
    """Refuse text that would fake a proof, run code, or re-frame PISA's tagged protocol; None
    when it may be sent to Isabelle. Every command piece sent is screened, not just the whole."""
    tag = _PISA_TAG.search(text)
    found = tag.group(0) if tag is not None else next((t for t in _PISA_TAGS if t in text), None)
    if found is not None:
        return Failed(FailureKind.REJECTED, f"the text contains PISA's tag text {found!r}")
    try:
        bodies = [_scan(text, keep_literals=False, reading=r) for r in _READINGS]
        literal = [_scan(text, keep_literals=True, reading=r) for r in _READINGS]
    except Unbalanced as exc:
        return Failed(FailureKind.REJECTED, f"the text is not well formed: {exc}")
    for body in bodies:  # keywords inside terms are harmless
        if not allow_sorry and _SORRY.search(body):
            return Failed(FailureKind.SORRY, "the text uses `sorry`, which skips a goal")
        match = _FORBIDDEN.search(body)
        if match is not None:
            return Failed(
                FailureKind.REJECTED,
                f"`{match.group(1)}` is not allowed in a proof (it abandons a goal or runs code)",
            )
        if not allow_eval and _EVALUATION.search(body):
            return Failed(
                FailureKind.REJECTED,
                "`eval`/`normalization`/`approximation` prove by running generated code "
                "(an oracle); allow them with isabelle.allow_eval = true",
            )
    for kept in literal:
        match = _FORBIDDEN_ANYWHERE.search(kept)
        if match is not None:
            word = match.group(1) or match.group(2) or match.group(3)
            return Failed(
                FailureKind.REJECTED,
                f"`{word}` is not allowed in a proof, not even inside a literal (it runs code)",
            )
    return None


def screen_pieces(
    pieces: Sequence[str], *, allow_sorry: bool = False, allow_eval: bool = False
) -> Failed | None:
    """`screen` on each command piece Isabelle split the text into (what is actually sent)."""
    for i, piece in enumerate(pieces):
        failed = screen(piece, allow_sorry=allow_sorry, allow_eval=allow_eval)
        if failed is not None:
            return Failed(
                failed.kind, f"step {i + 1} ({command_word(piece)[:60]}): {failed.message}"
            )
    return None


def assemble(steps: Sequence[str]) -> str:
    """The proof text for `steps`: one Isar step per line, blank steps dropped."""
    return "\n".join(s.strip() for s in steps if s.strip())
