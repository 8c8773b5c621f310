"""The harness on the real lean-repl backend: simulated REPL processes (NOT Lean) behind the
product's pool, workers, sessions, checker and judge, on a virtual clock."""

from __future__ import annotations

import asyncio
import json

import pytest

from benchmarks.perf import clock
from benchmarks.perf.backend import (
    lean_environment,
    run_backend,
    sim_lean_config,
    sim_theorems,
)
from benchmarks.perf.baselines import llemma_seconds
from benchmarks.perf.repl_sim import Machine, SimProcesses
from benchmarks.perf.scenario import Scenario, run_scenario
from benchmarks.perf.scheduler import run_sequential
from benchmarks.perf.settings import SimConfig
from benchmarks.perf.sim import SimGenerator
from environments.lean.settings import LeanConfig
from prover.config import Config
from prover.processes import ProcessSpec
from prover.run import Components, build_strategy
from prover.types import Budget, Failed, FailureKind, NewState, VerdictStatus

SMALL = Budget(samples=8, max_expansions=4, max_tactics=3200, wall_seconds=1e9)


def _config(**sim: object) -> Config:
    base = {"workers": 3, "seed": 1, "close_probability": 0.1, "provable_fraction": 0.5}
    return Config(plugins={"sim": SimConfig(**{**base, **sim})})  # type: ignore[arg-type]


async def _exchange(process: object, payload: dict[str, object]) -> dict[str, object]:
    proc = process.proc  # type: ignore[attr-defined]
    proc.stdin.write((json.dumps(payload) + "\n\n").encode())
    await proc.stdin.drain()
    lines = []
    while True:
        line = await proc.stdout.readline()
        if not line.strip():
            return json.loads(b"".join(lines))  # type: ignore[no-any-return]
        lines.append(line)


def test_the_stand_in_speaks_the_repl_protocol_and_costs_simulated_time() -> None:
    async def main() -> None:
        machine = Machine(_config(header_seconds=7.0, command_seconds=0.5).section("sim"))
        tracker = SimProcesses(machine)
        process = await tracker.start(ProcessSpec(argv=("sim",)))
        loop = asyncio.get_running_loop()
        start = loop.time()
        assert await _exchange(process, {"cmd": "import Mathlib"}) == {"env": 0}
        assert loop.time() - start == pytest.approx(7.0)
        opened = await _exchange(process, {"cmd": "theorem t : g := by sorry", "env": 0})
        (sorry,) = opened["sorries"]  # type: ignore[misc]
        assert "t ⊢ goal_" in sorry["goal"]
        reply = await _exchange(process, {"tactic": "tactic_0", "proofState": sorry["proofState"]})
        assert "proofState" in reply and "goals" in reply
        unknown = await _exchange(process, {"tactic": "x", "proofState": 999})
        assert "Unknown proof state" in str(unknown["message"])
        axioms = await _exchange(process, {"cmd": "#print axioms t", "env": 1})
        assert "depends on axioms" in json.dumps(axioms, ensure_ascii=False)
        assert machine.usage.headers == 1 and machine.usage.tactics == 1
        assert tracker.pids == [process.pid]
        await tracker.stop(process)
        assert tracker.pids == [] and process.returncode == -15
        assert await process.proc.stdout.read() == b""  # EOF, as a dead process gives

    clock.run(main(), virtual=True)


def test_runs_on_the_product_backend_and_the_judge_checks_every_proof() -> None:
    config = _config()
    run = clock.run(run_backend(config, sim_theorems(4), SMALL), virtual=True)
    assert run.concurrency == 3 * 3  # THEOREMS_PER_PROCESS × W search processes
    proved = [r for r in run.results if r.proved]
    assert proved, "the seed gives some proofs, so the judge path is exercised"
    assert all(r.verified and r.verified_by == "lean-repl" for r in proved)
    assert all(r.details["judge"]["status"] == "accepted" for r in proved)
    assert run.machine.headers >= 2  # search processes and the checker's own
    assert run.machine.max_cores_in_use <= 3
    assert run.tactics == sum(r.stats.tactics_run for r in run.results)


