"""Simulated environment and generator (plug-ins `sim`): real scheduling, simulated latencies.

The environment holds one of W worker slots for each tactic's latency; the generator is one GPU that
batches every request waiting when it becomes free and takes a + b·(sequences) per batch. Both
measure what they were busy with, so the harness can compare schedulers against the ideal bound.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from benchmarks.perf.settings import SimConfig
from benchmarks.perf.world import World
from prover.config import Config
from prover.errors import InputError
from prover.protocols import GenerationParams
from prover.types import (
    Candidate,
    Failed,
    Finished,
    ProofState,
    TacticResult,
    Theorem,
    Verdict,
    VerdictStatus,
)


@dataclass
class WorkerUsage:
    """What the worker slots did. `nominal` is simulated latency drawn; `held` is clock time."""

    tactics: int = 0
    verifies: int = 0
    nominal_seconds: float = 0.0
    held_seconds: float = 0.0
    max_in_use: int = 0
    by_theorem: dict[str, float] = field(default_factory=lambda: defaultdict(float))


@dataclass
class GpuUsage:
    """What the simulated GPU did, in simulated seconds."""

    requests: int = 0
    sequences: int = 0
    batches: int = 0
    max_batch_sequences: int = 0
    nominal_seconds: float = 0.0
    busy_seconds: float = 0.0


class SimEnvironment:
    """Proof sessions on the simulated world; every tactic and check holds one of W slots.

    By default any free slot serves any session. With `worker_affinity` a session leases one
    worker for its lifetime (the least leased, as the Lean REPL pool does) and waits for it.
    """

    name = "sim"

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.world = World(config)
        self.usage = WorkerUsage()
        self._slots = asyncio.Semaphore(config.workers)
        self._workers = [asyncio.Lock() for _ in range(config.workers)]
        self._leases = [0] * config.workers
        self._in_use = 0

    async def open(self, theorem: Theorem) -> SimSession:
        worker = None
        if self.config.worker_affinity:
            worker = min(range(len(self._leases)), key=self._leases.__getitem__)
            self._leases[worker] += 1
        return SimSession(self, theorem, worker)

    def release(self, worker: int | None) -> None:
        if worker is not None:
            self._leases[worker] -= 1

    async def hold(
        self, theorem: str, seconds: float, *, worker: int | None = None, verify: bool = False
    ) -> None:
        """Occupy a worker slot (any, or the leased `worker`) for `seconds` of simulated time."""
        scale = self.config.time_scale
        async with self._slots if worker is None else self._workers[worker]:
            self._in_use += 1
            self.usage.max_in_use = max(self.usage.max_in_use, self._in_use)
            loop = asyncio.get_running_loop()
            start = loop.time()
            try:
                if seconds > 0:
                    await asyncio.sleep(seconds / scale)
            finally:
                self._in_use -= 1
                self.usage.held_seconds += (loop.time() - start) * scale
        if verify:
            self.usage.verifies += 1
        else:
            self.usage.tactics += 1
        self.usage.nominal_seconds += seconds
        self.usage.by_theorem[theorem] += seconds

    async def judge(self, theorem: Theorem, proof: str) -> Verdict:
        """Replays the proof from the initial state on a session of its own."""
        session = await self.open(theorem)
        try:
            return await session.verify(proof)
        finally:
            await session.close()

    async def close(self) -> None:
        return None


class SimSession:
    """One attempt; `verify` replays the proof from the initial state, holding one worker."""

    def __init__(self, env: SimEnvironment, theorem: Theorem, worker: int | None) -> None:
        self._env = env
        self._worker = worker
        self._theorem = theorem.name
        self._initial = env.world.initial_state(theorem.name, theorem.statement)

    @property
    def initial_state(self) -> ProofState:
        return self._initial

    @property
    def worker(self) -> int | None:
        """The worker this session leased (with `worker_affinity`), else None."""
        return self._worker

    async def run_tactic(self, state: ProofState, tactic: str) -> TacticResult:
        step = self._env.world.step(self._theorem, state.pretty, tactic)
        await self._env.hold(self._theorem, step.seconds, worker=self._worker)
        return step.result

    async def verify(self, proof: str) -> Verdict:
        world = self._env.world
        state: ProofState | None = self._initial
        seconds = 0.0
        verdict = Verdict(VerdictStatus.REJECTED, "sim", "the proof leaves goals open")
        for line in proof.splitlines():
            if state is None:
                verdict = Verdict(VerdictStatus.REJECTED, "sim", "steps after the goals closed")
                break
            step = world.step(self._theorem, state.pretty, line)
            seconds += step.seconds
            if isinstance(step.result, Failed):
                verdict = Verdict(VerdictStatus.REJECTED, "sim", f"step failed: {line}")
                break
            if isinstance(step.result, Finished):
                state = None
                verdict = Verdict(VerdictStatus.ACCEPTED, "sim")
            else:
                state = step.result.state
        await self._env.hold(self._theorem, seconds, worker=self._worker, verify=True)
        return verdict

    def assemble(self, steps: Sequence[str]) -> str:
        return "\n".join(steps)

    async def close(self) -> None:
        self._env.release(self._worker)
        self._worker = None


@dataclass
class _Request:
    sequences: int
    done: asyncio.Future[None]


class SimGenerator:
    """One simulated GPU: batches all waiting requests; a batch takes a + b·(its sequences)."""

    name = "sim"

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.world = World(config)
        self.usage = GpuUsage()
        self._waiting: list[_Request] = []
        self._wake = asyncio.Event()
        self._engine: asyncio.Task[None] | None = None

    async def generate(
        self, prompt: str, n: int, params: GenerationParams | None = None
    ) -> list[Candidate]:
        if n < 1:
            return []
        loop = asyncio.get_running_loop()
        if self._engine is None:
            self._engine = loop.create_task(self._serve(), name="sim-gpu")
        elif self._engine.get_loop() is not loop:
            raise RuntimeError("a sim generator serves one event loop; build one per loop")
        await self.serve(n)
        return self.world.candidates(prompt, n)

    async def serve(self, sequences: int) -> None:
        """Wait while the GPU generates `sequences` sequences in some batch."""
        loop = asyncio.get_running_loop()
        if self._engine is None:
            self._engine = loop.create_task(self._serve(), name="sim-gpu")
        request = _Request(sequences, loop.create_future())
        self._waiting.append(request)
        self.usage.requests += 1
        self._wake.set()
        await request.done

    async def _serve(self) -> None:
        cfg = self.config
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            if cfg.batch_window > 0:
                await asyncio.sleep(cfg.batch_window / cfg.time_scale)
            while self._waiting:
                batch = self._take_batch()
                if not batch:
                    continue
                sequences = sum(r.sequences for r in batch)
                seconds = cfg.generation_fixed + cfg.generation_per_sequence * sequences
                start = loop.time()
                if seconds > 0:
                    await asyncio.sleep(seconds / cfg.time_scale)
                self.usage.busy_seconds += (loop.time() - start) * cfg.time_scale
                self.usage.nominal_seconds += seconds
                self.usage.batches += 1
                self.usage.sequences += sequences
                self.usage.max_batch_sequences = max(self.usage.max_batch_sequences, sequences)
                for request in batch:
                    if not request.done.done():
                        request.done.set_result(None)

    def _take_batch(self) -> list[_Request]:
        """Waiting requests in arrival order up to the batch limit (at least one)."""
        limit = self.config.max_batch_sequences
        batch: list[_Request] = []
        total = 0
        while self._waiting:
            request = self._waiting[0]
            if request.done.cancelled():  # its search gave up while it waited
                self._waiting.pop(0)
                continue
            if batch and total + request.sequences > limit:
                break
            batch.append(self._waiting.pop(0))
            total += request.sequences
        return batch

    async def close(self) -> None:
        if self._engine is not None:
            self._engine.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._engine
            self._engine = None


def create_environment(config: Config) -> SimEnvironment:
    """Entry point: `--env sim`, configured by `[sim]`."""
    return SimEnvironment(config.section("sim"))


def create_generator(spec: str, config: Config) -> SimGenerator:
    """Entry point: `--model sim:` (no model name), configured by `[sim]`."""
    if spec:
        raise InputError(
            f"the sim generator takes no model name (got 'sim:{spec}'); use --model sim: "
            "and set its latencies under [sim]"
        )
    return SimGenerator(config.section("sim"))
