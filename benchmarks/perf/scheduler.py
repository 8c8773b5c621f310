"""What-if scale study (`python -m benchmarks.perf scheduler`): NOT the Lean backend.

The same K simulated theorems through a sequential Llemma-style loop and through
`prover.run.attempt_many`, on `SimEnvironment`: W interchangeable worker slots with no header
imports, recycling or per-process state. It answers "how would the scheduler do with an ideal
backend?" for sweeps the real-backend harness is too slow for; the figures the targets are
judged on come from `python -m benchmarks.perf ci`, which runs the lean-repl code itself.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.perf import clock
from benchmarks.perf.settings import SimConfig
from benchmarks.perf.sim import SimEnvironment, SimGenerator
from prover.config import Config
from prover.config_args import add_config_options, load_from_args
from prover.errors import InputError
from prover.generators.cache import CachedGenerator
from prover.protocols import Environment, GenerationParams, Generator, ProofSession
from prover.run import Components, attempt, attempt_many, components, judge_proof
from prover.types import Budget, Candidate, ProofState, SearchResult, TacticResult, Theorem, Verdict

# Targets from the issue: the runner within 1.25× of the bound, and ≥ 5× the sequential loop.
BOUND_TARGET = 1.25
SPEEDUP_TARGET = 5.0
# A per-theorem wall budget that never binds, so every scheduler does exactly the same work.
UNBOUNDED_WALL = 1e9


def sim_theorems(count: int) -> list[Theorem]:
    """`count` synthetic theorems; the sim world derives each one's search tree from its name."""
    return [
        Theorem(name=f"sim_{i:03d}", statement=f"theorem sim_{i:03d} : sim_goal_{i} := by sorry")
        for i in range(count)
    ]


def harness_config(config: Config) -> Config:
    """`config` with the sim environment and generator and no trace recording."""
    return dataclasses.replace(config, environment="sim", model="sim:", record="")


@dataclass(frozen=True)
class Work:
    """What a schedule had to do; the same seed gives every scheduler the same work."""

    theorems: int
    proved: int
    expansions: int
    tactics: int
    verifies: int
    worker_seconds: float  # Σ simulated latency of tactics and whole-proof checks
    requests: int
    sequences: int
    signature: tuple[tuple[Any, ...], ...]  # per theorem: what its search did, in order

    def same_as(self, other: Work) -> bool:
        """Equal, up to the order in which the float sums were taken."""
        exact = dataclasses.replace(self, worker_seconds=other.worker_seconds)
        return exact == other and math.isclose(
            self.worker_seconds, other.worker_seconds, rel_tol=1e-9
        )


@dataclass(frozen=True)
class Bound:
    """The ideal bound: no schedule finishes sooner than either resource allows."""

    workers: float  # Σ worker time / W
    gpu: float  # Σ GPU time with every batch full

    @property
    def seconds(self) -> float:
        return max(self.workers, self.gpu)

    @property
    def binding(self) -> str:
        return "workers" if self.workers >= self.gpu else "GPU"


@dataclass(frozen=True)
class Measurement:
    """One scheduler's run: simulated wall time and what each resource was busy with."""

    scheduler: str
    concurrency: int
    wall_seconds: float  # simulated
    real_seconds: float
    worker_held_seconds: float
    workers: int
    max_workers_in_use: int
    gpu_busy_seconds: float
    gpu_batches: int
    longest_theorem_seconds: float  # a lower bound for any schedule sequential within a theorem
    work: Work

    @property
    def worker_busy_fraction(self) -> float:
        return self.worker_held_seconds / (self.workers * self.wall_seconds)

    @property
    def gpu_busy_fraction(self) -> float:
        return self.gpu_busy_seconds / self.wall_seconds

    @property
    def mean_batch_sequences(self) -> float:
        return self.work.sequences / self.gpu_batches if self.gpu_batches else 0.0


def ideal_bound(work: Work, sim: SimConfig) -> Bound:
    """max(Σ worker time / W, GPU time if every batch held `max_batch_sequences` sequences)."""
    full_batches = math.ceil(work.sequences / sim.max_batch_sequences)
    gpu = sim.generation_fixed * full_batches + sim.generation_per_sequence * work.sequences
    return Bound(workers=work.worker_seconds / sim.workers, gpu=gpu)


