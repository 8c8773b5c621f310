"""The real `lean-repl` backend on simulated REPL processes, and what one run of it did.

`lean_environment` builds `environments.lean.repl.LeanReplEnvironment` exactly as `--env lean-repl`
does, except that its two pools start `SimProcesses` (benchmarks/perf/repl_sim.py) instead of
real processes: the pool, workers, sessions, recycling, checker and judge are the product's code.
The search pool has W processes (`sim.workers`), the checker `lean.checker_pool_size`, and all of
them share the machine's W simulated cores.

`Traced` wraps the environment and generator at their protocol boundary, only to record, per
theorem and in order, the Lean work the search asked for (at its nominal simulated cost) and its
model calls. Those traces give the ideal bound and drive the sequential baselines
(benchmarks/perf/baselines.py).
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.perf.repl_sim import Machine, SimProcesses
from benchmarks.perf.sim import SimGenerator
from benchmarks.perf.world import World
from environments.lean.pool import ReplPool
from environments.lean.repl import LeanReplEnvironment
from environments.lean.settings import LeanConfig
from environments.lean.worker import WorkerSettings
from prover.config import Config
from prover.generators.cache import cached
from prover.protocols import GenerationParams, Generator
from prover.run import Components, attempt_many, build_strategy, concurrency_for
from prover.types import (
    Budget,
    Candidate,
    Failed,
    Finished,
    ProofState,
    SearchResult,
    TacticResult,
    Theorem,
    Verdict,
)

SIM_HEADER = "import Mathlib"
_THEOREM: contextvars.ContextVar[str] = contextvars.ContextVar("perf_theorem", default="")


def sim_theorems(count: int) -> list[Theorem]:
    """`count` synthetic theorems; the simulated world derives each one's search from its name."""
    return [
        Theorem(
            name=f"sim_{i:03d}",
            statement=f"theorem sim_{i:03d} : sim_goal_{i} := by sorry",
            header=SIM_HEADER,
        )
        for i in range(count)
    ]


def sim_lean_config(config: Config) -> LeanConfig:
    """`[lean]` for the harness: W search processes, timeouts in (scaled) simulated seconds."""
    lean, scale = config.section("lean"), config.section("sim").time_scale
    return dataclasses.replace(
        lean,
        pool_size=config.section("sim").workers,
        # The kernel judge runs Lean's own tools (lake, lean4export, lean4checker), which the
        # simulated processes do not stand in for; the harness judges with the REPL check.
        judge="repl",
        tactic_timeout=lean.tactic_timeout / scale,
        verify_timeout=lean.verify_timeout / scale,
        header_timeout=lean.header_timeout / scale,
    )


def lean_environment(config: Config, machine: Machine) -> LeanReplEnvironment:
    """The product's `lean-repl` environment whose processes are simulated on `machine`."""
    lean = sim_lean_config(config)
    limit = int(lean.memory_limit_gb * 1024**3) if lean.memory_limit_gb > 0 else None
    settings = WorkerSettings(
        argv=("simulated-lean-repl",),
        memory_limit_bytes=limit,
        header_timeout=lean.header_timeout,
        recycle_after=lean.recycle_after,
    )
    pool = ReplPool(settings, lean.pool_size, tracker=SimProcesses(machine))
    checker = ReplPool(settings, lean.checker_pool_size, tracker=SimProcesses(machine))
    return LeanReplEnvironment(lean, pool=pool, checker_pool=checker)


@dataclass
class Trace:
    """What one theorem asked for, in order: ("lean", seconds) and ("model", sequences)."""

    events: list[tuple[str, float]] = field(default_factory=list)

    def lean(self, seconds: float) -> None:
        if self.events and self.events[-1][0] == "lean":  # back to back on one process
            self.events[-1] = ("lean", self.events[-1][1] + seconds)
        else:
            self.events.append(("lean", seconds))

    def model(self, sequences: int) -> None:
        self.events.append(("model", float(sequences)))

    @property
    def lean_seconds(self) -> float:
        return sum(v for kind, v in self.events if kind == "lean")

    @property
    def model_calls(self) -> int:
        return sum(1 for kind, _ in self.events if kind == "model")

    @property
    def sequences(self) -> int:
        return int(sum(v for kind, v in self.events if kind == "model"))


