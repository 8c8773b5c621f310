"""Search overhead: tactic results processed per second with zero-latency stand-ins on one core.

Runs the real runner (`attempt_many` + the configured strategy) on the sim environment and
generator with every latency set to zero, so all time is Python: the search loop, the event loop
and the stand-ins themselves (whose share is measured separately and reported).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.perf.scheduler import UNBOUNDED_WALL, harness_config, sim_theorems
from benchmarks.perf.sim import SimEnvironment
from prover.config import Config
from prover.config_args import add_config_options, load_from_args
from prover.errors import InputError
from prover.run import attempt_many, components
from prover.types import Budget, ProofState

TARGET = 10_000.0  # tactic results per second on one core


@dataclass(frozen=True)
class Overhead:
    """Throughput of the search loop with zero-latency stand-ins."""

    theorems: int
    concurrency: int
    tactics: int
    expansions: int
    wall_seconds: float
    cpu_seconds: float
    stand_in_seconds_per_tactic: float  # the sim environment's own cost, measured alone
    cpu: int | None  # the core the process was pinned to, if pinning was possible

    @property
    def tactics_per_second(self) -> float:
        return self.tactics / self.wall_seconds

    @property
    def search_microseconds_per_tactic(self) -> float:
        """Per tactic, excluding the stand-in environment's own cost."""
        return 1e6 * (self.wall_seconds / self.tactics - self.stand_in_seconds_per_tactic)

    def to_json(self) -> dict[str, Any]:
        return {
            **dataclasses.asdict(self),
            "tactics_per_second": self.tactics_per_second,
            "search_microseconds_per_tactic": self.search_microseconds_per_tactic,
            "target_tactics_per_second": TARGET,
        }


def zero_latency(config: Config) -> Config:
    """`config` with every simulated latency zero (and the sim plug-ins selected)."""
    sim = dataclasses.replace(
        config.section("sim"),
        tactic_median=0.0,
        generation_fixed=0.0,
        generation_per_sequence=0.0,
        batch_window=0.0,
    )
    return harness_config(config.with_section("sim", sim))


def pin_to_one_core() -> int | None:
    """Restrict this process to one core (Linux); None where affinity is not supported."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


async def _stand_in_cost(config: Config, samples: int = 20_000) -> float:
    """Seconds per `run_tactic` of the zero-latency sim session alone (no search)."""
    env = SimEnvironment(config.section("sim"))
    session = await env.open(sim_theorems(1)[0])
    state: ProofState = session.initial_state
    start = time.perf_counter()
    for i in range(samples):
        await session.run_tactic(state, f"tactic_{i}")
    return (time.perf_counter() - start) / samples


async def _measure(config: Config, theorems: int, concurrency: int, budget: Budget) -> Overhead:
    stand_in = await _stand_in_cost(config)
    async with components(config) as parts:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        results = await attempt_many(sim_theorems(theorems), parts, budget, concurrency)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    errors = [r for r in results if r.error]
    if errors:
        raise RuntimeError(f"overhead run had {len(errors)} errors, e.g. {errors[0].error}")
    return Overhead(
        theorems=theorems,
        concurrency=concurrency,
        tactics=sum(r.stats.tactics_run for r in results),
        expansions=sum(r.stats.expansions for r in results),
        wall_seconds=wall,
        cpu_seconds=cpu,
        stand_in_seconds_per_tactic=stand_in,
        cpu=None,
    )


def measure_overhead(
    config: Config, *, theorems: int = 64, concurrency: int = 64, pin: bool = True
) -> Overhead:
    """Zero-latency run of `theorems` through `attempt_many`, pinned to one core if possible."""
    config = zero_latency(config)
    budget = dataclasses.replace(config.search.budget(), wall_seconds=UNBOUNDED_WALL)
    saved = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    cpu = pin_to_one_core() if pin else None
    try:
        result = asyncio.run(_measure(config, theorems, concurrency, budget))
    finally:
        if cpu is not None and saved is not None:
            os.sched_setaffinity(0, saved)
    return dataclasses.replace(result, cpu=cpu)


def format_overhead(result: Overhead) -> str:
    met = "met" if result.tactics_per_second >= TARGET else "MISSED"
    where = f"pinned to CPU {result.cpu}" if result.cpu is not None else "not pinned"
    return (
        f"search overhead ({where}): {result.tactics:,} tactic results from "
        f"{result.theorems} theorems ({result.expansions:,} expansions, concurrency "
        f"{result.concurrency}) in {result.wall_seconds:.2f} s wall / {result.cpu_seconds:.2f} s "
        f"CPU\n  = {result.tactics_per_second:,.0f} tactic results per second "
        f"(target ≥ {TARGET:,.0f}: {met}); {1e6 / result.tactics_per_second:.1f} µs per tactic, "
        f"of which the zero-latency stand-in itself {1e6 * result.stand_in_seconds_per_tactic:.1f}"
        f" µs and search + event loop {result.search_microseconds_per_tactic:.1f} µs"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--theorems", type=int, default=64, help="theorems to run (default 64)")
    parser.add_argument("--concurrency", type=int, default=64, help="theorems in flight")
    parser.add_argument("--samples", type=int, help="candidates per expansion (default 32)")
    parser.add_argument("--expansions", type=int, help="max expansions per theorem (default 100)")
    parser.add_argument("--seed", type=int, help="sim seed (default 0)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin to one core")
    add_config_options(parser, "sim.workers=15")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--check", action="store_true", help="exit 1 if the target is missed")


def run(args: argparse.Namespace) -> int:
    if args.theorems < 1 or args.concurrency < 1:
        raise InputError("--theorems and --concurrency must be at least 1")
    config = load_from_args(
        args,
        {"samples": "search.samples", "expansions": "search.max_expansions", "seed": "sim.seed"},
    )
    result = measure_overhead(
        config, theorems=args.theorems, concurrency=args.concurrency, pin=not args.no_pin
    )
    print(json.dumps(result.to_json(), indent=1) if args.json else format_overhead(result))
    return 1 if args.check and result.tactics_per_second < TARGET else 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m benchmarks.perf.overhead`."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.perf.overhead", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except InputError as exc:
        sys.stderr.write(f"{parser.prog}: error: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