class _SerialSession:
    """A session whose calls take the harness-wide lock: one tactic at a time, like Llemma."""

    def __init__(self, inner: ProofSession, lock: asyncio.Lock) -> None:
        self._inner = inner
        self._lock = lock

    @property
    def initial_state(self) -> ProofState:
        return self._inner.initial_state

    async def run_tactic(self, state: ProofState, tactic: str) -> TacticResult:
        async with self._lock:
            return await self._inner.run_tactic(state, tactic)

    async def verify(self, proof: str) -> Verdict:
        async with self._lock:
            return await self._inner.verify(proof)

    def assemble(self, steps: Sequence[str]) -> str:
        return self._inner.assemble(steps)

    async def close(self) -> None:
        await self._inner.close()


class _SerialEnvironment:
    def __init__(self, inner: Environment, lock: asyncio.Lock) -> None:
        self.name = inner.name
        self._inner = inner
        self._lock = lock

    async def open(self, theorem: Theorem) -> ProofSession:
        return _SerialSession(await self._inner.open(theorem), self._lock)

    async def judge(self, theorem: Theorem, proof: str) -> Verdict:
        async with self._lock:
            return await judge_proof(self._inner, theorem, proof)

    async def close(self) -> None:
        await self._inner.close()


class _SerialGenerator:
    def __init__(self, inner: Generator, lock: asyncio.Lock) -> None:
        self.name = inner.name
        self._inner = inner
        self._lock = lock

    async def generate(
        self, prompt: str, n: int, params: GenerationParams | None = None
    ) -> list[Candidate]:
        async with self._lock:
            return await self._inner.generate(prompt, n, params)

    async def close(self) -> None:
        await self._inner.close()


async def run_sequential(
    theorems: Iterable[Theorem], parts: Components, budget: Budget
) -> list[SearchResult]:
    """Llemma's loop: one theorem, one expansion, one model or tactic call at a time."""
    lock = asyncio.Lock()
    serial = Components(
        _SerialEnvironment(parts.environment, lock),
        _SerialGenerator(parts.generator, lock),
        parts.strategy,
        parts.seed,
    )
    return [await attempt(theorem, serial, budget) for theorem in theorems]


def _work(results: Sequence[SearchResult], env: SimEnvironment, gen: SimGenerator) -> Work:
    signature = tuple(
        (r.theorem, r.status.value, r.steps, r.stats.expansions, r.stats.tactics_run)
        for r in results
    )
    return Work(
        theorems=len(results),
        proved=sum(r.proved for r in results),
        expansions=sum(r.stats.expansions for r in results),
        tactics=env.usage.tactics,
        verifies=env.usage.verifies,
        worker_seconds=env.usage.nominal_seconds,
        requests=gen.usage.requests,
        sequences=gen.usage.sequences,
        signature=signature,
    )


async def measure(
    config: Config, theorems: Sequence[Theorem], budget: Budget, concurrency: int | None
) -> Measurement:
    """Run `theorems` sequentially (`concurrency` None) or through `attempt_many`."""
    async with components(harness_config(config)) as parts:
        env, gen = parts.environment, parts.generator
        if isinstance(gen, CachedGenerator):  # the runner's request de-duplication, kept in
            gen = gen.inner
        if not isinstance(env, SimEnvironment) or not isinstance(gen, SimGenerator):
            raise InputError("the scheduler benchmark needs the sim environment and generator")
        loop = asyncio.get_running_loop()
        start, real_start = loop.time(), time.perf_counter()
        if concurrency is None:
            results = await run_sequential(theorems, parts, budget)
        else:
            results = await attempt_many(theorems, parts, budget, concurrency)
        scale = config.section("sim").time_scale
        wall = (loop.time() - start) * scale
        real = time.perf_counter() - real_start
    sim = config.section("sim")
    per_call = sim.generation_fixed + sim.generation_per_sequence * budget.samples
    longest = max(
        (env.usage.by_theorem.get(r.theorem, 0.0) + r.stats.model_calls * per_call) for r in results
    )
    return Measurement(
        scheduler="sequential" if concurrency is None else f"runner c={concurrency}",
        concurrency=1 if concurrency is None else concurrency,
        wall_seconds=wall,
        real_seconds=real,
        worker_held_seconds=env.usage.held_seconds,
        workers=sim.workers,
        max_workers_in_use=env.usage.max_in_use,
        gpu_busy_seconds=gen.usage.busy_seconds,
        gpu_batches=gen.usage.batches,
        longest_theorem_seconds=longest,
        work=_work(results, env, gen),
    )


