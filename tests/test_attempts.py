"""pass@k attempts sample independently although identical requests are generated once."""

from __future__ import annotations

import dataclasses

from environments.replay import ReplayEnvironment
from prover.generators.cache import cached
from prover.prompts import template
from prover.run import ATTEMPT_KEY, Components, attempt, attempt_many, concurrency_for
from prover.strategies.best_first import BestFirst
from prover.types import Budget, Candidate, Status, Theorem

THM = Theorem(name="t", statement="theorem t : True := by")


class _Counting:
    name = "counting"

    def __init__(self) -> None:
        self.seeds: list[int | None] = []

    async def generate(self, prompt, n, params=None):
        self.seeds.append(params.seed if params else None)
        return [Candidate("simp", -0.1, 1)]

    async def close(self) -> None:
        return None


class _Broken:
    name = "broken-plugin"

    async def search(self, theorem, session, generator, budget):
        return None  # a plug-in bug: must be reported as the plug-in's, not crash the run


async def test_a_strategy_returning_no_result_is_an_error_naming_it():
    env = ReplayEnvironment([{"type": "open", "theorem": "t", "statement": "", "goals": ["⊢ x"]}])
    parts = Components(env, _Counting(), _Broken())
    (result,) = await attempt_many([THM], parts, Budget(), 1)
    assert result.status is Status.ERROR
    assert "strategy 'broken-plugin' returned NoneType" in result.error


async def test_attempts_get_distinct_seeds_and_the_cache_keeps_repeats_single():
    env = ReplayEnvironment([{"type": "open", "theorem": "t", "statement": "", "goals": ["⊢ x"]}])
    inner = _Counting()
    parts = Components(env, cached(inner, 100), BestFirst(prompt=template("llemma")))
    budget = Budget(samples=2, max_expansions=1)
    for index in (0, 1, 2, 1):
        theorem = dataclasses.replace(THM, metadata={ATTEMPT_KEY: index})
        result = await attempt(theorem, parts, budget)
        assert result.stats.model_calls == 1
    # attempt 1 repeated: served from the cache; attempts 0, 1, 2 each reached the model, each
    # owning the next n = 2 seeds of this request's range
    first = inner.seeds[0]
    assert first is not None and inner.seeds == [first, first + 2, first + 4]


def test_default_concurrency_is_the_environments_capacity():
    class Pool:
        capacity = 15

    assert concurrency_for(Pool(), 0) == 15  # one theorem per REPL process / PISA server
    assert concurrency_for(Pool(), 4) == 4  # an explicit --concurrency wins
    assert concurrency_for(object(), 0) == 8  # environments that do not say
