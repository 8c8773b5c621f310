"""The simulated environment and generator of the performance harness (benchmarks/perf)."""

from __future__ import annotations

import asyncio
import dataclasses
import statistics

import pytest

from benchmarks.perf import clock
from benchmarks.perf.scheduler import harness_config, sim_theorems
from benchmarks.perf.settings import SimConfig
from benchmarks.perf.sim import SimEnvironment, SimGenerator, create_environment, create_generator
from benchmarks.perf.world import World
from prover import registry
from prover.config import Config, load_config
from prover.errors import ConfigError, InputError
from prover.generators.cache import CachedGenerator
from prover.protocols import Environment, Generator, ProofSession
from prover.run import components
from prover.types import Failed, FailureKind, Finished, NewState, ProofState, VerdictStatus


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


def test_entry_points_build_the_sim_plugins() -> None:
    assert registry.load("environment", "sim") is create_environment
    assert registry.load("generator", "sim") is create_generator

    async def build() -> tuple[object, object]:
        async with components(harness_config(Config())) as parts:
            return parts.environment, parts.generator

    env, cached = asyncio.run(build())
    assert isinstance(env, SimEnvironment) and isinstance(env, Environment)
    assert isinstance(cached, CachedGenerator)  # the runner's de-duplication wraps every model
    gen = cached.inner
    assert isinstance(gen, SimGenerator) and isinstance(gen, Generator)


def test_generator_takes_no_model_name() -> None:
    with pytest.raises(InputError, match="takes no model name"):
        create_generator("llemma", Config())


@pytest.mark.parametrize(
    "override",
    [
        {"sim.workers": 0},
        {"sim.tactic_p95": 0.1},
        {"sim.time_scale": 0},
        {"sim.close_probability": 0.5, "sim.failure_probability": 0.6},
        {"sim.tactic_distribution": "gamma"},
    ],
)
def test_bad_sim_config_is_an_error(override: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="sim"):
        load_config(None, override)


def test_outcomes_depend_on_inputs_not_on_call_order() -> None:
    keys = [
        (f"thm_{i % 7}", f"thm_{i % 7} ⊢ goal_{i % 13}", f"tactic_{i % 24}") for i in range(300)
    ]
    forward = World(SimConfig(seed=3))
    backward = World(SimConfig(seed=3))
    first = [forward.step(*k) for k in keys]
    second = [backward.step(*k) for k in reversed(keys)][::-1]
    assert first == second
    other_seed = World(SimConfig(seed=4))
    assert [other_seed.step(*k) for k in keys] != first
    # Outcomes are varied, not constant: all three kinds occur.
    kinds = {type(s.result) for s in first}
    assert kinds == {NewState, Failed} or kinds == {NewState, Failed, Finished}


@pytest.mark.parametrize(("median", "p95"), [(0.15, 1.0), (0.05, 0.4)])
def test_latency_quantiles_match_the_configuration(median: float, p95: float) -> None:
    world = World(SimConfig(tactic_median=median, tactic_p95=p95))
    latencies = [world.step("t", "t ⊢ g", f"tactic_{i}").seconds for i in range(20_000)]
    assert _quantile(latencies, 0.5) == pytest.approx(median, rel=0.05)
    assert _quantile(latencies, 0.95) == pytest.approx(p95, rel=0.08)
    assert statistics.fmean(latencies) == pytest.approx(world.latency.mean, rel=0.1)


def test_fixed_latency_and_timeouts() -> None:
    world = World(SimConfig(tactic_distribution="fixed", tactic_median=0.3))
    assert {world.step("t", "g", f"x{i}").seconds for i in range(100)} == {0.3}
    slow = World(SimConfig(tactic_median=0.15, tactic_p95=1.0, tactic_timeout=0.2))
    steps = [slow.step("t", "g", f"x{i}") for i in range(2000)]
    timed_out = [
        s for s in steps if isinstance(s.result, Failed) and s.result.kind is FailureKind.TIMEOUT
    ]
    assert timed_out and all(s.seconds == 0.2 for s in timed_out)
    assert max(s.seconds for s in steps) == 0.2


