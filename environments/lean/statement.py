"""Lean text the backend builds: a statement's head and name, the commands sent, proof blocks."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from environments.lean.screen import UnreadableText, code_view
from prover.errors import InputError

# The accepted endings: `:= by sorry` (yangky11/miniF2F-lean4 v4.24) and `:= by` (DeepSeek's file).
# Whitespace is Lean's (space, tab, CR, LF): `\s` would also take U+2028 and friends.
_ENDING = re.compile(r":=[ \t\r\n]*by(?:[ \t\r\n]+sorry)?[ \t\r\n]*\Z")
# The declaration must open the statement (after comments, attributes and modifiers): a name
# mentioned in a comment or a docstring is not the theorem's. `foo.{u}` names `foo`.
_NAME = re.compile(
    r"\A[ \t\r\n]*(?:@\[[^\]]*\][ \t\r\n]*)*"
    r"(?:(?:private|protected|noncomputable|nonrec)[ \t\r\n]+)*"
    r"(?:theorem|lemma)[ \t\r\n]+((?:«[^»]*»|[^\s:({\[⦃«.]|\.(?![{\s]))+)"
)
_INDENT = "  "
_LEAN_SPACE = " \t\r\n"


def lean_lines(text: str) -> list[str]:
    """`text` split where Lean's lines end: at "\n" only.

    `str.splitlines` also breaks at CR, VT, FF, U+0085, U+2028, U+2029 and U+001C–U+001E, which
    Lean leaves inside a `--` comment; splitting there would turn comment text into code lines.
    Every place that re-lines proof text before it reaches Lean uses this function.
    """
    return text.split("\n")


def _blank(line: str) -> bool:
    return not line.strip(_LEAN_SPACE)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


@dataclass(frozen=True)
class Statement:
    """A theorem statement split at its final `:= by`: `head` is kept exactly as given."""

    head: str
    name: str

    def with_sorry(self) -> str:
        """The command that opens the theorem: its proof state comes from the `sorry`."""
        return f"{self.head} := by sorry"

    def with_proof(self, proof: str) -> str:
        """The command that checks `proof` (a tactic block) against the statement."""
        return f"{self.head} := by\n{proof_block(proof)}"


def parse_statement(statement: str) -> Statement:
    """Split a statement ending in `:= by sorry` or `:= by`; raises InputError otherwise."""
    text = statement.rstrip(_LEAN_SPACE)
    match = _ENDING.search(text)
    if match is None:
        raise InputError(
            "a Lean statement must end in ':= by sorry' or ':= by' "
            f"(got '…{text[-40:]}'); fix the statement text"
        )
    head = text[: match.start()].rstrip(_LEAN_SPACE)
    try:
        name = _NAME.search(code_view(head))
    except UnreadableText as exc:
        raise InputError(f"cannot read the statement: {exc}; fix the statement text") from exc
    if name is None:
        raise InputError(
            "cannot find 'theorem NAME' or 'lemma NAME' in the statement; "
            "the checker needs a named theorem to print its axioms"
        )
    return Statement(head=head, name=name.group(1))


def proof_block(proof: str) -> str:
    """`proof` as a tactic block under `:= by`: common indentation removed, then two spaces."""
    lines = lean_lines(proof.strip("\n"))
    margin = min((_indent(line) for line in lines if not _blank(line)), default=0)
    return "\n".join("" if _blank(line) else f"{_INDENT}{line[margin:]}" for line in lines)


def normalise_step(step: str) -> str:
    """One tactic moved to column 0, its lines keeping their columns relative to the first line.

    That is how the REPL parsed it in tactic mode, so the whole proof parses the same way.
    """
    lines = lean_lines(step.strip("\n").rstrip(_LEAN_SPACE))
    first = _indent(lines[0])
    out = []
    for line in lines:
        out.append(line[min(first, _indent(line)) :])
    return "\n".join(out)


def assemble(steps: Sequence[str]) -> str:
    """The tactic block for `steps`, indented to follow `:= by` on the next line."""
    return proof_block("\n".join(normalise_step(s) for s in steps))


def check_type_command(name: str) -> str:
    """A command whose info message shows the declaration's full type (compared, not trusted)."""
    return f"set_option pp.all true in\n#check @{name}"


def axioms_command(name: str) -> str:
    return f"#print axioms {name}"


@dataclass(frozen=True)
class Declaration:
    """A theorem in a Lean file: what precedes it, its statement (to `:= by`) and its proof."""

    name: str
    header: str
    statement: str
    proof: str


_DECL_START = re.compile(
    r"^(?:@\[[^\n]*?\]\s*)?(?:(?:private|protected|nonrec)\s+)*(?:theorem|lemma)\s+"
    r"((?:«[^»]*»|[^\s:({\[⦃«])+)",
    re.MULTILINE,
)
_COMMAND_START = re.compile(
    r"^(?:theorem|lemma|def|example|abbrev|instance|structure|class|inductive|namespace|section|"
    r"end|open|variable|universe|set_option|noncomputable|private|protected|attribute|macro|"
    r"syntax|notation|elab|axiom|opaque|import|mutual|@\[|#|/--)",
    re.MULTILINE,
)
_DOC_COMMENT = re.compile(r"/--(?:(?!-/).)*-/\s*\Z", re.DOTALL)  # belongs to the declaration
_BRACKETS = {"(": ")", "[": "]", "{": "}", "⟨": "⟩", "⦃": "⦄"}


def _assignment(code: str) -> int | None:
    """Offset of the first `:=` outside brackets in `code` (comments already blanked)."""
    closers: list[str] = []
    for i, c in enumerate(code):
        if c in _BRACKETS:
            closers.append(_BRACKETS[c])
        elif closers and c == closers[-1]:
            closers.pop()
        elif not closers and code.startswith(":=", i):
            return i
    return None


def declarations(text: str) -> list[Declaration]:
    """The theorems and lemmas of a Lean file with their proofs (term proofs become `exact …`).

    Each one's header is the file's text before its first declaration (doc comment excluded):
    a theorem is checked against the file's imports and options, never against earlier
    declarations, which the strict header screen would refuse. Declarations are found in the
    text with comments blanked, so a `theorem` inside a comment is not one.
    """
    from environments.lean.screen import UnreadableText, code_view

    try:
        view = code_view(text)
    except UnreadableText:  # the screens refuse the unreadable part later
        view = text
    found = []
    prelude: str | None = None
    for match in _DECL_START.finditer(view):
        if prelude is None:
            prelude = _DOC_COMMENT.sub("", text[: match.start()])
        following = _COMMAND_START.search(view, match.end())
        end = following.start() if following else len(text)
        decl = text[match.start() : end]
        cut = _assignment(view[match.start() : end])
        if cut is None:
            continue
        head = decl[:cut].rstrip(_LEAN_SPACE)
        rest = decl[cut + 2 :]
        by = re.match(r"[ \t\r\n]*by\b", rest)
        if by:
            proof = rest[by.end() :]
            first, newline, others = proof.partition("\n")
            proof = (first.strip(_LEAN_SPACE) + newline + others) if not _blank(first) else others
        else:
            proof = "exact " + rest.strip(_LEAN_SPACE)
        found.append(
            Declaration(
                name=match.group(1),
                header=prelude,
                statement=f"{head} := by",
                proof=proof.rstrip(_LEAN_SPACE),
            )
        )
    return found
