"""Cheap closers: automation tactics tried on a goal before the model is asked for anything.

A closer counts only when it finishes the goal it is run on; a closer that merely changes the
goal is ignored, so closers never add states to a search.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from prover.config import DSP_HEURISTICS
from prover.types import Failed, Finished, Language, ProofState, TacticResult

# Lean 4 + Mathlib automation, cheapest and most often decisive first.
LEAN_CLOSERS: tuple[str, ...] = (
    "omega",
    "norm_num",
    "linarith",
    "nlinarith",
    "positivity",
    "simp_all",
    "decide",
    "aesop",
    "field_simp",
    "ring_nf",
)

# The heuristic list of Draft, Sketch, Prove (PROTOCOLS.md §4), in its order.
ISABELLE_CLOSERS: tuple[str, ...] = DSP_HEURISTICS

DEFAULT = "default"  # in a closers list: the language's default list above

RunTactic = Callable[[ProofState, str], Awaitable[TacticResult]]
Accept = Callable[[str], Awaitable[bool]]


def default_closers(language: Language) -> tuple[str, ...]:
    """The built-in closers for `language`."""
    return ISABELLE_CLOSERS if language is Language.ISABELLE else LEAN_CLOSERS


def expand(closers: Sequence[str], language: Language) -> tuple[str, ...]:
    """`closers` with the entry `default` replaced by the language's list; duplicates dropped."""
    out: list[str] = []
    for closer in closers:
        items = default_closers(language) if closer.strip() == DEFAULT else (closer.strip(),)
        out.extend(item for item in items if item and item not in out)
    return tuple(out)


@dataclass(frozen=True)
class CloserTry:
    """One closer run: `outcome` is `finished`, `state` (goal changed, not closed) or a failure."""

    tactic: str
    outcome: str
    message: str = ""

    def to_json(self) -> dict[str, str]:
        out = {"tactic": self.tactic, "outcome": self.outcome}
        if self.message:
            out["message"] = self.message[:200]
        return out


@dataclass(frozen=True)
class CloserOutcome:
    """Which closer (if any) closed the goal, and every closer tried on the way."""

    closed_by: str | None
    tried: tuple[CloserTry, ...]

    @property
    def closed(self) -> bool:
        return self.closed_by is not None


async def first_closer(
    state: ProofState,
    closers: Sequence[str],
    run: RunTactic,
    accept: Accept | None = None,
) -> CloserOutcome:
    """Run `closers` in order on `state` until one finishes it (and `accept` agrees, if given).

    `run` is the caller's budgeted `run_tactic`; its exceptions (budget, wall clock) propagate.
    `accept` lets the caller veto a finishing closer, e.g. when the whole-proof check rejects it.
    """
    tried: list[CloserTry] = []
    for closer in closers:
        result = await run(state, closer)
        if isinstance(result, Finished):
            if accept is None or await accept(closer):
                tried.append(CloserTry(closer, "finished"))
                return CloserOutcome(closer, tuple(tried))
            tried.append(CloserTry(closer, "rejected", "whole-proof check rejected it"))
        elif isinstance(result, Failed):
            tried.append(CloserTry(closer, result.kind.value, result.message))
        else:
            tried.append(CloserTry(closer, "state", "changed the goal without closing it"))
    return CloserOutcome(None, tuple(tried))
