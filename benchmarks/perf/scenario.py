"""One scenario of the harness: K theorems through the real lean-repl backend on simulated REPL
processes and GPU (virtual clock), against the ideal bound and the two sequential baselines.

The ideal bound is max(one header import + Σ Lean work the searches asked for / W, the GPU's time
with every batch full). The Lean work counts each statement opened, tactic and whole-proof check
at its simulated cost, and nothing for recycling, replays or moves, which the runner pays.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

from benchmarks.perf import clock
from benchmarks.perf.backend import BackendRun, run_backend, sim_theorems
from benchmarks.perf.baselines import llemma_seconds, sharded_seconds
from prover.config import Config
from prover.config_args import add_config_options, load_from_args
from prover.errors import InputError

BOUND_TARGET = 1.10
SHARDS_TARGET = 1.25
UNBOUNDED_BUDGET = 1e9  # a time budget that never binds: every schedule does the same work


@dataclass(frozen=True)
class Scenario:
    """What one scenario measured (simulated seconds unless named real)."""

    theorems: int
    workers: int
    concurrency: int
    samples: int
    expansions: int
    proved: int
    tactics: int
    checks: int
    model_calls: int
    wall_seconds: float
    bound_workers: float
    bound_gpu: float
    llemma_seconds: float
    shards_seconds: float
    lean_work_seconds: float  # what the searches asked for
    lean_busy_seconds: float  # what the simulated cores computed (work + headers + replays)
    processes_started: int
    memory_deaths: int
    real_seconds: float

    @property
    def bound(self) -> float:
        return max(self.bound_workers, self.bound_gpu)

    @property
    def over_bound(self) -> float:
        return self.wall_seconds / self.bound

    @property
    def over_shards(self) -> float:
        return self.shards_seconds / self.wall_seconds

    @property
    def over_llemma(self) -> float:
        return self.llemma_seconds / self.wall_seconds

    @property
    def core_busy(self) -> float:
        return self.lean_busy_seconds / (self.workers * self.wall_seconds)

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.update(
            bound=self.bound,
            over_bound=self.over_bound,
            shards_over_runner=self.over_shards,
            llemma_over_runner=self.over_llemma,
            core_busy=self.core_busy,
        )
        return out


def summarise(config: Config, run: BackendRun, names: list[str]) -> Scenario:
    sim = config.section("sim")
    traces = [run.traces[name] for name in names if name in run.traces]
    work = sum(t.lean_seconds for t in traces)
    sequences = sum(t.sequences for t in traces)
    full_batches = math.ceil(sequences / sim.max_batch_sequences)
    budget = config.search
    return Scenario(
        theorems=len(names),
        workers=sim.workers,
        concurrency=run.concurrency,
        samples=budget.samples,
        expansions=budget.max_expansions,
        proved=sum(r.proved for r in run.results),
        tactics=run.tactics,
        checks=run.checks,
        model_calls=sum(t.model_calls for t in traces),
        wall_seconds=run.wall_seconds,
        bound_workers=sim.header_seconds + work / sim.workers,
        bound_gpu=sim.generation_fixed * full_batches + sim.generation_per_sequence * sequences,
        llemma_seconds=llemma_seconds(traces, sim),
        shards_seconds=sharded_seconds(traces, sim, sim.workers),
        lean_work_seconds=work,
        lean_busy_seconds=run.machine.seconds,
        processes_started=run.processes_started,
        memory_deaths=run.machine.deaths,
        real_seconds=run.real_seconds,
    )


def run_scenario(config: Config, theorems: int, concurrency: int = 0) -> Scenario:
    """K = `theorems` through the backend at `concurrency` (0: the backend's default)."""
    items = sim_theorems(theorems)
    budget = dataclasses.replace(config.search.budget(), wall_seconds=UNBOUNDED_BUDGET)
    run = clock.run(run_backend(config, items, budget, concurrency), virtual=True)
    return summarise(config, run, [t.name for t in items])


def format_scenario(s: Scenario) -> str:
    return "\n".join(
        [
            f"K={s.theorems} theorems, W={s.workers} Lean cores, concurrency {s.concurrency}, "
            f"{s.samples} samples × {s.expansions} expansions; real lean-repl pool, sessions, "
            "checker and judge on simulated REPL processes; virtual clock",
            f"work: {s.proved}/{s.theorems} proved, {s.tactics:,} tactics, {s.checks} checks, "
            f"{s.model_calls:,} model calls; Lean work {s.lean_work_seconds:,.0f} core-s, cores "
            f"computed {s.lean_busy_seconds:,.0f} core-s (headers, replays), "
            f"{s.processes_started} processes started, {s.memory_deaths} died of memory",
            f"ideal bound: max(header + Lean work / W = {s.bound_workers:,.1f} s, GPU at full "
            f"batching = {s.bound_gpu:,.1f} s) = {s.bound:,.1f} s",
            f"runner: {s.wall_seconds:,.1f} s = {s.over_bound:.3f} × bound; cores busy "
            f"{s.core_busy:.3f}; {s.real_seconds:.1f} s of real time to simulate",
            f"{s.workers} sequential shards sharing one GPU: {s.shards_seconds:,.1f} s "
            f"({s.over_shards:.3f} × the runner)",
            f"Llemma-style sequential loop: {s.llemma_seconds:,.1f} s "
            f"({s.over_llemma:.2f} × the runner)",
        ]
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `python -m benchmarks.perf scenario`."""
    parser.add_argument("--theorems", "-K", type=int, default=64, help="K (default 64)")
    parser.add_argument(
        "--concurrency", "-c", type=int, default=0, help="runner concurrency (default: backend's)"
    )
    add_config_options(parser, "sim.workers=15")
    parser.add_argument("--json", action="store_true", help="print JSON")


def config_arguments(args: argparse.Namespace) -> list[str]:
    """The `--config`/`--set` flags of `args`, to hand the same configuration to a child."""
    out = ["--config", args.config] if args.config else []
    for text in args.assignments:
        out += ["--set", text]
    return out


def from_json(data: dict[str, Any]) -> Scenario:
    names = {f.name for f in dataclasses.fields(Scenario)}
    return Scenario(**{k: v for k, v in data.items() if k in names})


def run(args: argparse.Namespace) -> int:
    """Run one scenario and print it."""
    if args.theorems < 1 or args.concurrency < 0:
        raise InputError("--theorems must be at least 1 and --concurrency at least 0")
    result = run_scenario(load_from_args(args, {}), args.theorems, args.concurrency)
    print(json.dumps(result.to_json()) if args.json else format_scenario(result))
    return 0