@dataclass(frozen=True)
class Comparison:
    """Sequential loop and runner(s) on the same theorems, with the ideal bound."""

    config: Config
    budget: Budget
    clock: str
    sequential: Measurement | None
    runners: tuple[Measurement, ...]

    @property
    def runs(self) -> tuple[Measurement, ...]:
        return (*([self.sequential] if self.sequential else []), *self.runners)

    @property
    def bound(self) -> Bound:
        """The bound of the first runner's work (every run's, when `same_work`)."""
        return ideal_bound(self.runners[0].work, self.config.section("sim"))

    def over_bound(self, m: Measurement) -> float:
        """Wall time over the ideal bound of the work this run did."""
        return m.wall_seconds / ideal_bound(m.work, self.config.section("sim")).seconds

    def speedup(self, m: Measurement) -> float | None:
        """(a)/(b): the sequential loop's wall time over this run's."""
        return self.sequential.wall_seconds / m.wall_seconds if self.sequential else None

    @property
    def same_work(self) -> bool:
        return all(m.work.same_as(self.runs[0].work) for m in self.runs)

    def to_json(self) -> dict[str, Any]:
        def row(m: Measurement) -> dict[str, Any]:
            return {
                "scheduler": m.scheduler,
                "concurrency": m.concurrency,
                "wall_seconds": m.wall_seconds,
                "real_seconds": m.real_seconds,
                "gpu_busy_fraction": m.gpu_busy_fraction,
                "worker_busy_fraction": m.worker_busy_fraction,
                "max_workers_in_use": m.max_workers_in_use,
                "gpu_batches": m.gpu_batches,
                "mean_batch_sequences": m.mean_batch_sequences,
                "longest_theorem_seconds": m.longest_theorem_seconds,
                "proved": m.work.proved,
                "expansions": m.work.expansions,
                "tactics": m.work.tactics,
                "over_bound": self.over_bound(m),
                "sequential_over_this": self.speedup(m),
            }

        work, bound = self.runners[0].work, self.bound
        return {
            "clock": self.clock,
            "sim": dataclasses.asdict(self.config.section("sim")),
            "budget": dataclasses.asdict(self.budget),
            "work": {
                "theorems": work.theorems,
                "proved": work.proved,
                "expansions": work.expansions,
                "tactics": work.tactics,
                "verifies": work.verifies,
                "worker_seconds": work.worker_seconds,
                "requests": work.requests,
                "sequences": work.sequences,
            },
            "same_work": self.same_work,
            "bound": {
                "workers_seconds": bound.workers,
                "gpu_seconds": bound.gpu,
                "seconds": bound.seconds,
                "binding": bound.binding,
            },
            "runs": [row(m) for m in self.runs],
        }


async def compare(
    config: Config,
    theorems: Sequence[Theorem],
    budget: Budget,
    concurrencies: Sequence[int],
    *,
    sequential: bool = True,
    clock_name: str = "virtual",
) -> Comparison:
    """Measure the runner at each concurrency, then (unless skipped) the sequential loop."""
    if not concurrencies:
        raise InputError("give at least one runner concurrency, e.g. --concurrency 64")
    sim = config.section("sim")
    if sim.tactic_median == 0 and sim.generation_fixed == 0 and sim.generation_per_sequence == 0:
        raise InputError(
            "every simulated latency is zero, so there is no schedule to compare; "
            "measure zero-latency throughput with `python -m benchmarks.perf overhead`"
        )
    runners = [await measure(config, theorems, budget, c) for c in concurrencies]
    seq = await measure(config, theorems, budget, None) if sequential else None
    return Comparison(config, budget, clock_name, seq, tuple(runners))


def run_comparison(
    config: Config,
    theorems: Sequence[Theorem],
    budget: Budget,
    concurrencies: Sequence[int],
    *,
    sequential: bool = True,
    virtual: bool = True,
) -> Comparison:
    """`compare` on a fresh event loop with a virtual or a real (time-scaled) clock."""
    name = "virtual" if virtual else f"real ×{config.section('sim').time_scale:g}"
    return clock.run(
        compare(config, theorems, budget, concurrencies, sequential=sequential, clock_name=name),
        virtual=virtual,
    )


