"""Cheap closers: automation tactics tried on a goal before the model is asked for anything.

A closer counts only when it finishes the goal it is run on; a closer that merely changes the
goal is ignored, so closers never add states to a search.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from prover.language import language as language_spec
from prover.types import Failed, Finished, ProofState, TacticResult

DEFAULT = "default"  # in a closers list: the language's own list (LanguageSpec.closers)
# A result message an environment adds when the text it ran differs from the tactic it was given
# (Isabelle runs a `sledgehammer` step as the tactic that closed the goal): `ran: <exact text>`.
RAN_PREFIX = "ran: "

RunTactic = Callable[[ProofState, str], Awaitable[TacticResult]]
Accept = Callable[[str], Awaitable[bool]]


def expand(closers: Sequence[str], language: str, *, allow_eval: bool = True) -> tuple[str, ...]:
    """`closers` with the entry `default` replaced by the language's list; duplicates dropped.
    Without `allow_eval`, closers that prove by evaluating code (the language's `evaluates`, e.g.
    Isabelle's `by eval`) are skipped: their proofs would go through an oracle."""
    if not closers:
        return ()
    spec = language_spec(language)
    out: list[str] = []
    for closer in closers:
        items = spec.closers if closer.strip() == DEFAULT else (closer.strip(),)
        out.extend(item for item in items if item and item not in out)
    if spec.evaluates is not None and not allow_eval:
        out = [c for c in out if not spec.evaluates(c)]
    return tuple(out)


def ran_text(tactic: str, result: TacticResult) -> str:
    """The text that actually ran for `tactic` (what a proof must record), from the result's
    `ran:` message when the environment replaced a step, else `tactic` itself."""
    if isinstance(result, Failed):
        return tactic
    for message in result.messages:
        if message.startswith(RAN_PREFIX):
            return message[len(RAN_PREFIX) :]
    return tactic


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
    `closed_by` is the text that ran (a hammer closer is replaced by the tactic it found).
    """
    tried: list[CloserTry] = []
    for closer in closers:
        result = await run(state, closer)
        if isinstance(result, Finished):
            text = ran_text(closer, result)
            if accept is None or await accept(text):
                tried.append(CloserTry(closer, "finished"))
                return CloserOutcome(text, tuple(tried))
            tried.append(CloserTry(closer, "rejected", "whole-proof check rejected it"))
        elif isinstance(result, Failed):
            tried.append(CloserTry(closer, result.kind.value, result.message))
        else:
            tried.append(CloserTry(closer, "state", "changed the goal without closing it"))
    return CloserOutcome(None, tuple(tried))
