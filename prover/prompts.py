"""Prompt templates, stop sequences and candidate clean-up: the one place for prompt formats.

A template turns a proof state (and its theorem) into the text a model continues, names the stop
sequences that end a completion, and cleans a completion back into a tactic or proof. Backends
honour the stop sequences while decoding (`stop_index` is the shared rule); `clean_candidates`
then cuts, strips, drops empties and de-duplicates what came back.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from prover.errors import InputError, UnknownNameError
from prover.types import Candidate, Language, ProofState, Theorem

# Few-shot examples for the formal2formal format, written for this project. The states follow the
# way Lean 4 + Mathlib pretty-prints goals (as in Llemma's recorded runs): hypotheses one
# per line, `⊢` before the target, several goals separated by a blank line and named by `case`.
# They mix closing tactics with steps that leave goals, so the model learns both, and none is a
# miniF2F problem (tests/test_prompts.py checks), so no benchmark answer leaks into the prompt.
LLEMMA_EXAMPLES: tuple[tuple[str, str], ...] = (
    (
        "x y : ℝ\nh₀ : x + y = 10\nh₁ : x - y = 2\n⊢ x = 6",
        "linarith",
    ),
    (
        "⊢ ∀ (n : ℕ), n ^ 2 % 4 ≠ 2",
        "intro n",
    ),
    (
        "n : ℕ\nh₀ : n % 9 = 2\n⊢ (4 * n + 1) % 9 = 0",
        "omega",
    ),
    (
        "case left\na b : ℝ\nh₀ : a = 3\nh₁ : b = a + 2\n⊢ b = 5\n\n"
        "case right\na b : ℝ\nh₀ : a = 3\nh₁ : b = a + 2\n⊢ a * b = 15",
        "all_goals norm_num [h₀, h₁]",
    ),
    (
        "f : ℝ → ℝ\nh₀ : ∀ (x : ℝ), f x = 3 * x - 4\n⊢ f (f 2) = 2",
        "norm_num [h₀]",
    ),
    (
        "a b : ℝ\nh₀ : 0 < a ∧ 0 < b\n⊢ 2 * a * b ≤ a ^ 2 + b ^ 2",
        "nlinarith [sq_nonneg (a - b)]",
    ),
    (
        "⊢ ∑ k ∈ Finset.range 4, (k + 1) ^ 2 = 30",
        "simp [Finset.sum_range_succ]",
    ),
)


def stop_index(text: str, stops: Sequence[str]) -> int:
    """Index of the earliest occurrence of any stop sequence in `text`, or -1 if none occurs."""
    found = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return min(found) if found else -1


@dataclass(frozen=True)
class PromptTemplate:
    """How to turn a proof state into a prompt, and a completion back into a tactic."""

    name: str
    render: Callable[[ProofState, Theorem | None], str]
    stop: tuple[str, ...]
    description: str

    def clean(self, text: str) -> str | None:
        """Cut at the first stop sequence, drop surrounding blank lines and the common
        indentation (relative indentation of multi-line proofs is kept); None if empty."""
        cut = stop_index(text, self.stop)
        if cut >= 0:
            text = text[:cut]
        lines = text.rstrip().splitlines()
        while lines and not lines[0].strip():
            lines.pop(0)
        text = textwrap.dedent("\n".join(lines)).strip()
        return text or None


def _f2f_block(goals: str) -> str:
    return f"Tactic state:\n---\n{goals}\n---\nNext tactic:\n---\n"


def _llemma(state: ProofState, theorem: Theorem | None) -> str:
    shots = "".join(f"{_f2f_block(goals)}{tactic}\n---\n\n" for goals, tactic in LLEMMA_EXAMPLES)
    return shots + _f2f_block(state.pretty)


def _llmstep(state: ProofState, theorem: Theorem | None) -> str:
    return f"[GOAL]{state.pretty}[PROOFSTEP]"


def _whole_proof(state: ProofState, theorem: Theorem | None) -> str:
    if theorem is None:
        raise ValueError("the whole-proof template needs the theorem")
    statement = theorem.statement.rstrip()
    if theorem.language == Language.ISABELLE:
        # The model continues after `shows …` with `proof -` / `by …`.
        return f"{statement}\n"
    for suffix in ("sorry", "by"):
        if statement.endswith(suffix):
            statement = statement[: -len(suffix)].rstrip()
    if statement.endswith(":="):
        statement = statement[:-2].rstrip()
    header = theorem.header.rstrip()
    return f"{header}\n\n{statement} := by\n" if header else f"{statement} := by\n"


TEMPLATES: dict[str, PromptTemplate] = {
    t.name: t
    for t in (
        PromptTemplate(
            "llemma",
            _llemma,
            ("\n---", "---"),
            "Llemma formal2formal few-shot: Tactic state / Next tactic blocks",
        ),
        PromptTemplate(
            "llmstep",
            _llmstep,
            ("[GOAL]", "[PROOFSTEP]", "\n\n"),
            "llmstep: [GOAL]<state>[PROOFSTEP]",
        ),
        PromptTemplate(
            "whole-proof",
            _whole_proof,
            ("\n\n\n", "```", "\ntheorem ", "\nlemma ", "\nexample "),
            "header + statement `:= by`; the model writes the whole tactic proof",
        ),
    )
}


def template(name: str) -> PromptTemplate:
    """The built-in or plug-in (entry-point group `prover.prompts`, name → PromptTemplate)
    template called `name`, or a one-line error listing the known ones."""
    if name in TEMPLATES:
        return TEMPLATES[name]
    from prover import registry

    plugged = {e.name: e for e in registry.entries("prompt")}
    if name not in plugged:
        known = ", ".join(sorted({*TEMPLATES, *plugged}))
        raise UnknownNameError(
            f"unknown prompt template '{name}' (known: {known}); set --prompt or search.prompt"
        )
    entry = plugged[name]
    found = entry.load()
    if not isinstance(found, PromptTemplate):
        raise InputError(
            f"prompt plug-in '{name}' ({entry.distribution}) must point at a "
            f"prover.prompts.PromptTemplate, not {type(found).__name__}; fix its entry point"
        )
    return found


def clean_candidates(
    candidates: Iterable[Candidate], tmpl: PromptTemplate, score: str = "mean"
) -> list[Candidate]:
    """Cut at stop sequences, drop empties, keep the best-scoring copy of each text, best first."""
    best: dict[str, Candidate] = {}
    for cand in candidates:
        text = tmpl.clean(cand.text)
        if text is None:
            continue
        cleaned = Candidate(text, cand.logprob, cand.num_tokens)
        kept = best.get(text)
        if kept is None or cleaned.score(score) > kept.score(score):
            best[text] = cleaned
    return sorted(best.values(), key=lambda c: c.score(score), reverse=True)