def test_close_probability_applies_to_the_provable_share() -> None:
    world = World(SimConfig(close_probability=0.1, provable_fraction=0.3))
    names = [f"thm_{i}" for i in range(3000)]
    provable = [n for n in names if world.provable(n)]
    assert len(provable) / len(names) == pytest.approx(0.3, abs=0.03)
    closed = [
        isinstance(world.step(n, f"{n} ⊢ g", f"tactic_{i}").result, Finished)
        for n in provable[:200]
        for i in range(20)
    ]
    assert sum(closed) / len(closed) == pytest.approx(0.1, abs=0.015)
    hopeless = next(n for n in names if not world.provable(n))
    assert not any(
        isinstance(world.step(hopeless, "g", f"tactic_{i}").result, Finished) for i in range(2000)
    )


def test_generator_repeats_popular_tactics_deterministically() -> None:
    world = World(SimConfig())
    a = world.candidates("prompt one", 32)
    assert a == World(SimConfig()).candidates("prompt one", 32)
    assert a != world.candidates("prompt two", 32)
    distinct = {c.text for c in a}
    assert 1 < len(distinct) < 32  # real sampling repeats itself
    scores = {c.text: c.mean_logprob for c in a}
    assert all(c.mean_logprob == scores[c.text] for c in a)
    # Keyed on the simulated goal, so editing a template's few-shot examples changes nothing.
    goal = world.initial_state("sim_000", "statement").pretty
    llemma_style = world.candidates(f"Tactic state:\n---\n{goal}\n---\nNext tactic:\n---\n", 32)
    assert llemma_style == world.candidates(f"[GOAL]{goal}[PROOFSTEP]", 32)
    other = world.initial_state("sim_001", "statement").pretty
    assert llemma_style != world.candidates(f"[GOAL]{other}[PROOFSTEP]", 32)


def _find_proof(world: World, theorem: str, initial: ProofState, pool: int) -> list[str]:
    """Breadth-first over the sim world for a path of tactics ending in Finished."""
    frontier = [(initial, [])]
    for _ in range(6):
        nxt = []
        for state, steps in frontier:
            for k in range(pool):
                tactic = f"tactic_{k}"
                result = world.step(theorem, state.pretty, tactic).result
                if isinstance(result, Finished):
                    return [*steps, tactic]
                if isinstance(result, NewState):
                    nxt.append((result.state, [*steps, tactic]))
        frontier = nxt[:200]
    raise AssertionError("no proof found in the sim world")


def test_session_is_a_proof_session_and_verify_replays_the_proof() -> None:
    config = SimConfig(close_probability=0.2, provable_fraction=1.0)
    theorem = sim_theorems(1)[0]

    async def main() -> None:
        env = SimEnvironment(config)
        session = await env.open(theorem)
        assert isinstance(session, ProofSession)
        steps = _find_proof(env.world, theorem.name, session.initial_state, config.tactic_pool)
        state = session.initial_state
        for tactic in steps[:-1]:
            result = await session.run_tactic(state, tactic)
            assert isinstance(result, NewState)
            state = result.state
        assert isinstance(await session.run_tactic(state, steps[-1]), Finished)
        proof = session.assemble(steps)
        verdict = await session.verify(proof)
        assert verdict.status is VerdictStatus.ACCEPTED and verdict.checked_by == "sim"
        if len(steps) > 1:
            assert (await session.verify(session.assemble(steps[:-1]))).status is (
                VerdictStatus.REJECTED
            )
        rejected = await session.verify(session.assemble([*steps, "tactic_0"]))
        assert rejected.status is VerdictStatus.REJECTED
        assert env.usage.verifies == 2 + (len(steps) > 1)
        await session.close()

    clock.run(main(), virtual=True)


