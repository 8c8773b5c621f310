"""Lean text the backend builds: a statement's head and name, the commands sent, proof blocks."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from environments.lean.screen import UnreadableText, code_view
from prover.errors import InputError

# The accepted endings: `:= by sorry` (yangky11/miniF2F-lean4 v4.24) and `:= by` (DeepSeek's file).
_ENDING = re.compile(r":=\s*by(?:\s+sorry)?\s*\Z")
# The declaration must open the statement (after comments, attributes and modifiers): a name
# mentioned in a comment or a docstring is not the theorem's. `foo.{u}` names `foo`.
_NAME = re.compile(
    r"\A\s*(?:@\[[^\]]*\]\s*)*(?:(?:private|protected|noncomputable|nonrec)\s+)*"
    r"(?:theorem|lemma)\s+((?:«[^»]*»|[^\s:({\[⦃«.]|\.(?![{\s]))+)"
)
_INDENT = "  "


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
    text = statement.rstrip()
    match = _ENDING.search(text)
    if match is None:
        raise InputError(
            "a Lean statement must end in ':= by sorry' or ':= by' "
            f"(got '…{text[-40:]}'); fix the statement text"
        )
    head = text[: match.start()].rstrip()
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
    lines = textwrap.dedent(proof.strip("\n")).splitlines()
    return "\n".join(f"{_INDENT}{line}" if line.strip() else "" for line in lines)


def normalise_step(step: str) -> str:
    """One tactic moved to column 0, its lines keeping their columns relative to the first line.

    That is how the REPL parsed it in tactic mode, so the whole proof parses the same way.
    """
    lines = step.strip("\n").rstrip().splitlines() or [""]
    first = len(lines[0]) - len(lines[0].lstrip(" "))
    out = []
    for line in lines:
        indent = len(line) - len(line.lstrip(" "))
        out.append(line[min(first, indent) :])
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
    """The theorems and lemmas of a Lean file with their proofs (term proofs become `exact …`)."""
    from environments.lean.screen import UnreadableText, code_view

    found = []
    for match in _DECL_START.finditer(text):
        following = _COMMAND_START.search(text, match.end())
        end = following.start() if following else len(text)
        decl = text[match.start() : end]
        try:
            code = code_view(decl)
        except UnreadableText:  # the screen refuses it later; find `:=` in the raw text
            code = decl
        cut = _assignment(code)
        if cut is None:
            continue
        head = decl[:cut].rstrip()
        rest = decl[cut + 2 :]
        by = re.match(r"\s*by\b", rest)
        if by:
            proof = rest[by.end() :]
            first, newline, others = proof.partition("\n")
            proof = (first.strip() + newline + others) if first.strip() else others
        else:
            proof = "exact " + rest.strip()
        found.append(
            Declaration(
                name=match.group(1),
                header=_DOC_COMMENT.sub("", text[: match.start()]),
                statement=f"{head} := by",
                proof=proof.rstrip(),
            )
        )
    return found
