"""Prompt formats of whole-proof provers, and reading a proof back out of what they write.

Each format follows its model's own card or repository (read at the commits named here):

* `deepseek-v1.5` — DeepSeek-Prover-V1.5 (completion, not chat): deepseek-ai/DeepSeek-Prover-V1.5
  @2c4ba911, `prover/utils.py` (`non_cot_prompt`: "Complete the following Lean 4 code:" and an
  open ```lean4 block holding header, informal docstring and statement ending in `:= by`; the
  output is cut at the closing fence) and `quick_start.py`. Truncate-and-resume follows
  `prover/lean/proof.py` (`segmentation`): the code up to the first error, then the goals as a
  `/- tactic state: … -/` comment at the step's indentation, then the model continues.
* `deepseek-v2` — DeepSeek-Prover-V2 (chat): deepseek-ai/DeepSeek-Prover-V2 @e598a57e, README
  "Quick Start" (one user message: the statement ending in `:= by sorry` in a ```lean4 block,
  then the request for a proof plan; CoT mode).
* `goedel-v2` — Goedel-Prover-V2 (chat): Goedel-LM/Goedel-Prover-V2 @2e9036e1, README and
  `src/utils.py` (`DeepSeekCoTHandler.prover_inference`: the DeepSeek-V2 prompt; the closing
  fence follows the statement directly). Self-correction (also used for `deepseek-v2`):
  `generate_correction_prompt` appends the model's previous answer and a user turn "The proof
  (Round r) is not correct. …" with the errors marked `<error></error>` in the code
  (`get_error_str`: at most 8 errors, 4 lines of context before and 1 after).
* `kimina` — Kimina-Prover (chat): the Kimina-Prover-Preview model card prompt as quoted in
  Goedel-LM/Goedel-Prover-V2 @2e9036e1 `src/utils.py` (`KiminaCoTHandler`: system "You are an
  expert in mathematics and Lean 4.", user "Think about and solve the following problem step by
  step in Lean 4." with `# Problem:` and `# Formal statement:`). Error fixing follows
  MoonshotAI/Kimina-Prover-Preview @7abd61a5 `kimina_prover_demo/utils.py`
  (`create_tool_message`: at most 3 errors, each with the goals before the error position, the
  message and a numbered code snippet).

The proof is read from the last ```lean4 block (chat formats) or the completion (V1.5): only
the tactic block of the theorem being proved is kept and checked against the original
statement, so a model that edits the statement gains nothing. Reasoning text (e.g.
`<think>…</think>`) stays in the record and is never sent to Lean.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from prover.errors import ConfigError
from prover.language import language as language_spec
from prover.protocols import ProofFeedback
from prover.types import Chat, Message, Prompt, Theorem

_ENDING = re.compile(r":=\s*by(?:\s+sorry)?\s*\Z")
_BLOCK = re.compile(r"```lean4?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)
_NAME = re.compile(r"(?:theorem|lemma)\s+([^\s:({\[⦃]+)")

V2_REQUEST = (
    "Before producing the Lean 4 code to formally prove the given theorem, provide a detailed "
    "proof plan outlining the main proof steps and strategies.\nThe plan should highlight key "
    "ideas, intermediate lemmas, and proof structures that will guide the construction of the "
    "final formal proof."
)
GOEDEL_FEEDBACK = (
    "The proof (Round {round}) is not correct. Following is the compilation error message, "
    "where we use <error></error> to signal the position of the error.\n\n{errors}\n\nBefore "
    "producing the Lean 4 code to formally prove the given theorem, provide a detailed "
    "analysis of the error message."
)
KIMINA_SYSTEM = "You are an expert in mathematics and Lean 4."


@dataclass(frozen=True)
class Extracted:
    """A model's answer split into the proof Lean checks and everything else."""

    proof: str | None  # the tactic block after the theorem's `:= by`; None if there is none
    code: str  # the Lean code the proof came from
    reasoning: str  # the text around the code (plans, <think>…</think>), for the record
    problem: str = ""  # why `proof` is None


def statement_head(theorem: Theorem) -> str:
    """The statement without its final `:= by` / `:= by sorry`."""
    text = theorem.statement.rstrip()
    match = _ENDING.search(text)
    return text[: match.start()].rstrip() if match else text


def theorem_name(theorem: Theorem) -> str | None:
    match = _NAME.search(statement_head(theorem))
    return match.group(1) if match else None


def lean_file(theorem: Theorem, ending: str) -> str:
    """Header, the informal statement as a docstring (as DeepSeek's data has it), statement."""
    parts = [theorem.header.strip()] if theorem.header.strip() else []
    doc = f"/-- {theorem.informal_statement.strip()} -/\n" if theorem.informal_statement else ""
    parts.append(f"{doc}{statement_head(theorem)}{ending}")
    return "\n\n".join(parts)