def test_a_wrong_proof_is_rejected_by_the_checker_processes() -> None:
    async def main() -> None:
        config = _config()
        env = lean_environment(config, Machine(config.section("sim")))
        theorem = sim_theorems(1)[0]
        try:
            verdict = await env.judge(theorem, "tactic_1\ntactic_2\ntactic_3")
        finally:
            await env.close()
        assert verdict.status is VerdictStatus.REJECTED

    clock.run(main(), virtual=True)


def test_a_process_over_its_memory_cap_dies_and_its_states_are_replayed() -> None:
    # 5 GB after the header + 1 GB per state: the third state kills a 7.5 GB process.
    config = _config(base_memory_mb=5000.0, state_memory_mb=1024.0).with_section(
        "lean", LeanConfig(memory_limit_gb=7.5)
    )

    async def main() -> None:
        machine = Machine(config.section("sim"))
        env = lean_environment(config, machine)
        try:
            session = await env.open(sim_theorems(1)[0])
            state = session.initial_state
            first = await session.run_tactic(state, "tactic_0")
            second = await session.run_tactic(state, "tactic_0")
            assert isinstance(second, Failed) and second.kind is FailureKind.CRASH
            assert "out of memory" in second.message
            again = await session.run_tactic(state, "tactic_0")  # fresh process, root replayed
            assert type(again) is type(first)
            if isinstance(first, NewState) and isinstance(again, NewState):
                assert again.state.goals == first.state.goals
            assert machine.usage.deaths == 1
        finally:
            await env.close()

    clock.run(main(), virtual=True)


def test_the_llemma_baseline_is_a_lower_bound_of_the_real_sequential_loop() -> None:
    """The trace replay charges only header + the searches' calls; the real sequential loop on
    the same backend pays that and more (re-imports after recycling), never less."""
    config = _config()
    theorems = sim_theorems(3)

    async def main() -> tuple[float, float]:
        machine = Machine(config.section("sim"))
        from benchmarks.perf.backend import TracedEnvironment, TracedGenerator, Traces

        traces = Traces(config, machine.world)
        env = TracedEnvironment(lean_environment(config, machine), traces)
        gen = TracedGenerator(SimGenerator(config.section("sim")), traces)
        parts = Components(env, gen, build_strategy(config))
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            await run_sequential(theorems, parts, SMALL)
        finally:
            await env.close()
            await gen.close()
        wall = loop.time() - start
        replayed = llemma_seconds(
            [traces.by_theorem[t.name] for t in theorems], config.section("sim")
        )
        return wall, replayed

    wall, replayed = clock.run(main(), virtual=True)
    assert replayed <= wall * (1 + 1e-9)
    # at most a re-import each
    assert wall <= replayed + 3 * config.section("sim").header_seconds + 1e-6


def test_harness_lean_config_scales_timeouts_with_the_clock() -> None:
    config = _config(time_scale=10.0).with_section("lean", LeanConfig(tactic_timeout=60.0))
    lean = sim_lean_config(config)
    assert lean.pool_size == 3 and lean.tactic_timeout == pytest.approx(6.0)


@pytest.fixture(scope="module")
def default_scenarios() -> tuple[Scenario, Scenario]:
    config = Config()  # K = 64 and 244, W = 15, the default latencies and budget
    return run_scenario(config, 64), run_scenario(config, 244)


@pytest.mark.timeout(1800)
def test_the_issue_targets_at_k64_and_minif2f_scale(
    default_scenarios: tuple[Scenario, Scenario],
) -> None:
    for s in default_scenarios:
        assert s.workers == 15 and s.samples == 32 and s.expansions == 100
        assert s.over_bound <= 1.10, s.to_json()
        assert s.over_shards >= 1.25, s.to_json()
        assert s.over_llemma > s.over_shards
        assert s.memory_deaths == 0
        assert s.wall_seconds >= s.bound  # the bound is a lower bound of any schedule
    assert [s.theorems for s in default_scenarios] == [64, 244]
