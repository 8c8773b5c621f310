"""The whole-proof strategy: sample complete proofs, check them, repair the failures.

Round 0 samples `whole_proof.samples` proofs (`batch` per request; concurrent theorems' requests
meet in the generator's batches) and checks each on the session, stopping at the first the
check accepts. Each repair round then gives up to `repairs` of the last round's failures back
to the model, either with Lean's errors (`feedback`, the Goedel-Prover-V2 / Kimina way) or as
the longest prefix Lean accepts plus its goal state to continue from (`resume`, DeepSeek-Prover
-V1.5's truncate-and-resume). Sessions with the `ProofChecking` capability explain rejections;
others are checked with `verify` and repaired from the verdict's message only.

Budgets: samples, rounds, generated tokens (`max_total_tokens`), checks (`search.max_tactics`)
and `search.wall_seconds`; each is recorded with the stop reason in `SearchResult.details`. The
strategy's check only decides when to stop: the runner's judge decides whether the proof counts.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TypeVar

from prover.budget import BudgetSpent, Meter
from prover.config import Config, WholeProofConfig
from prover.errors import ConfigError
from prover.protocols import (
    ErrorMessage,
    GenerationParams,
    Generator,
    ProofChecking,
    ProofFeedback,
    ProofSession,
)
from prover.types import (
    Budget,
    Candidate,
    Prompt,
    SearchResult,
    Status,
    Theorem,
    VerdictStatus,
)
from prover.whole_proof_prompts import (
    FORMATS,
    Extracted,
    ProofFormat,
    indented,
    proof_format,
)

_T = TypeVar("_T")
_SEED_STRIDE = 1 << 20  # per-request seeds stay distinct from the runner's per-attempt offsets
_KEEP_TEXT = 2000  # characters of a failed sample's reasoning and proof kept in the record


class _Stop(Exception):
    """A budget ran out; `reason` is the stop reason, `wall` whether it was the clock."""

    def __init__(self, reason: str, *, wall: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wall = wall


@dataclass
class _Sample:
    """One proof the model wrote, how it was asked for, and what the check said."""

    index: int
    round: int
    mode: str  # sample | feedback | resume
    prompt: Prompt
    output: str
    tokens: int
    extracted: Extracted
    parent: int | None = None
    feedback: ProofFeedback | None = None
    outcome: str = ""

    def to_json(self, *, full: bool) -> dict[str, Any]:
        keep = None if full else _KEEP_TEXT
        out: dict[str, Any] = {
            "index": self.index,
            "round": self.round,
            "mode": self.mode,
            "parent": self.parent,
            "tokens": self.tokens,
            "outcome": self.outcome,
            "proof": _clip(self.extracted.proof, keep),
            "reasoning": _clip(self.extracted.reasoning, keep),
        }
        if self.extracted.problem:
            out["problem"] = self.extracted.problem
        if self.feedback is not None and not self.feedback.ok:
            out["feedback"] = self.feedback.to_json()
        return out


def _clip(text: str | None, limit: int | None) -> str | None:
    if text is None or limit is None or len(text) <= limit:
        return text
    return text[:limit] + f"… [{len(text) - limit} more characters]"


@dataclass
class _Meter:
    """Every model call and check of one theorem goes through here: limits and counts."""

    clock: Meter  # the theorem's service time against its time budget (prover/budget.py)
    max_checks: int
    max_total_tokens: int
    checks: int = 0
    model_calls: int = 0
    candidates: int = 0
    tokens: int = 0
    requests: int = 0
    failures: Counter[str] = field(default_factory=Counter)

    @property
    def wall_seconds(self) -> float:
        return self.clock.limit

    @property
    def model_seconds(self) -> float:
        return self.clock.model_seconds

    @property
    def env_seconds(self) -> float:
        return self.clock.env_seconds

    def affordable(self, n: int, max_tokens: int) -> int:
        """How many of `n` samples of up to `max_tokens` fit in the token budget."""
        left = self.max_total_tokens - self.tokens
        return max(0, min(n, left // max_tokens))

    async def generate(
        self, generator: Generator, prompt: Prompt, n: int, params: GenerationParams
    ) -> list[Candidate]:
        self.requests += 1
        seeded = GenerationParams(
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_tokens,
            stop=params.stop,
            seed=self.requests * _SEED_STRIDE,  # waves of one prompt must not hit the cache
        )
        try:
            out = await self.clock.model(generator.generate(prompt, n, seeded), "generate")  # type: ignore[arg-type]
        except BudgetSpent as spent:
            raise _Stop(f"wall_seconds during {spent.what}", wall=True) from None
        out = out[:n]
        self.model_calls += 1
        self.candidates += len(out)
        self.tokens += sum(c.num_tokens for c in out)
        return out

    async def check(self, session: ProofSession, proof: str) -> ProofFeedback:
        if self.checks >= self.max_checks:
            raise _Stop("max_tactics")
        self.checks += 1
        try:
            if isinstance(session, ProofChecking):
                return await self.clock.env(session, session.check_proof(proof), "check")
            verdict = await self.clock.env(session, session.verify(proof), "check")
        except BudgetSpent as spent:
            raise _Stop(f"wall_seconds during {spent.what}", wall=True) from None
        # UNCHECKED (replay) stops the search too; the runner records such a proof as unverified.
        ok = verdict.status in (VerdictStatus.ACCEPTED, VerdictStatus.UNCHECKED)
        message = verdict.message or verdict.status.value
        errors = () if ok else (ErrorMessage(message),)
        return ProofFeedback(ok, verdict.checked_by, errors=errors, message=message)


class WholeProof:
    """Whole-proof sampling with repair rounds (see the module docstring)."""

    name = "whole-proof"

    def __init__(self, settings: WholeProofConfig, fmt: ProofFormat) -> None:
        self.settings = settings
        self.format = fmt
        mode = settings.repair
        if mode == "auto":
            mode = "feedback" if fmt.repair is not None else "resume"
        self.repair_mode = mode
        self.params = GenerationParams(
            temperature=settings.temperature,
            top_p=settings.top_p,
            max_tokens=settings.max_tokens,
            stop=fmt.stop,
        )

    async def search(
        self, theorem: Theorem, session: ProofSession, generator: Generator, budget: Budget
    ) -> SearchResult:
        meter = _Meter(
            clock=Meter(budget.wall_seconds),  # service time, not time queued
            max_checks=budget.max_tactics,
            max_total_tokens=self.settings.max_total_tokens,
        )
        samples: list[_Sample] = []
        seen: dict[str, ProofFeedback] = {}
        found: list[_Sample] = []
        rounds_run = 0
        reason = ""
        wall = False
        try:
            await self._first_round(theorem, session, generator, meter, samples, seen, found)
            previous = [s for s in samples if s.round == 0]
            for round_ in range(1, self.settings.rounds + 1):
                if found:
                    break
                failed = [s for s in previous if s.outcome != "accepted"]
                if not failed:
                    break
                rounds_run = round_
                previous = await self._repair_round(
                    theorem, session, generator, meter, samples, seen, found, failed, round_
                )
            if found:
                reason = "proved"
            elif self.settings.rounds and rounds_run == self.settings.rounds:
                reason = "rounds"
            else:
                reason = "samples"
        except _Stop as stop:
            reason, wall = stop.reason, stop.wall
        return self._result(theorem, meter, samples, found, rounds_run, reason, wall)

    async def _first_round(
        self,
        theorem: Theorem,
        session: ProofSession,
        generator: Generator,
        meter: _Meter,
        samples: list[_Sample],
        seen: dict[str, ProofFeedback],
        found: list[_Sample],
    ) -> None:
        prompt = self.format.initial(theorem)
        left = self.settings.samples
        while left > 0 and (not found or self.settings.check_all):
            n = meter.affordable(min(self.settings.batch, left), self.params.max_tokens)
            if n == 0:
                raise _Stop("max_total_tokens")
            left -= n
            for cand in await meter.generate(generator, prompt, n, self.params):
                sample = _Sample(
                    index=len(samples),
                    round=0,
                    mode="sample",
                    prompt=prompt,
                    output=cand.text,
                    tokens=cand.num_tokens,
                    extracted=self.format.extract(theorem, cand.text),
                )
                samples.append(sample)
                await self._check(session, meter, sample, seen, found)
                if found and not self.settings.check_all:
                    return

    async def _repair_round(
        self,
        theorem: Theorem,
        session: ProofSession,
        generator: Generator,
        meter: _Meter,
        samples: list[_Sample],
        seen: dict[str, ProofFeedback],
        found: list[_Sample],
        failed: list[_Sample],
        round_: int,
    ) -> list[_Sample]:
        chosen = failed[-self.settings.repairs :]
        n = meter.affordable(len(chosen), self.params.max_tokens)
        if n == 0:
            raise _Stop("max_total_tokens")
        chosen = chosen[-n:]
        asks = [self._repair_prompt(theorem, parent, round_) for parent in chosen]
        # All repairs of the round are requested together, so the generator batches them.
        answers = await asyncio.gather(
            *(meter.generate(generator, prompt, 1, self.params) for prompt, _, _ in asks)
        )
        made: list[_Sample] = []
        for parent, (prompt, mode, lead), cands in zip(chosen, asks, answers, strict=True):
            for cand in cands:
                sample = _Sample(
                    index=len(samples),
                    round=round_,
                    mode=mode,
                    prompt=prompt,
                    output=cand.text,
                    tokens=cand.num_tokens,
                    extracted=self.format.extract(theorem, cand.text, lead),
                    parent=parent.index,
                )
                samples.append(sample)
                made.append(sample)
                await self._check(session, meter, sample, seen, found)
                if found:
                    return made
        return made

    def _repair_prompt(
        self, theorem: Theorem, parent: _Sample, round_: int
    ) -> tuple[Prompt, str, str]:
        """(prompt, mode, lead): `lead` is the proof text a completion continues."""
        feedback = parent.feedback or ProofFeedback(False, "none", message="no feedback")
        if self.repair_mode == "feedback" and self.format.repair is not None:
            prompt = self.format.repair(theorem, parent.prompt, parent.output, feedback, round_)
            return prompt, "feedback", ""
        prefix = feedback.prefix
        goals = feedback.goals
        if not prefix.strip():  # nothing Lean accepted: start again from the statement
            return self.format.initial(theorem), "resume", ""
        lead = "" if self.format.chat else indented(prefix)
        return self.format.resume(theorem, prefix, goals), "resume", lead

    async def _check(
        self,
        session: ProofSession,
        meter: _Meter,
        sample: _Sample,
        seen: dict[str, ProofFeedback],
        found: list[_Sample],
    ) -> None:
        proof = sample.extracted.proof
        if proof is None:
            sample.outcome = "unusable"
            problem = sample.extracted.problem
            sample.feedback = ProofFeedback(
                False, "extract", errors=(ErrorMessage(problem),), message=problem
            )
            meter.failures["unusable"] += 1
            return
        if proof in seen:
            sample.feedback = seen[proof]
            sample.outcome = "accepted" if sample.feedback.ok else "duplicate"
        else:
            sample.feedback = await meter.check(session, proof)
            seen[proof] = sample.feedback
            sample.outcome = "accepted" if sample.feedback.ok else "rejected"
            if not sample.feedback.ok:
                meter.failures["rejected"] += 1
        if sample.feedback.ok and not found:
            found.append(sample)

    def _result(
        self,
        theorem: Theorem,
        meter: _Meter,
        samples: list[_Sample],
        found: list[_Sample],
        rounds_run: int,
        reason: str,
        wall: bool,
    ) -> SearchResult:
        first = [s for s in samples if s.round == 0]
        planned = self.settings.samples
        exact = len(first) == planned and (self.settings.check_all or not found)
        details: dict[str, Any] = {
            "strategy": self.name,
            "format": self.format.name,
            "repair": self.repair_mode,
            "budget": {
                "samples": planned,
                "rounds": self.settings.rounds,
                "repairs": self.settings.repairs,
                "max_tokens": self.settings.max_tokens,
                "max_total_tokens": self.settings.max_total_tokens,
                "max_checks": meter.max_checks,
                "wall_seconds": meter.wall_seconds,
            },
            "used": {"tokens": meter.tokens, "checks": meter.checks, "samples": len(samples)},
            "rounds_run": rounds_run,
            # Per-sample counts of the first round, by the in-search check: exact (every sample
            # checked) only when nothing stopped the round early.
            "samples": {
                "n": len(first),
                "c": sum(s.outcome == "accepted" for s in first),
                "exact": exact,
            },
            "attempts": [s.to_json(full=bool(found) and s is found[0]) for s in samples],
        }
        stats = meter.clock.stats(
            reason,
            expansions=len(samples),
            tactics_run=meter.checks,
            model_calls=meter.model_calls,
            candidates=meter.candidates,
            tokens=meter.tokens,
            failures=dict(meter.failures),
        )
        if found:
            proof = found[0].extracted.proof
            assert proof is not None
            details["proved_by"] = found[0].index
            return SearchResult(
                theorem=theorem.name,
                status=Status.PROVED,
                proof=proof,
                steps=(proof,),
                stats=stats,
                details=details,
            )
        status = Status.TIMEOUT if wall else Status.FAILED
        return SearchResult(theorem=theorem.name, status=status, stats=stats, details=details)


def create(config: Config) -> WholeProof:
    """Entry point: `--strategy whole-proof`, configured by `[whole_proof]`.

    The format is `whole_proof.prompt`; when that is "auto", `--prompt` (search.prompt) if it
    names a whole-proof format, else the model's own format from its name.
    """
    settings = config.whole_proof
    if config.model.startswith("vllm:") and settings.max_tokens >= config.vllm.max_model_len:
        raise ConfigError(
            f"whole_proof.max_tokens ({settings.max_tokens}) leaves no room for the prompt in "
            f"vllm.max_model_len ({config.vllm.max_model_len}); raise vllm.max_model_len "
            "(e.g. --set vllm.max_model_len=16384) or lower whole_proof.max_tokens"
        )
    name = settings.prompt
    if name == "auto" and config.search.prompt in FORMATS:
        name = config.search.prompt
    return WholeProof(settings, proof_format(name, config.model))
