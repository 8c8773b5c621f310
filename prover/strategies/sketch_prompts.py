"""Prompts of the sketch strategy: DSP-format few-shot examples, draft and sketch prompts.

Isabelle (as Draft, Sketch, Prove and Llemma), each example is

    Informal:
    (*### Problem

    <statement>

    ### Solution

    <informal proof>*)

    Formal:
    <statement>
    <sketch>

with `sledgehammer` gaps; Lean uses `/- … -/` for the informal block and `sorry` gaps. Examples
are separated by two blank lines, which is also where generation stops. The examples come from
miniF2F's valid split only, and never include the theorem being proved.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prover.errors import InputError
from prover.language import language as language_spec
from prover.types import Language, Theorem

EXAMPLES_FILE = Path(__file__).with_name("sketch_examples") / "examples.json"
SEPARATOR = "\n\n\n"
SKETCH_STOP: tuple[str, ...] = (SEPARATOR, "\nInformal:")
NUMBER_THEORY = "number_theory"
OTHER = "other"


@dataclass(frozen=True)
class FormalExample:
    """An example's statement and sketch in one language."""

    statement: str
    sketch: str


@dataclass(frozen=True)
class Example:
    """One few-shot example: a problem, its informal proof, and formal sketches per language."""

    name: str
    split: str
    category: str
    informal_statement: str
    informal_proof: str
    formal: Mapping[str, FormalExample]
    origin: Mapping[str, str]


@dataclass(frozen=True)
class Prompt:
    """A prompt in two parts: the few-shot examples, and the query for the theorem."""

    fewshot: str
    query: str
    stop: tuple[str, ...]
    examples: tuple[str, ...]  # names of the examples used, in order

    @property
    def text(self) -> str:
        return f"{self.fewshot}{SEPARATOR}{self.query}" if self.fewshot else self.query


def load_examples(path: str | Path | None = None) -> tuple[Example, ...]:
    """The few-shot examples in `path` (default: the built-in file); test-split ones are refused."""
    p = Path(path) if path else EXAMPLES_FILE
    if not p.is_file():
        raise InputError(f"sketch examples file '{p}' not found; fix sketch.examples")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        rows = data["examples"]
        examples = tuple(_example(row) for row in rows)
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InputError(
            f"sketch examples file '{p}' is malformed ({exc}); follow the format of {EXAMPLES_FILE}"
        ) from exc
    for example in examples:
        if example.split == "test":
            raise InputError(
                f"sketch example '{example.name}' in '{p}' is from the test split; "
                "few-shot examples must not come from the split being evaluated"
            )
    return examples


def _lines(value: Any) -> str:
    return "\n".join(value) if isinstance(value, list) else str(value)


def _example(row: Mapping[str, Any]) -> Example:
    formal = {}
    for language in (Language.LEAN4, Language.ISABELLE):  # the two the examples file holds
        part = row.get(language)
        if part:
            formal[language] = FormalExample(
                _lines(part["statement"]).rstrip(), _lines(part["sketch"]).rstrip()
            )
    if not formal:
        raise ValueError(f"example {row.get('name')!r} has neither an isabelle nor a lean4 part")
    return Example(
        name=str(row["name"]),
        split=str(row["split"]),
        category=str(row.get("category") or block(str(row["name"]))),
        informal_statement=str(row["informal_statement"]).strip(),
        informal_proof=str(row["informal_proof"]).strip(),
        formal=formal,
        origin=dict(row.get("origin") or {}),
    )


def block(name: str) -> str:
    """The example block for a theorem name: number theory (incl. induction) or other."""
    lowered = name.lower()
    if "numbertheory" in lowered or lowered.startswith("induction"):
        return NUMBER_THEORY
    return OTHER


def _squash(text: str | None) -> str:
    return " ".join((text or "").split())