def state_comment(goals: Sequence[str], indent: int = 2) -> str:
    """The goals as DeepSeek-Prover-V1.5 shows them to the model when it resumes a proof."""
    pad = " " * indent
    shown = "\n\n".join(goals) if goals else "no goals"
    body = "\n".join(f"{pad}  {line}" for line in shown.splitlines())
    return f"{pad}/- tactic state:\n{body}\n{pad}-/\n"


def indented(prefix: str, indent: int = 2) -> str:
    """`prefix` (a tactic block) at `indent`, ending with a newline, or "" when empty."""
    if not prefix.strip():
        return ""
    return textwrap.indent(textwrap.dedent(prefix).strip("\n"), " " * indent) + "\n"


def last_code_block(text: str) -> str | None:
    blocks = _BLOCK.findall(text)
    return blocks[-1] if blocks else None


def proof_from_code(code: str, theorem: Theorem) -> tuple[str | None, str]:
    """The tactic block of `theorem` in `code` (matched by name, else the last theorem), or None
    and what is wrong; read by the theorem's language (its `proof_of`)."""
    read = language_spec(theorem.language).proof_of
    if read is None:
        return None, f"the language {theorem.language} cannot read a proof out of a code block"
    return read(code, theorem_name(theorem))


def _cut_fence(text: str) -> str:
    at = text.find("```")
    return text[:at] if at >= 0 else text


# -- error rendering --------------------------------------------------------------------------


def goedel_errors(feedback: ProofFeedback, limit: int = 8) -> str:
    """Errors marked in the checked code, in Goedel-Prover-V2's `get_error_str` layout."""
    lines = feedback.code.split("\n")
    out = ""
    errors = feedback.errors or ()
    for i, error in enumerate(errors[:limit], 1):
        out += f"\nError {i}:\n\nCorresponding Code:\n```lean4\n"
        if error.line is not None and 1 <= error.line <= len(lines):
            row = error.line - 1
            col = min(error.column or 0, len(lines[row]))
            for before in range(max(0, row - 4), row):
                out += lines[before] + "\n"
            out += lines[row][:col] + "<error>" + lines[row][col:] + "</error>\n"
            if row + 1 < len(lines):
                out += lines[row + 1] + "\n"
        out += f"\n```\n\nError Message: {error.text}\n"
    if len(errors) > limit:
        out += f"\n... [Omitted {len(errors) - limit} more errors] ...\n"
    return out or f"\nError 1:\n\nError Message: {feedback.message}\n"


def kimina_errors(feedback: ProofFeedback, limit: int = 3) -> str:
    """Errors with goals and a numbered snippet, in Kimina's `create_tool_message` layout."""
    lines = feedback.code.split("\n")
    out = ""
    for i, error in enumerate(feedback.errors[:limit], 1):
        out += f"# Error {i}:\n"
        if i == 1 and feedback.goals:  # the goal state is known at the first error only
            out += "Goals state before error position: \n" + "\n".join(feedback.goals) + "\n\n"
        out += f"Error message: \n{error.text.strip()}\n\n"
        if error.line is not None and 1 <= error.line <= len(lines):
            row = error.line - 1
            snippet = "".join(
                f"{n + 1:03d}{' >' if n == row else '  '}| {lines[n]}\n"
                for n in range(max(0, row - 2), min(len(lines), row + 3))
            )
            out += f"Lean 4 code snippet with error:\n```lean4\n{snippet}```\n"
    return out or f"# System Error:\nError message: \n{feedback.message}\n\n"


# -- the formats ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProofFormat:
    """How one model family is prompted, repaired, resumed and read back."""

    name: str
    description: str
    chat: bool
    stop: tuple[str, ...]
    initial: Callable[[Theorem], Prompt]
    resume: Callable[[Theorem, str, Sequence[str]], Prompt]
    # (theorem, the prompt answered, the model's answer, the check's feedback, round) → prompt;
    # None: the model is not trained on error feedback (it resumes instead).
    repair: Callable[[Theorem, Prompt, str, ProofFeedback, int], Prompt] | None = None

    def extract(self, theorem: Theorem, output: str, lead: str = "") -> Extracted:
        """The proof in `output`; `lead` is the proof text a completion continues (resume)."""
        if not self.chat:
            body = _cut_fence(output)
            text = textwrap.dedent(lead + body).strip("\n")
            if not text.strip():
                return Extracted(None, text, "", "the model wrote no proof")
            return Extracted(text, text, "")
        code = last_code_block(output)
        if code is None:
            return Extracted(None, "", output, "no ```lean4 code block in the answer")
        at = output.rfind(code)
        reasoning = (output[:at] + output[at + len(code) :]).strip()
        proof, problem = proof_from_code(code, theorem)
        return Extracted(proof, code, reasoning, problem)


