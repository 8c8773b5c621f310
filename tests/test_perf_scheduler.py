"""The what-if scheduler study (SimEnvironment), search-overhead measurement and CLI of
benchmarks/perf.

Structural properties only (same work, fractions in range, bounds really are lower bounds); no
timing thresholds that a loaded CI machine could miss.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os

import pytest

from benchmarks.perf import clock
from benchmarks.perf.__main__ import main
from benchmarks.perf.overhead import measure_overhead
from benchmarks.perf.scheduler import (
    UNBOUNDED_WALL,
    Comparison,
    Measurement,
    run_comparison,
    run_sequential,
    sim_theorems,
)
from benchmarks.perf.settings import SimConfig
from benchmarks.perf.sim import SimEnvironment, SimGenerator
from prover.config import Config, load_config
from prover.protocols import Generator, ProofSession
from prover.run import Components, attempt_many
from prover.types import Budget, SearchResult, Status, Theorem

BUDGET = Budget(samples=32, max_expansions=6, max_tactics=3200, wall_seconds=UNBOUNDED_WALL)


def _config(**sim: object) -> Config:
    base = {"workers": 3, "seed": 1, "close_probability": 0.1, "provable_fraction": 0.5}
    return Config(plugins={"sim": SimConfig(**{**base, **sim})})  # type: ignore[arg-type]


def _check_fractions(m: Measurement) -> None:
    assert 0.0 < m.gpu_busy_fraction <= 1.0 + 1e-9
    assert 0.0 < m.worker_busy_fraction <= 1.0 + 1e-9
    assert 1 <= m.max_workers_in_use <= m.workers


@pytest.fixture(scope="module")
def virtual_run() -> Comparison:
    return run_comparison(_config(), sim_theorems(8), BUDGET, (2, 8), virtual=True)


def test_same_seed_gives_every_scheduler_the_same_work(virtual_run: Comparison) -> None:
    seq = virtual_run.sequential
    assert seq is not None and virtual_run.same_work
    for runner in virtual_run.runners:
        assert runner.work.signature == seq.work.signature
        assert runner.work.sequences == seq.work.sequences
        assert runner.work.worker_seconds == pytest.approx(seq.work.worker_seconds, rel=1e-9)
    assert 0 < seq.work.proved < seq.work.theorems  # a mix, so both kinds of search are timed
    assert seq.work.tactics > 100
    other = run_comparison(_config(seed=2), sim_theorems(8), BUDGET, (8,), sequential=False)
    assert other.runners[0].work.signature != seq.work.signature


def test_fractions_and_bounds(virtual_run: Comparison) -> None:
    seq = virtual_run.sequential
    assert seq is not None
    bound = virtual_run.bound
    for m in (seq, *virtual_run.runners):
        _check_fractions(m)
        # Both are lower bounds on any schedule's wall time.
        assert m.wall_seconds >= bound.seconds * (1 - 1e-9)
        assert m.wall_seconds >= m.longest_theorem_seconds * (1 - 1e-9)
        assert m.wall_seconds <= seq.wall_seconds * (1 + 1e-9)
    assert seq.max_workers_in_use == 1
    assert virtual_run.runners[-1].max_workers_in_use == 3
    assert virtual_run.runners[-1].wall_seconds < virtual_run.runners[0].wall_seconds


def test_sequential_time_is_the_sum_of_all_latencies(virtual_run: Comparison) -> None:
    seq, sim = virtual_run.sequential, virtual_run.config.section("sim")
    assert seq is not None
    work = seq.work
    unbatched_gpu = work.requests * sim.generation_fixed + work.sequences * (
        sim.generation_per_sequence
    )
    assert seq.wall_seconds == pytest.approx(work.worker_seconds + unbatched_gpu, rel=1e-9)
    assert seq.gpu_batches == work.requests  # nothing was ever batched


def test_json_report_has_the_figures(virtual_run: Comparison) -> None:
    data = virtual_run.to_json()
    assert data["same_work"] is True
    assert data["bound"]["binding"] in ("workers", "GPU")
    assert [r["scheduler"] for r in data["runs"]] == ["sequential", "runner c=2", "runner c=8"]
    for row in data["runs"]:
        assert row["over_bound"] >= 1 - 1e-9 and row["sequential_over_this"] >= 1 - 1e-9
    json.dumps(data)


def test_real_clock_time_scaled_run_matches_the_virtual_one() -> None:
    config = _config(workers=2, time_scale=50.0)
    theorems = sim_theorems(4)
    budget = dataclasses.replace(BUDGET, max_expansions=3)
    real = run_comparison(config, theorems, budget, (4,), virtual=False)
    virtual = run_comparison(config, theorems, budget, (4,), sequential=False, virtual=True)
    assert real.same_work
    assert real.runners[0].work.same_as(virtual.runners[0].work)
    seq = real.sequential
    assert seq is not None
    for m in (seq, real.runners[0]):
        _check_fractions(m)
        assert m.wall_seconds >= real.bound.seconds
    assert real.runners[0].wall_seconds <= seq.wall_seconds


class _AllAtOnce:
    """A strategy that runs every candidate of the first expansion concurrently."""

    name = "all-at-once"

    async def search(
        self, theorem: Theorem, session: ProofSession, generator: Generator, budget: Budget
    ) -> SearchResult:
        candidates = await generator.generate("p " + session.initial_state.pretty, budget.samples)
        state = session.initial_state
        await asyncio.gather(*(session.run_tactic(state, c.text) for c in candidates))
        return SearchResult(theorem=theorem.name, status=Status.FAILED)


def test_sequential_baseline_runs_one_call_at_a_time_whatever_the_strategy() -> None:
    config = _config(workers=4)

    async def max_in_use(sequential: bool) -> int:
        env, gen = SimEnvironment(config.section("sim")), SimGenerator(config.section("sim"))
        parts = Components(env, gen, _AllAtOnce())
        try:
            if sequential:
                await run_sequential(sim_theorems(2), parts, BUDGET)
            else:
                await attempt_many(sim_theorems(2), parts, BUDGET, 2)
        finally:
            await gen.close()
        return env.usage.max_in_use

    assert clock.run(max_in_use(False), virtual=True) == 4
    assert clock.run(max_in_use(True), virtual=True) == 1


def test_overhead_counts_tactics_and_restores_affinity() -> None:
    config = load_config(None, {"search.max_expansions": 3, "sim.seed": 5})
    before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    result = measure_overhead(config, theorems=4, concurrency=4)
    if before is not None:
        assert os.sched_getaffinity(0) == before
        assert result.cpu in before
    assert result.tactics > 0 and result.expansions > 0
    assert result.tactics_per_second == pytest.approx(result.tactics / result.wall_seconds)
    assert result.stand_in_seconds_per_tactic > 0
    assert set(result.to_json()) >= {"tactics_per_second", "search_microseconds_per_tactic"}


def test_cli_scheduler_json(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["scheduler", "-K", "3", "-W", "2", "--expansions", "2", "-c", "1,3", "--json"])
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert data["work"]["theorems"] == 3 and data["sim"]["workers"] == 2
    assert [r["concurrency"] for r in data["runs"]] == [1, 1, 3]
    seq, c1, c3 = (r["wall_seconds"] for r in data["runs"])
    assert c3 <= c1 <= seq * (1 + 1e-9)


def test_cli_ci_prints_every_target(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["ci", "-K", "3", "--full-scale", "4", "--set", "search.max_expansions=2"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    targets = out.split("== targets")[1].splitlines()[1:]
    judged = [line for line in targets if line.endswith(("met", "MISSED"))]
    assert len(judged) == 7
    assert sum("runner ÷ ideal bound" in line for line in judged) == 2
    assert sum("sequential shards ÷ runner" in line for line in judged) == 2
    assert sum("Llemma-style sequential" in line for line in targets) == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["scheduler", "--time-scale", "5"], "needs --clock real"),
        (["scheduler", "--timeout", "600"], "needs --clock real"),
        (["scheduler", "-K", "0"], "at least 1"),
        (["scheduler", "--set", "sim.workerz=3"], "did you mean 'sim.workers'"),
        (
            ["scheduler", "--tactic-median", "0", "--gen-fixed", "0", "--gen-per-sequence", "0"],
            "every simulated latency is zero",
        ),
    ],
)
def test_cli_bad_input_exits_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