def _same_problem(example: Example, theorem: Theorem) -> bool:
    if example.name.lower() == theorem.name.lower():
        return True
    formal = example.formal.get(theorem.language)
    if formal is not None and _squash(_strip_proof(formal.statement)) == _squash(
        _strip_proof(theorem.statement)
    ):
        return True
    statement = _squash(theorem.informal_statement)
    return bool(statement) and statement == _squash(example.informal_statement)


def choose_examples(
    theorem: Theorem, examples: Sequence[Example], shots: int = 0
) -> tuple[Example, ...]:
    """The examples for `theorem`: its block first (then the other block if `shots` asks for
    more), in file order, never the theorem itself; `shots` 0 = the whole block."""
    usable = [e for e in examples if theorem.language in e.formal and not _same_problem(e, theorem)]
    wanted = block(theorem.name)
    same = [e for e in usable if e.category == wanted]
    rest = [e for e in usable if e.category != wanted]
    if shots == 0:
        return tuple(same or rest)
    return tuple((same + rest)[:shots])


def _clean(text: str, language: str) -> str:
    """Informal text safe inside the language's comment (no early close or nested open)."""
    open_, close = _comment(language)
    return text.replace(close, close[0] + " " + close[1:]).replace(
        open_, open_[0] + " " + open_[1:]
    )


def informal_block(language: str, statement: str, proof: str | None) -> str:
    """`Informal:` and the problem (and solution, when `proof` is given) as a comment."""
    open_, close = _comment(language)
    pad = " " if language == Language.LEAN4 else ""
    head = f"Informal:\n{open_}{pad}### Problem\n\n{_clean(statement.strip(), language)}"
    head += "\n\n### Solution\n\n"
    if proof is None:
        return head
    return f"{head}{_clean(proof.strip(), language)}{pad}{close}"


def _strip_proof(statement: str) -> str:
    text = statement.rstrip()
    for tail in ("sorry", "oops"):
        if text.endswith(tail):
            text = text[: -len(tail)].rstrip()
    return text


def formal_head(theorem: Theorem) -> str:
    """The statement as the model should continue it: Lean ends in `:= by`, Isabelle as given."""
    text = _strip_proof(theorem.statement)
    if theorem.language == Language.ISABELLE:
        return text
    if re.search(r":=\s*by$", text):
        return text
    if text.endswith(":="):
        return f"{text} by"
    return f"{text} := by"


def _problem(theorem: Theorem) -> str:
    # Without an informal statement the model reads the formal one.
    return theorem.informal_statement or formal_head(theorem)


def _shot(example: Example, language: str) -> str:
    formal = example.formal[language]
    return (
        f"{informal_block(language, example.informal_statement, example.informal_proof)}\n\n"
        f"Formal:\n{formal.statement}\n{formal.sketch}"
    )


def sketch_prompt(theorem: Theorem, informal_proof: str, examples: Sequence[Example]) -> Prompt:
    """Few-shot prompt asking for a formal sketch of `theorem` following `informal_proof`."""
    language = theorem.language
    fewshot = SEPARATOR.join(_shot(e, language) for e in examples)
    query = (
        f"{informal_block(language, _problem(theorem), informal_proof)}\n\n"
        f"Formal:\n{formal_head(theorem)}\n"
    )
    return Prompt(fewshot, query, SKETCH_STOP, tuple(e.name for e in examples))


def draft_prompt(theorem: Theorem, examples: Sequence[Example]) -> Prompt:
    """Few-shot prompt asking for an informal proof of `theorem` (the Draft step)."""
    language = theorem.language
    fewshot = SEPARATOR.join(
        informal_block(language, e.informal_statement, e.informal_proof) for e in examples
    )
    query = informal_block(language, _problem(theorem), None)
    stop = (_comment(language)[1], SEPARATOR, "\nInformal:")
    return Prompt(fewshot, query, stop, tuple(e.name for e in examples))


def _comment(language: str) -> tuple[str, str]:
    comment = language_spec(language).block_comment
    if comment is None:
        raise ValueError(f"the language {language} has no block comment to hold informal text")
    return comment