def _v15_initial(theorem: Theorem) -> str:
    return "Complete the following Lean 4 code:\n\n```lean4\n" + lean_file(theorem, " := by\n")


def _v15_resume(theorem: Theorem, prefix: str, goals: Sequence[str]) -> str:
    return _v15_initial(theorem) + indented(prefix) + state_comment(goals)


def _v2_user(theorem: Theorem, code: str, newline: bool) -> Chat:
    fence = "\n```" if newline else "```"
    text = f"Complete the following Lean 4 code:\n\n```lean4\n{code}{fence}\n\n{V2_REQUEST}"
    return Chat((Message("user", text),))


def _partial(theorem: Theorem, prefix: str, goals: Sequence[str]) -> str:
    return lean_file(theorem, " := by\n") + indented(prefix) + state_comment(goals)


def _follow_up(prompt: Prompt, output: str, user: str) -> Chat:
    history = prompt.messages if isinstance(prompt, Chat) else (Message("user", prompt),)
    return Chat((*history, Message("assistant", output), Message("user", user)))


def _goedel_repair(
    theorem: Theorem, prompt: Prompt, output: str, feedback: ProofFeedback, round_: int
) -> Chat:
    text = GOEDEL_FEEDBACK.format(round=round_ - 1, errors=goedel_errors(feedback))
    return _follow_up(prompt, output, text)


def _kimina_user(theorem: Theorem, code: str) -> Chat:
    problem = theorem.informal_statement or "\n".join(
        line
        for line in code.splitlines()
        if line.strip() and not line.startswith(("import", "set_option", "open"))
    )
    text = "Think about and solve the following problem step by step in Lean 4."
    text += f"\n# Problem:{problem}"
    text += f"\n# Formal statement:\n```lean4\n{code}\n```\n"
    return Chat((Message("system", KIMINA_SYSTEM), Message("user", text)))


def _kimina_repair(
    theorem: Theorem, prompt: Prompt, output: str, feedback: ProofFeedback, round_: int
) -> Chat:
    return _follow_up(prompt, output, kimina_errors(feedback))


FORMATS: dict[str, ProofFormat] = {
    f.name: f
    for f in (
        ProofFormat(
            "deepseek-v1.5",
            "DeepSeek-Prover-V1.5: completion of an open ```lean4 block; resumes from the state",
            chat=False,
            stop=("```",),
            initial=_v15_initial,
            resume=_v15_resume,
        ),
        ProofFormat(
            "deepseek-v2",
            "DeepSeek-Prover-V2 (CoT): chat, statement with `sorry`, proof plan requested",
            chat=True,
            stop=(),
            initial=lambda t: _v2_user(t, lean_file(t, " := by\n  sorry"), newline=True),
            resume=lambda t, p, g: _v2_user(t, _partial(t, p, g), newline=True),
            repair=_goedel_repair,
        ),
        ProofFormat(
            "goedel-v2",
            "Goedel-Prover-V2: the DeepSeek-V2 prompt; self-correction from Lean's errors",
            chat=True,
            stop=(),
            initial=lambda t: _v2_user(t, lean_file(t, " := by\n  sorry"), newline=False),
            resume=lambda t, p, g: _v2_user(t, _partial(t, p, g), newline=False),
            repair=_goedel_repair,
        ),
        ProofFormat(
            "kimina",
            "Kimina-Prover: system + 'Think about and solve…' chat; error fixing with goals",
            chat=True,
            stop=(),
            initial=lambda t: _kimina_user(t, lean_file(t, " := by")),
            resume=lambda t, p, g: _kimina_user(t, _partial(t, p, g)),
            repair=_kimina_repair,
        ),
    )
}

# Lower-cased substrings of a model name → its format (the first match wins).
MODEL_FORMATS: tuple[tuple[str, str], ...] = (
    ("deepseek-prover-v1.5", "deepseek-v1.5"),
    ("deepseek-prover-v2", "deepseek-v2"),
    ("goedel-prover-v2", "goedel-v2"),
    ("kimina-prover", "kimina"),
)


def proof_format(name: str, model: str = "") -> ProofFormat:
    """The format called `name`; "auto" picks the model's own from its name (`model`)."""
    if name == "auto":
        lowered = model.lower()
        for needle, chosen in MODEL_FORMATS:
            if needle in lowered:
                return FORMATS[chosen]
        raise ConfigError(
            f"no whole-proof prompt format is known for model '{model}'; set "
            f"whole_proof.prompt (or --prompt) to one of: {', '.join(sorted(FORMATS))}"
        )
    try:
        return FORMATS[name]
    except KeyError:
        raise ConfigError(
            f"unknown whole-proof prompt '{name}'; use one of: auto, {', '.join(sorted(FORMATS))}"
        ) from None