def test_worker_slots_limit_concurrency() -> None:
    config = SimConfig(workers=2, tactic_distribution="fixed", tactic_median=1.0)

    async def main() -> float:
        env = SimEnvironment(config)
        session = await env.open(sim_theorems(1)[0])
        loop = asyncio.get_running_loop()
        start = loop.time()
        state = session.initial_state
        await asyncio.gather(*(session.run_tactic(state, f"tactic_{i}") for i in range(10)))
        assert env.usage.max_in_use == 2
        assert env.usage.tactics == 10
        assert env.usage.held_seconds == pytest.approx(10.0)
        return loop.time() - start

    assert clock.run(main(), virtual=True) == pytest.approx(5.0)


def test_gpu_batches_waiting_requests() -> None:
    config = SimConfig(generation_fixed=0.2, generation_per_sequence=0.004)

    async def main() -> list[float]:
        gen = SimGenerator(config)
        loop = asyncio.get_running_loop()

        async def one(i: int) -> float:
            await gen.generate(f"prompt {i}", 32)
            return loop.time()

        try:
            done = await asyncio.gather(*(one(i) for i in range(10)))
        finally:
            await gen.close()
        # 320 sequences, at most 256 a batch: 8 requests, then the other 2.
        assert gen.usage.batches == 2 and gen.usage.sequences == 320
        assert gen.usage.max_batch_sequences == 256
        assert gen.usage.busy_seconds == pytest.approx(0.2 + 0.004 * 256 + 0.2 + 0.004 * 64)
        return done

    done = clock.run(main(), virtual=True)
    assert done[:8] == pytest.approx([0.2 + 0.004 * 256] * 8)
    assert done[8:] == pytest.approx([0.2 + 0.004 * 256 + 0.2 + 0.004 * 64] * 2)


def test_request_arriving_during_a_batch_joins_the_next_one() -> None:
    config = dataclasses.replace(SimConfig(), generation_fixed=0.2, generation_per_sequence=0.004)

    async def main() -> tuple[float, float]:
        gen = SimGenerator(config)
        loop = asyncio.get_running_loop()

        async def at(delay: float, prompt: str) -> float:
            await asyncio.sleep(delay)
            await gen.generate(prompt, 32)
            return loop.time()

        try:
            first, second = await asyncio.gather(at(0.0, "a"), at(0.1, "b"))
        finally:
            await gen.close()
        assert gen.usage.batches == 2
        return first, second

    first, second = clock.run(main(), virtual=True)
    assert first == pytest.approx(0.328)
    assert second == pytest.approx(0.656)


def test_time_scale_divides_real_sleeps() -> None:
    config = SimConfig(workers=1, tactic_distribution="fixed", tactic_median=0.5, time_scale=50.0)

    async def main() -> float:
        env = SimEnvironment(config)
        session = await env.open(sim_theorems(1)[0])
        loop = asyncio.get_running_loop()
        start = loop.time()
        await session.run_tactic(session.initial_state, "tactic_0")
        assert env.usage.nominal_seconds == 0.5
        assert env.usage.held_seconds >= 0.5  # measured in simulated seconds
        return loop.time() - start

    real = asyncio.run(main())
    assert 0.5 / 50 <= real < 0.5  # ran on the real clock, much faster than unscaled


@pytest.mark.parametrize(("affinity", "expected"), [(False, 2.0), (True, 4.0)])
def test_worker_affinity_pins_a_theorem_to_its_leased_worker(
    affinity: bool, expected: float
) -> None:
    config = SimConfig(
        workers=2, worker_affinity=affinity, tactic_distribution="fixed", tactic_median=1.0
    )

    async def main() -> float:
        env = SimEnvironment(config)
        a, b, c = [await env.open(t) for t in sim_theorems(3)]  # leases: a, c on one worker
        assert (a.worker, b.worker, c.worker) == ((0, 1, 0) if affinity else (None,) * 3)
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.gather(
            *(s.run_tactic(s.initial_state, f"tactic_{i}") for s in (a, c) for i in range(2))
        )
        elapsed = loop.time() - start
        for session in (a, b, c):
            await session.close()
        reopened = await env.open(sim_theorems(4)[3])  # every lease released: first worker again
        if affinity:
            assert reopened.worker == 0
        return elapsed

    assert clock.run(main(), virtual=True) == pytest.approx(expected)