def format_comparison(result: Comparison) -> str:
    """The human-readable table the CLI prints."""
    sim, budget, bound = result.config.section("sim"), result.budget, result.bound
    work = result.runners[0].work
    lines = [
        f"sim: K={work.theorems} theorems, W={sim.workers} workers"
        f"{' (leased per theorem)' if sim.worker_affinity else ''}, seed {sim.seed}, "
        f"clock {result.clock}; tactic {sim.tactic_distribution} median {sim.tactic_median:g} s "
        f"p95 {sim.tactic_p95:g} s; GPU {sim.generation_fixed:g} s + "
        f"{sim.generation_per_sequence:g} s/sequence (≤ {sim.max_batch_sequences} per batch); "
        f"budget {budget.samples} samples × {budget.max_expansions} expansions",
        f"work: {work.proved}/{work.theorems} proved, {work.expansions} expansions, "
        f"{work.tactics} tactics + {work.verifies} checks = {work.worker_seconds:,.0f} "
        f"worker-s, {work.sequences:,} sequences in {work.requests} requests; "
        f"same work for every scheduler: {'yes' if result.same_work else 'NO'}",
        f"ideal bound: max(Σ tactic time / W = {bound.workers:,.1f} s, "
        f"GPU at full batching = {bound.gpu:,.1f} s) = {bound.seconds:,.1f} s "
        f"({bound.binding} bind)",
        f"longest single theorem, its calls back to back: "
        f"{result.runners[0].longest_theorem_seconds:,.1f} s (no schedule that runs a theorem's "
        "steps in order can beat it)",
        "",
        f"{'scheduler':<16}{'proved':>7}{'tactics':>9}{'wall s':>11}{'real s':>8}"
        f"{'GPU busy':>10}{'workers busy':>14}{'batch':>7}{'÷ bound':>9}{'seq ÷ this':>12}",
    ]
    for m in result.runs:
        speedup = result.speedup(m)
        lines.append(
            f"{m.scheduler:<16}{m.work.proved:>7}{m.work.tactics:>9}{m.wall_seconds:>11,.1f}"
            f"{m.real_seconds:>8.1f}{m.gpu_busy_fraction:>10.3f}{m.worker_busy_fraction:>14.3f}"
            f"{m.mean_batch_sequences:>7.0f}{result.over_bound(m):>9.3f}"
            + (f"{speedup:>12.2f}" if speedup is not None else f"{'-':>12}")
        )
    lines.append("")
    for m in result.runners:
        over, speedup = result.over_bound(m), result.speedup(m)
        verdict = [
            f"(b)/bound = {over:.3f} (target ≤ {BOUND_TARGET}: "
            f"{'met' if over <= BOUND_TARGET else 'MISSED'})"
        ]
        if speedup is not None:
            verdict.append(
                f"(a)/(b) = {speedup:.2f} (target ≥ {SPEEDUP_TARGET:g}: "
                f"{'met' if speedup >= SPEEDUP_TARGET else 'MISSED'})"
            )
        lines.append(f"{m.scheduler}: " + "; ".join(verdict))
    if not result.same_work:
        lines.append("runs did different work (a wall budget cut some short): compare with care")
    return "\n".join(lines)


def targets_met(result: Comparison) -> bool:
    """Every runner within the bound target, ≥ the speed-up target, and the same work."""
    for m in result.runners:
        speedup = result.speedup(m)
        if result.over_bound(m) > BOUND_TARGET:
            return False
        if speedup is not None and speedup < SPEEDUP_TARGET:
            return False
    return result.same_work


# flag dest → dotted config key; every flag overrides --config and --set.
_FLAG_KEYS: dict[str, str] = {
    "seed": "sim.seed",
    "workers": "sim.workers",
    "worker_affinity": "sim.worker_affinity",
    "time_scale": "sim.time_scale",
    "tactic_median": "sim.tactic_median",
    "tactic_p95": "sim.tactic_p95",
    "gen_fixed": "sim.generation_fixed",
    "gen_per_sequence": "sim.generation_per_sequence",
    "close_probability": "sim.close_probability",
    "provable_fraction": "sim.provable_fraction",
    "samples": "search.samples",
    "expansions": "search.max_expansions",
    "max_tactics": "search.max_tactics",
    "strategy": "strategy",
}


