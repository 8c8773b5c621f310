"""Prompt templates, stop sequences and candidate clean-up: the one place for prompt formats."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prover.errors import UnknownNameError
from prover.types import Candidate, ProofState, Theorem

# Few-shot examples for the Llemma formal2formal format. Written for this project; the goal states
# have the shape Lean 4 + Mathlib prints (see shared/data/llemma_formal2formal for real ones).
_LLEMMA_EXAMPLES: tuple[tuple[str, str], ...] = (
    (
        "x : ℝ\nh₀ : 3 * x + 2 = 11\n⊢ x = 3",
        "linarith",
    ),
    (
        "n : ℕ\nh₀ : n % 6 = 5\n⊢ (n + 7) % 6 = 0",
        "omega",
    ),
    (
        "a b : ℝ\nh₀ : a = 2 * b\nh₁ : b = 4\n⊢ a + b = 12",
        "subst h₁\nnorm_num [h₀]",
    ),
    (
        "f : ℕ → ℕ\nh₀ : ∀ (n : ℕ), f n = 2 * n + 1\n⊢ f 3 = 7",
        "simp [h₀]",
    ),
)


@dataclass(frozen=True)
class PromptTemplate:
    """How to turn a proof state into a prompt, and a completion back into a tactic."""

    name: str
    render: Callable[[ProofState, Theorem | None], str]
    stop: tuple[str, ...]
    description: str

    def clean(self, text: str) -> str | None:
        """Cut at the first stop sequence and strip; None for an empty completion."""
        for stop in self.stop:
            cut = text.find(stop)
            if cut >= 0:
                text = text[:cut]
        text = text.strip()
        return text or None


def _llemma(state: ProofState, theorem: Theorem | None) -> str:
    shots = "".join(
        f"Tactic state:\n---\n{goals}\n---\nNext tactic:\n---\n{tactic}\n---\n\n"
        for goals, tactic in _LLEMMA_EXAMPLES
    )
    return f"{shots}Tactic state:\n---\n{state.pretty}\n---\nNext tactic:\n---\n"


def _llmstep(state: ProofState, theorem: Theorem | None) -> str:
    return f"[GOAL]{state.pretty}[PROOFSTEP]"


def _whole_proof(state: ProofState, theorem: Theorem | None) -> str:
    if theorem is None:
        raise ValueError("the whole-proof template needs the theorem")
    statement = theorem.statement.rstrip()
    for suffix in ("sorry", "by"):
        if statement.endswith(suffix):
            statement = statement[: -len(suffix)].rstrip()
    if statement.endswith(":="):
        statement = statement[:-2].rstrip()
    return f"{theorem.header.rstrip()}\n\n{statement} := by\n"


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
            "llmstep", _llmstep, ("[GOAL]", "\n\n"), "llmstep: [GOAL]<state>[PROOFSTEP]"
        ),
        PromptTemplate(
            "whole-proof",
            _whole_proof,
            ("\n\n\n", "```"),
            "header + statement `:= by`; the model writes the whole tactic proof",
        ),
    )
}


def template(name: str) -> PromptTemplate:
    """The template called `name`, or a one-line error listing the known ones."""
    try:
        return TEMPLATES[name]
    except KeyError:
        known = ", ".join(sorted(TEMPLATES))
        raise UnknownNameError(f"unknown prompt template '{name}' (known: {known})") from None


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
