"""Best-first tactic search with Llemma's semantics and its defects fixed.

Priority of a state = sum over its path of the negated per-tactic score (mean token log-prob by
default, cumulative with `score = "sum"`); the lowest priority is expanded first. States are
de-duplicated on their pretty-printed goals when pushed, and every budget is finite.

With `closers` (config `search.closers`), every new state, the root included, is first offered
to those tactics; one that finishes the goal (and passes the whole-proof check) ends the search
without a model call for that state. With no closers the search is exactly the one above.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from prover.budget import BudgetSpent, Meter
from prover.config import Config
from prover.prompts import PromptTemplate, clean_candidates, template
from prover.protocols import GenerationParams, Generator, ProofSession
from prover.search_tree import SearchTree
from prover.strategies.closers import expand, first_closer, ran_text
from prover.types import (
    Budget,
    Candidate,
    Failed,
    FailureKind,
    Finished,
    NewState,
    ProofState,
    SearchResult,
    Status,
    TacticResult,
    Theorem,
    Verdict,
    VerdictStatus,
)


class _OutOfTactics(Exception):
    """The tactic budget ran out while closers were being tried."""


@dataclass
class _Counts:
    expansions: int = 0
    tactics: int = 0
    model_calls: int = 0
    candidates: int = 0
    tokens: int = 0
    closer_tries: int = 0


@dataclass(frozen=True)
class _Checked:
    """A finish the whole-proof check accepted: the steps, the assembled proof, the verdict."""

    steps: tuple[str, ...]
    proof: str
    verdict: Verdict


class BestFirst:
    """Best-first search over tactic states (see module docstring)."""

    name = "best-first"

    def __init__(
        self,
        *,
        score: str = "mean",
        prompt: PromptTemplate | None = None,
        params: GenerationParams | None = None,
        closers: Sequence[str] = (),
        allow_eval: bool = True,
    ) -> None:
        if score not in ("mean", "sum"):
            raise ValueError(f"score must be 'mean' or 'sum', not {score!r}")
        self.score = score
        self.closers = tuple(closers)
        self.allow_eval = allow_eval  # Isabelle's `by eval` closers count only when allowed
        self.prompt = prompt or template("llemma")
        base = params or GenerationParams()
        self.params = GenerationParams(
            temperature=base.temperature,
            top_p=base.top_p,
            max_tokens=base.max_tokens,
            stop=base.stop or self.prompt.stop,
            beam=base.beam,
        )

    async def search(
        self, theorem: Theorem, session: ProofSession, generator: Generator, budget: Budget
    ) -> SearchResult:
        attempt = _Attempt(self, theorem, session, generator, budget)
        try:
            return await attempt.run()
        except _OutOfTactics:
            return attempt.finish(Status.FAILED, "max_tactics")
        except BudgetSpent as exc:
            return attempt.finish(Status.TIMEOUT, f"wall_seconds during {exc.what}")
        except Exception as exc:  # a backend fault ends this attempt, never the run
            return attempt.finish(Status.ERROR, "error", error=f"{type(exc).__name__}: {exc}")


class _Attempt:
    """One search of one theorem: the frontier, the tree and the counters, in small steps."""

    def __init__(
        self,
        strategy: BestFirst,
        theorem: Theorem,
        session: ProofSession,
        generator: Generator,
        budget: Budget,
    ) -> None:
        self.strategy = strategy
        self.theorem = theorem
        self.session = session
        self.generator = generator
        self.budget = budget
        self.meter = Meter(budget.wall_seconds)  # service time, not time queued
        self.counts = _Counts()
        self.failures: Counter[str] = Counter()
        self.tree = SearchTree()
        self.closers = expand(strategy.closers, theorem.language, allow_eval=strategy.allow_eval)
        root_state = session.initial_state
        self.root = self.tree.add_state(root_state, priority=0.0, depth=0)
        self.seen: dict[str, int] = {root_state.pretty: self.root}
        self._order = itertools.count()
        self.frontier: list[tuple[float, int, int]] = [(0.0, next(self._order), self.root)]

    async def run(self) -> SearchResult:
        """Expand the best state until a proof is found or a budget or the frontier runs out."""
        if (closed := await self.try_closers(self.root)) is not None:
            return closed
        while self.frontier:
            if self.counts.expansions >= self.budget.max_expansions:
                return self.finish(Status.FAILED, "max_expansions")
            if self.counts.tactics >= self.budget.max_tactics:
                return self.finish(Status.FAILED, "max_tactics")
            priority, _, node = heapq.heappop(self.frontier)
            if (proved := await self.expand(node, priority)) is not None:
                return proved
        return self.finish(Status.FAILED, "exhausted")

    async def expand(self, node: int, priority: float) -> SearchResult | None:
        """Ask the model for tactics at `node` and run each; a verified finish ends the search."""
        self.counts.expansions += 1
        self.tree.mark_expanded(node, self.counts.expansions)
        for cand in await self.propose(self.tree.state(node)):
            if self.counts.tactics >= self.budget.max_tactics:
                return self.finish(Status.FAILED, "max_tactics")
            if (proved := await self.try_candidate(node, priority, cand)) is not None:
                return proved
        return None

    async def propose(self, state: ProofState) -> list[Candidate]:
        """One model call for `state`: cleaned, de-duplicated candidates, best first."""
        prompt = self.strategy.prompt.render(state, self.theorem)
        samples = self.budget.samples
        raw = await self.meter.model(self.generator.generate(prompt, samples, self.strategy.params))
        self.counts.model_calls += 1
        self.counts.candidates += len(raw)
        self.counts.tokens += sum(c.num_tokens for c in raw)
        return clean_candidates(raw, self.strategy.prompt, self.strategy.score)

    async def try_candidate(
        self, node: int, priority: float, cand: Candidate
    ) -> SearchResult | None:
        """Run one candidate tactic at `node` and record what it led to."""
        self.counts.tactics += 1
        state = self.tree.state(node)
        result = await self.meter.env(self.session, self.session.run_tactic(state, cand.text))
        score = cand.score(self.strategy.score)
        # the text that ran (a `sledgehammer` step as the tactic that closed it): what the tree,
        # the proof and the judge see
        text = ran_text(cand.text, result)
        if isinstance(result, Failed):
            self.failures[result.kind.value] += 1
            self.tree.add_failure(node, cand.text, score, result)
            return None
        if isinstance(result, Finished):
            checked = await self.check_finish(node, text, score)
            if checked is None:
                return None
            self.tree.add_finished(node, text, score)
            return self.proved(checked)
        assert isinstance(result, NewState)
        child = self.push(node, priority, text, score, result.state)
        return None if child is None else await self.try_closers(child)

    def push(
        self, node: int, priority: float, text: str, score: float, state: ProofState
    ) -> int | None:
        """Add a new state to the tree and the frontier; None if its goals were seen before."""
        key = state.pretty
        if key in self.seen:
            self.tree.add_edge(node, self.seen[key], text, score, duplicate=True)
            return None
        child_priority = priority - score
        child = self.tree.add_state(state, priority=child_priority, depth=self.tree.depth(node) + 1)
        self.tree.add_edge(node, child, text, score)
        self.seen[key] = child
        heapq.heappush(self.frontier, (child_priority, next(self._order), child))
        return child

    async def check_finish(self, node: int, tactic: str, score: float) -> _Checked | None:
        """Whole-proof check of the path to `node` plus `tactic`; a rejection is recorded as
        that tactic's failure and the search goes on."""
        steps = (*self.tree.path(node), tactic)
        proof = self.session.assemble(steps)
        verdict = await self.meter.env(self.session, self.session.verify(proof), "verify")
        if verdict.status is VerdictStatus.REJECTED:
            self.failures[FailureKind.ERROR.value] += 1
            message = f"whole-proof check rejected: {verdict.message}"
            self.tree.add_failure(node, tactic, score, Failed(FailureKind.ERROR, message))
            return None
        return _Checked(steps, proof, verdict)

    async def try_closers(self, node: int) -> SearchResult | None:
        """Offer a new state to the closers; a verified finish is the search's result."""
        if not self.closers:
            return None
        found: list[_Checked] = []

        async def run(state: ProofState, tactic: str) -> TacticResult:
            if self.counts.tactics >= self.budget.max_tactics:
                raise _OutOfTactics
            self.counts.tactics += 1
            self.counts.closer_tries += 1
            return await self.meter.env(self.session, self.session.run_tactic(state, tactic))

        async def accept(tactic: str) -> bool:
            checked = await self.check_finish(node, tactic, 0.0)
            if checked is not None:
                found.append(checked)
            return checked is not None

        outcome = await first_closer(self.tree.state(node), self.closers, run, accept)
        if outcome.closed_by is None:
            return None
        self.tree.add_finished(node, outcome.closed_by, 0.0)
        leaf = self.tree.graph.number_of_nodes() - 1
        self.tree.graph.edges[node, leaf]["closer"] = True
        return self.proved(found[-1], closed_by=outcome.closed_by)

    def proved(self, checked: _Checked, **extra: object) -> SearchResult:
        return self.finish(
            Status.PROVED,
            "proved",
            proof=checked.proof,
            steps=checked.steps,
            verified=checked.verdict.verified,
            verified_by=checked.verdict.checked_by,
            **extra,
        )

    def finish(self, status: Status, reason: str, **extra: object) -> SearchResult:
        """The attempt's result, with its statistics and tree, however it ended."""
        counts = self.counts
        stats = self.meter.stats(
            reason,
            expansions=counts.expansions,
            tactics_run=counts.tactics,
            model_calls=counts.model_calls,
            candidates=counts.candidates,
            tokens=counts.tokens,
            failures=dict(self.failures),
        )
        if self.closers:
            closed_by = extra.pop("closed_by", None)
            extra["details"] = {
                "closers": {
                    "list": list(self.closers),
                    "tried": counts.closer_tries,
                    "closed_by": closed_by,
                }
            }
        return SearchResult(
            theorem=self.theorem.name,
            status=status,
            stats=stats,
            tree=self.tree.to_json(),
            **extra,
        )


def create(config: Config) -> BestFirst:
    """Entry point: best-first search configured from `[search]` and `[generation]`."""
    gen = config.generation
    return BestFirst(
        score=config.search.score,
        prompt=template(config.search.prompt),
        params=GenerationParams(
            temperature=gen.temperature, top_p=gen.top_p, max_tokens=gen.max_tokens
        ),
        closers=config.search.closers,
        allow_eval=config.section("isabelle").allow_eval,
    )
