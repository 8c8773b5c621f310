"""The sketch strategy: Draft, Sketch, Prove (DSP) for Isabelle and Lean.

Per attempt (k per theorem, greedy by default): an informal proof (from the data, or drafted by
the model), a formal sketch from the model whose gaps are `sledgehammer` (Isabelle) or `sorry`
(Lean), a check of its skeleton (`SketchSession.run_sketch`), then each gap in order: the cheap
closers, then Sledgehammer (Isabelle, the session's hammer step) or a bounded best-first
sub-search on the gap's goal (Lean). The filled proof counts only after `session.verify`.
`SearchResult.details` records every attempt, each gap, and what closed it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncGenerator, Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from prover.budget import BudgetSpent, Meter
from prover.config import Config, GenerationConfig, SketchConfig
from prover.errors import InputError
from prover.prompts import template
from prover.protocols import GenerationParams, Generator, ProofSession, SketchSession
from prover.strategies.best_first import BestFirst
from prover.strategies.closers import expand, first_closer
from prover.strategies.sketch_parse import Sketch, UnusableSketch, parse_sketch
from prover.strategies.sketch_prompts import (
    SKETCH_STOP,
    Example,
    choose_examples,
    draft_prompt,
    load_examples,
    sketch_prompt,
)
from prover.types import (
    Budget,
    Candidate,
    Failed,
    Finished,
    Language,
    ProofState,
    SearchResult,
    SearchStats,
    Status,
    TacticResult,
    Theorem,
    Verdict,
    VerdictStatus,
)

_T = TypeVar("_T")
_METHOD_START = re.compile(r"^(by|using|apply|unfolding|proof|from|with)\b")
_HAMMER_LABEL = re.compile(r"^\w*hammer:\s*")  # environments/isabelle reports `sledgehammer: by …`


class _OutOfBudget(Exception):
    """A per-theorem budget ran out; `reason` becomes the stop reason."""

    def __init__(self, reason: str, *, wall: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wall = wall


@dataclass
class _Meter:
    """Every model and proof-assistant call of one theorem goes through here: limits and counts."""

    clock: Meter  # the theorem's service time against its time budget (prover/budget.py)
    max_tactics: int
    tactics: int = 0
    expansions: int = 0
    model_calls: int = 0
    candidates: int = 0
    tokens: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    stopped: _OutOfBudget | None = None

    @property
    def model_seconds(self) -> float:
        return self.clock.model_seconds

    @property
    def env_seconds(self) -> float:
        return self.clock.env_seconds

    def remaining(self) -> float:
        return self.clock.remaining()

    def stop(self, reason: str, *, wall: bool) -> _OutOfBudget:
        """Record why the theorem's budget ran out; the caller raises the returned exception."""
        self.stopped = _OutOfBudget(reason, wall=wall)
        return self.stopped

    def _count_tactic(self) -> None:
        if self.tactics >= self.max_tactics:
            raise self.stop("max_tactics", wall=False)
        self.tactics += 1

    async def _env(self, session: ProofSession, coro: Awaitable[_T], what: str) -> _T:
        try:
            return await self.clock.env(session, coro, what)
        except BudgetSpent:
            raise self.stop(f"wall_seconds during {what}", wall=True) from None

    async def tactic(self, session: ProofSession, state: ProofState, tactic: str) -> TacticResult:
        self._count_tactic()
        result = await self._env(session, session.run_tactic(state, tactic), "tactic")
        if isinstance(result, Failed):
            self.failures[result.kind.value] += 1
        return result

    async def sketch(
        self, session: ProofSession, state: ProofState, text: str
    ) -> tuple[ProofState, ...] | Failed:
        self._count_tactic()
        result = await self._env(
            session, cast(SketchSession, session).run_sketch(state, text), "sketch"
        )
        if isinstance(result, Failed):
            self.failures[result.kind.value] += 1
        return result

    async def verify(self, session: ProofSession, proof: str) -> Verdict:
        return await self._env(session, session.verify(proof), "verify")

    async def generate(
        self, generator: Generator, prompt: str, n: int, params: GenerationParams
    ) -> list[Candidate]:
        try:
            out = await self.clock.model(generator.generate(prompt, n, params))
        except BudgetSpent:
            raise self.stop("wall_seconds during generate", wall=True) from None
        self.model_calls += 1
        self.candidates += len(out)
        self.tokens += sum(c.num_tokens for c in out)
        return out

    def absorb(self, stats: SearchStats) -> None:
        """Add a sub-search's model work (its proof-assistant calls came through `tactic`)."""
        self.model_calls += stats.model_calls
        self.candidates += stats.candidates
        self.tokens += stats.tokens
        self.clock.model_seconds += stats.model_seconds
        self.expansions += stats.expansions


