"""The `toy` prompt template: the goal, then the model writes one tactic on one line."""

from __future__ import annotations

from prover.prompts import PromptTemplate
from prover.types import ProofState, Theorem


def _render(state: ProofState, theorem: Theorem | None) -> str:
    return f"Reach the target with add N / sub N.\n{state.pretty}\nTactic:"


TOY = PromptTemplate("toy", _render, ("\n",), "toy goal, then one add/sub tactic")
