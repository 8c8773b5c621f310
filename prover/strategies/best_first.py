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
    SearchStats,
    Status,
    TacticResult,
    Theorem,
    Verdict,
    VerdictStatus,
)


class _OutOfTactics(Exception):
    """The tactic budget ran out while closers were being tried."""


@dataclass
class _Timers:
    model_calls: int = 0
    candidates: int = 0
    tokens: int = 0
    closer_tries: int = 0


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
        meter = Meter(budget.wall_seconds)  # service time, not time queued (prover/budget.py)
        timers = _Timers()
        failures: Counter[str] = Counter()
        tree = SearchTree()
        root_state = session.initial_state
        root = tree.add_state(root_state, priority=0.0, depth=0)
        seen: dict[str, int] = {root_state.pretty: root}
        order = itertools.count()
        heap: list[tuple[float, int, int]] = [(0.0, next(order), root)]
        expansions = 0
        tactics = 0
        closers = expand(self.closers, theorem.language, allow_eval=self.allow_eval)

        def finish(status: Status, reason: str, **extra: object) -> SearchResult:
            total = meter.elapsed()
            stats = SearchStats(
                model_seconds=meter.model_seconds,
                env_seconds=meter.env_seconds,
                queued_seconds=meter.queued_seconds,
                search_seconds=max(0.0, total - meter.used - meter.queued_seconds),
                total_seconds=total,
                expansions=expansions,
                tactics_run=tactics,
                model_calls=timers.model_calls,
                candidates=timers.candidates,
                tokens=timers.tokens,
                failures=dict(failures),
                stop_reason=reason,
            )
            if closers:
                closed_by = extra.pop("closed_by", None)
                extra["details"] = {
                    "closers": {
                        "list": list(closers),
                        "tried": timers.closer_tries,
                        "closed_by": closed_by,
                    }
                }
            return SearchResult(
                theorem=theorem.name, status=status, stats=stats, tree=tree.to_json(), **extra
            )

        async def check_finish(
            node: int, tactic: str, score: float
        ) -> tuple[tuple[str, ...], str, Verdict] | None:
            """Whole-proof check of the path to `node` plus `tactic`; a rejection is recorded as
            that tactic's failure and the search goes on."""
            steps = (*tree.path(node), tactic)
            proof = session.assemble(steps)
            verdict = await meter.env(session, session.verify(proof), "verify")
            if verdict.status is VerdictStatus.REJECTED:
                failures[FailureKind.ERROR.value] += 1
                message = f"whole-proof check rejected: {verdict.message}"
                tree.add_failure(node, tactic, score, Failed(FailureKind.ERROR, message))
                return None
            return steps, proof, verdict

        async def try_closers(node: int) -> SearchResult | None:
            """Offer a new state to the closers; a verified finish is the search's result."""
            nonlocal tactics
            found: list[tuple[tuple[str, ...], str, Verdict]] = []

            async def run(state: ProofState, tactic: str) -> TacticResult:
                nonlocal tactics
                if tactics >= budget.max_tactics:
                    raise _OutOfTactics
                tactics += 1
                timers.closer_tries += 1
                return await meter.env(session, session.run_tactic(state, tactic))

            async def accept(tactic: str) -> bool:
                checked = await check_finish(node, tactic, 0.0)
                if checked is not None:
                    found.append(checked)
                return checked is not None

            outcome = await first_closer(tree.state(node), closers, run, accept)
            if outcome.closed_by is None:
                return None
            tree.add_finished(node, outcome.closed_by, 0.0)
            leaf = tree.graph.number_of_nodes() - 1
            tree.graph.edges[node, leaf]["closer"] = True
            steps, proof, verdict = found[-1]
            return finish(
                Status.PROVED,
                "proved",
                proof=proof,
                steps=steps,
                verified=verdict.verified,
                verified_by=verdict.checked_by,
                closed_by=outcome.closed_by,
            )

        try:
            if closers and (closed := await try_closers(root)) is not None:
                return closed
            while heap:
                if expansions >= budget.max_expansions:
                    return finish(Status.FAILED, "max_expansions")
                if tactics >= budget.max_tactics:
                    return finish(Status.FAILED, "max_tactics")
                priority, _, node = heapq.heappop(heap)
                state: ProofState = tree.state(node)
                expansions += 1
                tree.mark_expanded(node, expansions)

                prompt = self.prompt.render(state, theorem)
                raw = await meter.model(generator.generate(prompt, budget.samples, self.params))
                timers.model_calls += 1
                timers.candidates += len(raw)
                timers.tokens += sum(c.num_tokens for c in raw)
                candidates: list[Candidate] = clean_candidates(raw, self.prompt, self.score)

                for cand in candidates:
                    if tactics >= budget.max_tactics:
                        return finish(Status.FAILED, "max_tactics")
                    tactics += 1
                    result = await meter.env(session, session.run_tactic(state, cand.text))
                    cand_score = cand.score(self.score)
                    # the text that ran (a `sledgehammer` step as the tactic that closed it): what
                    # the tree, the proof and the judge see
                    text = ran_text(cand.text, result)

                    if isinstance(result, Failed):
                        failures[result.kind.value] += 1
                        tree.add_failure(node, cand.text, cand_score, result)
                        continue

                    if isinstance(result, Finished):
                        checked = await check_finish(node, text, cand_score)
                        if checked is None:
                            continue
                        steps, proof, verdict = checked
                        tree.add_finished(node, text, cand_score)
                        return finish(
                            Status.PROVED,
                            "proved",
                            proof=proof,
                            steps=steps,
                            verified=verdict.verified,
                            verified_by=verdict.checked_by,
                        )

                    assert isinstance(result, NewState)
                    key = result.state.pretty
                    if key in seen:
                        tree.add_edge(node, seen[key], text, cand_score, duplicate=True)
                        continue
                    child_priority = priority - cand_score
                    child = tree.add_state(
                        result.state, priority=child_priority, depth=tree.depth(node) + 1
                    )
                    tree.add_edge(node, child, text, cand_score)
                    seen[key] = child
                    heapq.heappush(heap, (child_priority, next(order), child))
                    if closers and (closed := await try_closers(child)) is not None:
                        return closed
            return finish(Status.FAILED, "exhausted")
        except _OutOfTactics:
            return finish(Status.FAILED, "max_tactics")
        except BudgetSpent as exc:
            return finish(Status.TIMEOUT, f"wall_seconds during {exc.what}")
        except Exception as exc:  # a backend fault ends this attempt, never the run
            return finish(Status.ERROR, "error", error=f"{type(exc).__name__}: {exc}")


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
        allow_eval=config.isabelle.allow_eval,
    )