class GapSession:
    """A session view whose initial state is one gap: what the Lean sub-search runs on.

    Tactics already run on the gap (the closers) are answered from memory; `verify` checks
    nothing, since a filler is only checked as part of the whole filled sketch.
    """

    def __init__(
        self,
        session: ProofSession,
        gap: ProofState,
        meter: _Meter,
        known: dict[str, TacticResult],
    ) -> None:
        self._session = session
        self._gap = gap
        self._meter = meter
        self._known = known

    @property
    def initial_state(self) -> ProofState:
        return self._gap

    @property
    def queued_seconds(self) -> float | None:
        """The theorem session's queueing, so the sub-search's budget leaves it out too."""
        return getattr(self._session, "queued_seconds", None)

    async def run_tactic(self, state: ProofState, tactic: str) -> TacticResult:
        if state == self._gap and tactic in self._known:
            return self._known[tactic]
        return await self._meter.tactic(self._session, state, tactic)

    async def verify(self, proof: str) -> Verdict:
        return Verdict(VerdictStatus.UNCHECKED, "sketch-gap", "checked with the whole sketch")

    def assemble(self, steps: Sequence[str]) -> str:
        return "\n".join(steps)

    async def close(self) -> None:
        return None


def _cut(text: str, stops: Sequence[str]) -> str:
    for stop in stops:
        at = text.find(stop)
        if at >= 0:
            text = text[:at]
    return text


