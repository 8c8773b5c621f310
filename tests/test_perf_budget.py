"""The per-theorem budget (prover/budget.py): the theorem's own service time, not time queued."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from benchmarks.perf import clock
from benchmarks.perf.backend import run_backend, sim_theorems
from benchmarks.perf.settings import SimConfig
from prover.budget import BudgetSpent, Meter
from prover.config import Config


class _QueuedSession:
    """A session whose calls wait `queue` seconds for a shared process, then take `service`."""

    def __init__(self, queue: float, service: float) -> None:
        self.queue, self.service = queue, service
        self.queued_seconds = 0.0

    async def call(self) -> str:
        await asyncio.sleep(self.queue)
        self.queued_seconds += self.queue
        await asyncio.sleep(self.service)
        return "done"


class _PlainSession:
    async def call(self, seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "done"


def test_queued_time_is_not_counted_and_model_waits_are() -> None:
    async def main() -> Meter:
        meter = Meter(10.0)
        session = _QueuedSession(queue=3.0, service=1.0)
        for _ in range(4):
            assert await meter.env(session, session.call()) == "done"
        await meter.model(asyncio.sleep(2.0))
        return meter

    meter = clock.run(main(), virtual=True)
    assert meter.env_seconds == pytest.approx(4.0)
    assert meter.queued_seconds == pytest.approx(12.0)
    assert meter.model_seconds == pytest.approx(2.0)
    assert meter.used == pytest.approx(6.0) and meter.elapsed() == pytest.approx(18.0)


def test_the_budget_ends_calls_and_refuses_new_ones() -> None:
    async def main() -> tuple[Meter, list[str]]:
        meter = Meter(5.0)
        seen = []
        try:
            await meter.env(_PlainSession(), _PlainSession().call(3.0))
            await meter.env(_PlainSession(), _PlainSession().call(30.0))  # cut at the budget
        except BudgetSpent as exc:
            seen.append(exc.what)
        with pytest.raises(BudgetSpent):
            await meter.model(asyncio.sleep(1.0))  # nothing left: refused, coroutine closed
        return meter, seen

    meter, seen = clock.run(main(), virtual=True)
    assert seen == ["tactic"] and meter.env_seconds == pytest.approx(5.0)


def _budgeted(concurrency: int, seconds: float) -> list[tuple[str, int, float, float]]:
    config = Config(plugins={"sim": SimConfig(workers=3, seed=2)})
    budget = dataclasses.replace(config.search.budget(), samples=8, wall_seconds=seconds)
    run = clock.run(run_backend(config, sim_theorems(9), budget, concurrency), virtual=True)
    return [
        (
            r.stats.stop_reason,
            r.stats.expansions,
            r.stats.model_seconds + r.stats.env_seconds,
            r.stats.queued_seconds,
        )
        for r in run.results
    ]


def test_a_theorem_gets_the_same_search_at_any_concurrency() -> None:
    """Nine theorems on three Lean processes, one at a time or all at once: with a wall-clock
    budget the crowded run would get a third of the search; here each gets about the same."""
    alone = _budgeted(1, 60.0)
    crowded = _budgeted(9, 60.0)
    assert sum(q for *_, q in alone) == 0.0
    assert sum(q for *_, q in crowded) > 60.0  # real queueing happened, and was not counted
    for (reason_a, exp_a, used_a, _), (_, exp_c, used_c, _) in zip(alone, crowded, strict=True):
        assert used_a <= 60.0 + 60.0 and used_c <= 60.0 + 60.0  # at most one request over
        if reason_a.startswith("wall_seconds"):
            assert exp_c >= 0.8 * exp_a
    assert any(reason.startswith("wall_seconds") for reason, *_ in alone)