def _concurrencies(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected integers like 64 or 16,32,64, got {text!r}"
        ) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("concurrencies must be integers ≥ 1")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `python -m benchmarks.perf scheduler`."""
    parser.add_argument("--theorems", "-K", type=int, default=64, help="K (default 64)")
    parser.add_argument(
        "--concurrency",
        "-c",
        type=_concurrencies,
        help="runner concurrency, or a list like 16,32,64 for a sweep (default K)",
    )
    parser.add_argument(
        "--clock",
        choices=("virtual", "real"),
        default="virtual",
        help="virtual: exact simulated time, as fast as Python runs (default); "
        "real: real sleeps divided by --time-scale",
    )
    parser.add_argument("--time-scale", type=float, help="real clock: run N× faster than real")
    parser.add_argument("--no-sequential", action="store_true", help="skip the sequential loop")
    sim = parser.add_argument_group("simulation ([sim] config keys)")
    sim.add_argument("--workers", "-W", type=int, help="Lean worker slots (default 15)")
    sim.add_argument(
        "--worker-affinity",
        action="store_const",
        const=True,
        help="each theorem keeps one worker for its lifetime, as the Lean REPL pool leases one",
    )
    sim.add_argument("--seed", type=int, help="seed of the simulated world (default 0)")
    sim.add_argument("--tactic-median", type=float, help="tactic latency median (0.15 s)")
    sim.add_argument("--tactic-p95", type=float, help="tactic latency 95th percentile (1 s)")
    sim.add_argument("--gen-fixed", type=float, help="a: GPU seconds per batch (0.2)")
    sim.add_argument("--gen-per-sequence", type=float, help="b: GPU s per sequence (0.004)")
    sim.add_argument("--close-probability", type=float, help="chance a tactic closes (0.05)")
    sim.add_argument("--provable-fraction", type=float, help="share of provable theorems (0.3)")
    budget = parser.add_argument_group("budget and strategy")
    budget.add_argument("--samples", type=int, help="candidates per expansion (default 32)")
    budget.add_argument("--expansions", type=int, help="max expansions per theorem (100)")
    budget.add_argument("--max-tactics", type=int, help="max tactics per theorem (3200)")
    budget.add_argument(
        "--timeout",
        type=float,
        help="per-theorem wall budget in simulated seconds (real clock "
        "only; default none, so every scheduler does the same work)",
    )
    budget.add_argument("--strategy", help="search strategy (default best-first)")
    out = parser.add_argument_group("configuration and output")
    add_config_options(out, "sim.max_batch_sequences=128")
    out.add_argument("--json", action="store_true", help="print JSON")
    out.add_argument("--check", action="store_true", help="exit 1 if a target is missed")


def config_from_args(args: argparse.Namespace) -> Config:
    return load_from_args(args, _FLAG_KEYS)


def harness_budget(config: Config, timeout: float | None, *, virtual: bool) -> Budget:
    """The configured budget with a wall limit that never binds unless `timeout` is given."""
    if timeout is None:
        wall = UNBOUNDED_WALL
    elif virtual:
        raise InputError("--timeout needs --clock real (the wall budget is measured in real time)")
    elif timeout <= 0:
        raise InputError("--timeout must be a positive number of simulated seconds")
    else:
        wall = timeout / config.section("sim").time_scale
    return dataclasses.replace(config.search.budget(), wall_seconds=wall)


def run(args: argparse.Namespace) -> int:
    """Run the comparison the flags describe and print it; 1 with --check if a target is missed."""
    if args.theorems < 1:
        raise InputError("--theorems must be at least 1")
    if args.time_scale is not None and args.clock == "virtual":
        raise InputError("--time-scale needs --clock real (the virtual clock has no scale)")
    config = config_from_args(args)
    virtual = args.clock == "virtual"
    budget = harness_budget(config, args.timeout, virtual=virtual)
    result = run_comparison(
        config,
        sim_theorems(args.theorems),
        budget,
        args.concurrency or (args.theorems,),
        sequential=not args.no_sequential,
        virtual=virtual,
    )
    print(json.dumps(result.to_json(), indent=1) if args.json else format_comparison(result))
    return 1 if args.check and not targets_met(result) else 0