class Traces:
    """The traces of every theorem, costed by the same pure functions the stand-in uses."""

    def __init__(self, config: Config, world: World | None = None) -> None:
        self.world = world or World(config.section("sim"))
        self.sim = config.section("sim")
        self.by_theorem: dict[str, Trace] = defaultdict(Trace)
        self.tactics = 0
        self.checks = 0
        self._referenced: set[str] = set()  # the checker keeps each statement's reference type

    def _current(self) -> Trace:
        return self.by_theorem[_THEOREM.get()]

    def opened(self, theorem: str) -> None:
        _THEOREM.set(theorem)
        self.by_theorem[theorem].lean(self.sim.command_seconds)

    def tactic(self, theorem: str, state: ProofState, tactic: str) -> None:
        self.tactics += 1
        self._current().lean(self.world.step(theorem, state.pretty, tactic).seconds)

    def check(self, theorem: str, proof: str) -> None:
        """A whole-proof check: the proof and, if it passes, `#print axioms` and `#check`; the
        first check of a theorem also opens its statement and reads its type (kept after)."""
        self.checks += 1
        goal: str | None = self.world.initial_state(theorem, theorem).pretty
        seconds = 0.0
        if theorem not in self._referenced:
            self._referenced.add(theorem)
            seconds += 2 * self.sim.command_seconds
        for line in (line.strip() for line in proof.splitlines()):
            if not line:
                continue
            if goal is None:
                break
            step = self.world.step(theorem, goal, line)
            seconds += step.seconds
            if isinstance(step.result, Failed):
                break
            goal = None if isinstance(step.result, Finished) else step.result.state.pretty
        else:
            if goal is None:  # accepted: the two queries follow
                seconds += 2 * self.sim.command_seconds
        self._current().lean(seconds)

    def model(self, sequences: int) -> None:
        self._current().model(sequences)


class _TracedSession:
    def __init__(self, inner: Any, theorem: str, traces: Traces) -> None:
        self.inner = inner
        self._theorem = theorem
        self._traces = traces

    @property
    def initial_state(self) -> ProofState:
        return self.inner.initial_state  # type: ignore[no-any-return]

    @property
    def queued_seconds(self) -> float:
        return self.inner.queued_seconds  # type: ignore[no-any-return]

    async def run_tactic(self, state: ProofState, tactic: str) -> TacticResult:
        self._traces.tactic(self._theorem, state, tactic)
        return await self.inner.run_tactic(state, tactic)  # type: ignore[no-any-return]

    async def verify(self, proof: str) -> Verdict:
        self._traces.check(self._theorem, proof)
        return await self.inner.verify(proof)  # type: ignore[no-any-return]

    def assemble(self, steps: Sequence[str]) -> str:
        return self.inner.assemble(steps)  # type: ignore[no-any-return]

    async def close(self) -> None:
        await self.inner.close()


class TracedEnvironment:
    """Records what the search asks of `inner`; passes every call through unchanged."""

    def __init__(self, inner: LeanReplEnvironment, traces: Traces) -> None:
        self.inner = inner
        self.name = inner.name
        self.traces = traces

    @property
    def capacity(self) -> int:
        return self.inner.capacity

    async def open(self, theorem: Theorem) -> _TracedSession:
        self.traces.opened(theorem.name)
        return _TracedSession(await self.inner.open(theorem), theorem.name, self.traces)

    async def judge(self, theorem: Theorem, proof: str) -> Verdict:
        self.traces.check(theorem.name, proof)
        return await self.inner.judge(theorem, proof)

    async def close(self) -> None:
        await self.inner.close()


class TracedGenerator:
    """Records each model call's sequences for the theorem whose task made it."""

    def __init__(self, inner: Generator, traces: Traces) -> None:
        self.inner = inner
        self.name = inner.name
        self._traces = traces

    async def generate(
        self, prompt: str, n: int, params: GenerationParams | None = None
    ) -> list[Candidate]:
        self._traces.model(n)
        return await self.inner.generate(prompt, n, params)

    async def close(self) -> None:
        await self.inner.close()


@dataclass(frozen=True)
class BackendRun:
    """One run of the runner on the simulated Lean backend."""

    concurrency: int
    wall_seconds: float  # simulated
    real_seconds: float
    results: tuple[SearchResult, ...]
    traces: dict[str, Trace]
    machine: Any  # MachineUsage
    gpu: Any  # GpuUsage
    processes_started: int
    tactics: int
    checks: int


async def run_backend(
    config: Config, theorems: Sequence[Theorem], budget: Budget, concurrency: int = 0
) -> BackendRun:
    """`attempt_many` over `theorems` on the simulated backend; concurrency 0 = its default."""
    machine = Machine(config.section("sim"))
    traces = Traces(config, machine.world)
    env = TracedEnvironment(lean_environment(config, machine), traces)
    gpu = SimGenerator(config.section("sim"))
    generator = cached(TracedGenerator(gpu, traces), config.generation.cache_size)
    parts = Components(env, generator, build_strategy(config))
    chosen = concurrency_for(env.inner, concurrency or config.bench.concurrency)
    loop = asyncio.get_running_loop()
    start, real_start = loop.time(), time.perf_counter()
    try:
        results = await attempt_many(theorems, parts, budget, chosen)
        wall = (loop.time() - start) * config.section("sim").time_scale
    finally:
        await env.close()
        await generator.close()
    started = len(env.inner.pool.tracker.started) + len(env.inner.checker_pool.tracker.started)
    return BackendRun(
        concurrency=chosen,
        wall_seconds=wall,
        real_seconds=time.perf_counter() - real_start,
        results=tuple(results),
        traces=dict(traces.by_theorem),
        machine=machine.usage,
        gpu=gpu.usage,
        processes_started=started,
        tactics=traces.tactics,
        checks=traces.checks,
    )