def _ranked(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Best mean log-prob first; ties keep the generator's order (greedy output stays first)."""
    return sorted(candidates, key=lambda c: -c.score("mean"))


def hammer_filler(result: Finished, step: str) -> str:
    """The proof text a successful hammer step reports (`by …`, possibly after a `sledgehammer:`
    label), else the step itself (the session's verify then has to close it again)."""
    lines = [_HAMMER_LABEL.sub("", m.strip()) for m in result.messages if m.strip()]
    for line in lines:
        if _METHOD_START.match(line):
            return line
    return step


class SketchStrategy:
    """Draft, Sketch, Prove (see module docstring)."""

    name = "sketch"

    def __init__(
        self,
        settings: SketchConfig,
        *,
        examples: Sequence[Example],
        generation: GenerationConfig | None = None,
        sub_search: BestFirst | None = None,
        allow_eval: bool = True,
    ) -> None:
        self.settings = settings
        self.allow_eval = allow_eval  # Isabelle's `by eval` closers only with isabelle.allow_eval
        self.examples = tuple(examples)
        gen = generation or GenerationConfig()
        self.sketch_params = GenerationParams(
            temperature=settings.temperature,
            top_p=gen.top_p,
            max_tokens=settings.max_tokens,
            stop=SKETCH_STOP,
        )
        self.draft_max_tokens = settings.draft_max_tokens
        self.sub_search = sub_search

    def closers(self, language: str) -> tuple[str, ...]:
        """The cheap closers tried on every gap of a `language` sketch."""
        listed = (
            self.settings.isabelle_closers
            if language == Language.ISABELLE
            else self.settings.lean_closers
        )
        return expand(listed, language, allow_eval=self.allow_eval)

    async def search(
        self, theorem: Theorem, session: ProofSession, generator: Generator, budget: Budget
    ) -> SearchResult:
        if not isinstance(session, SketchSession):
            raise InputError(
                f"the '{self.name}' strategy needs an environment that checks sketches "
                "(run_sketch): use --env lean-repl or --env isabelle"
            )
        meter = _Meter(Meter(budget.wall_seconds), budget.max_tactics)
        examples = choose_examples(theorem, self.examples, self.settings.shots)
        attempts: list[dict[str, Any]] = []
        details: dict[str, Any] = {
            "strategy": self.name,
            "language": theorem.language,
            "draft": self.settings.draft,
            "examples": [e.name for e in examples],
            "attempts": attempts,
        }

        def finish(status: Status, reason: str, **extra: Any) -> SearchResult:
            stats = meter.clock.stats(
                reason,
                expansions=meter.expansions,
                tactics_run=meter.tactics,
                model_calls=meter.model_calls,
                candidates=meter.candidates,
                tokens=meter.tokens,
                failures=dict(meter.failures),
            )
            return SearchResult(
                theorem=theorem.name, status=status, stats=stats, details=details, **extra
            )

        seen: set[str] = set()
        completions = self._completions(theorem, generator, examples, meter)
        try:
            async for draft, completion in completions:
                record: dict[str, Any] = {"attempt": len(attempts) + 1}
                attempts.append(record)
                if draft is not None:
                    record["draft"] = draft
                    if not draft:
                        record.update(outcome="unusable", message="the model drafted nothing")
                        continue
                found = await self._attempt(
                    theorem, session, generator, meter, completion, record, seen
                )
                if found is not None:
                    proof, steps, verdict = found
                    details["sketch"] = record["sketch"]
                    details["gaps"] = record["gaps"]
                    return finish(
                        Status.PROVED,
                        "proved",
                        proof=proof,
                        steps=steps,
                        verified=verdict.verified,
                        verified_by=verdict.checked_by,
                    )
            return finish(Status.FAILED, "attempts")
        except _OutOfBudget as exc:
            if attempts and "outcome" not in attempts[-1]:
                attempts[-1]["outcome"] = "stopped"
                attempts[-1]["message"] = exc.reason
            return finish(Status.TIMEOUT if exc.wall else Status.FAILED, exc.reason)
        except InputError:
            raise
        except Exception as exc:  # a backend fault ends this attempt, never the run
            return finish(Status.ERROR, "error", error=f"{type(exc).__name__}: {exc}")
        finally:
            await completions.aclose()

    async def _completions(
        self,
        theorem: Theorem,
        generator: Generator,
        examples: Sequence[Example],
        meter: _Meter,
    ) -> AsyncGenerator[tuple[str | None, str], None]:
        """(drafted informal proof or None, sketch completion), lazily, at most `attempts`."""
        k = self.settings.attempts
        if self.settings.draft == "given":
            proof = theorem.informal_proof
            if not proof or not proof.strip():
                raise InputError(
                    f"theorem '{theorem.name}' has no informal proof; "
                    "use --set sketch.draft=model to have the model draft one"
                )
            prompt = sketch_prompt(theorem, proof, examples)
            sketches = await meter.generate(generator, prompt.text, k, self.sketch_params)
            for cand in _ranked(sketches)[:k]:
                yield None, cand.text
            return
        dprompt = draft_prompt(theorem, examples)
        params = GenerationParams(
            temperature=self.sketch_params.temperature,
            top_p=self.sketch_params.top_p,
            max_tokens=self.draft_max_tokens,
            stop=dprompt.stop,
        )
        drafts = _ranked(await meter.generate(generator, dprompt.text, k, params))[:k]
        for cand in drafts:
            draft = _cut(cand.text, dprompt.stop).strip()
            if not draft:
                yield "", ""  # recorded as an unusable attempt, without asking for a sketch
                continue
            prompt = sketch_prompt(theorem, draft, examples)
            sketches = await meter.generate(generator, prompt.text, 1, self.sketch_params)
            yield draft, (sketches[0].text if sketches else "")

    async def _attempt(
        self,
        theorem: Theorem,
        session: ProofSession,
        generator: Generator,
        meter: _Meter,
        completion: str,
        record: dict[str, Any],
        seen: set[str],
    ) -> tuple[str, tuple[str, ...], Verdict] | None:
        """Check one sketch and close its gaps; the verified proof, or None (see `record`)."""
        try:
            sketch = parse_sketch(_cut(completion, SKETCH_STOP), theorem.language)
        except UnusableSketch as exc:
            record.update(outcome="unusable", message=str(exc))
            return None
        record["sketch"] = sketch.text
        if sketch.text in seen:
            record["outcome"] = "duplicate"
            return None
        seen.add(sketch.text)
        meter.expansions += 1
        states = await meter.sketch(session, session.initial_state, sketch.text)
        if isinstance(states, Failed):
            record.update(outcome="skeleton failed", kind=states.kind.value, message=states.message)
            return None
        if len(states) != len(sketch.gaps):
            record.update(
                outcome="gap mismatch",
                message=f"the sketch has {len(sketch.gaps)} gaps, the checker saw {len(states)}",
            )
            return None
        gaps = [
            {"index": i, "line": gap.context(sketch.text), "goal": state.pretty, "status": "open"}
            for i, (gap, state) in enumerate(zip(sketch.gaps, states, strict=True))
        ]
        record["gaps"] = gaps
        fillers: list[str] = []
        for gap_record, state in zip(gaps, states, strict=True):
            filler = await self._close_gap(theorem, session, generator, meter, state, gap_record)
            if filler is None:
                for later in gaps[len(fillers) + 1 :]:
                    later["status"] = "not tried"
                number = gap_record["index"] + 1
                record.update(outcome="gap open", message=f"gap {number} of {len(gaps)} not closed")
                return None
            fillers.append(filler)
        return await self._check(session, meter, sketch, fillers, record)

    async def _check(
        self,
        session: ProofSession,
        meter: _Meter,
        sketch: Sketch,
        fillers: Sequence[str],
        record: dict[str, Any],
    ) -> tuple[str, tuple[str, ...], Verdict] | None:
        # One step: sessions re-indent each step as a unit, so the sketch keeps its layout.
        steps = (sketch.fill(fillers).strip("\n"),)
        proof = session.assemble(steps)
        record["proof"] = proof
        verdict = await meter.verify(session, proof)
        if verdict.status is VerdictStatus.REJECTED:
            record.update(outcome="rejected", message=verdict.message)
            return None
        record["outcome"] = "proved"
        return proof, steps, verdict

    async def _close_gap(
        self,
        theorem: Theorem,
        session: ProofSession,
        generator: Generator,
        meter: _Meter,
        state: ProofState,
        record: dict[str, Any],
    ) -> str | None:
        """Closers, then the hammer (Isabelle) or the sub-search (Lean); the filler or None."""
        known: dict[str, TacticResult] = {}

        async def run(st: ProofState, tactic: str) -> TacticResult:
            known[tactic] = await meter.tactic(session, st, tactic)
            return known[tactic]

        outcome = await first_closer(state, self.closers(theorem.language), run)
        record["tried"] = [t.to_json() for t in outcome.tried]
        if outcome.closed_by is not None:
            record.update(status="closed", method="closer", filler=outcome.closed_by)
            return outcome.closed_by
        hammer = self.settings.isabelle_hammer
        if theorem.language == Language.ISABELLE and hammer:
            result = await meter.tactic(session, state, hammer)
            if isinstance(result, Finished):
                filler = hammer_filler(result, hammer)
                record.update(status="closed", method="hammer", filler=filler)
                return filler
            message = result.message if isinstance(result, Failed) else "goal not closed"
            record["hammer"] = {"step": hammer, "message": message[:500]}
        if theorem.language == Language.LEAN4 and self.sub_search is not None:
            sub = await self._sub_search(theorem, session, generator, meter, state, known)
            record["search"] = {
                "status": sub.status.value,
                "stop_reason": sub.stats.stop_reason,
                "expansions": sub.stats.expansions,
                "model_calls": sub.stats.model_calls,
            }
            if sub.proved:
                filler = "\n".join(sub.steps)
                record.update(status="closed", method="search", filler=filler)
                return filler
        return None

    async def _sub_search(
        self,
        theorem: Theorem,
        session: ProofSession,
        generator: Generator,
        meter: _Meter,
        state: ProofState,
        known: dict[str, TacticResult],
    ) -> SearchResult:
        assert self.sub_search is not None
        remaining = meter.remaining()
        if remaining <= 0:
            raise meter.stop("wall_seconds during sub-search", wall=True)
        tactics_left = meter.max_tactics - meter.tactics
        if tactics_left <= 0:
            raise meter.stop("max_tactics", wall=False)
        budget = Budget(
            samples=self.settings.search_samples,
            max_expansions=self.settings.search_expansions,
            # Tactics answered from `known` cost nothing but are counted by the sub-search.
            max_tactics=tactics_left + len(known),
            wall_seconds=min(self.settings.search_seconds, remaining),
        )
        view = GapSession(session, state, meter, known)
        result = await self.sub_search.search(theorem, view, generator, budget)
        meter.absorb(result.stats)
        if meter.stopped is not None:  # the parent's budget ran out inside the sub-search
            raise meter.stopped
        return result


def describe_gaps(details: Mapping[str, Any]) -> str:
    """Plain text for reports: each attempt's outcome, then every gap and what closed it."""
    lines: list[str] = []
    for record in details.get("attempts", []):
        head = f"attempt {record.get('attempt')}: {record.get('outcome', '?')}"
        if record.get("message"):
            head += f" ({str(record['message']).splitlines()[0][:120]})"
        lines.append(head)
        for gap in record.get("gaps", []):
            where = f"  gap {gap['index'] + 1} `{gap['line']}`: {gap['status']}"
            if gap.get("method"):
                filler = " ; ".join(str(gap["filler"]).splitlines())
                where += f" by {gap['method']} `{filler}`"
            elif gap["status"] == "open":
                where += f" after {len(gap.get('tried', []))} closers"
                if "hammer" in gap:
                    where += ", Sledgehammer"
                if "search" in gap:
                    where += f", sub-search ({gap['search']['stop_reason']})"
            lines.append(where)
    return "\n".join(lines)


def create(config: Config) -> SketchStrategy:
    """Entry point: the sketch strategy configured from `[sketch]` (see prover/config.py)."""
    settings = config.sketch
    gen = config.generation
    sub_search = None
    if settings.search_expansions > 0:
        sub_search = BestFirst(
            score=config.search.score,
            prompt=template(config.search.prompt),
            params=GenerationParams(
                temperature=gen.temperature, top_p=gen.top_p, max_tokens=gen.max_tokens
            ),
            closers=settings.lean_closers,
        )
    return SketchStrategy(
        settings,
        examples=load_examples(settings.examples or None),
        generation=gen,
        sub_search=sub_search,
        allow_eval=config.section("isabelle").allow_eval,
    )
