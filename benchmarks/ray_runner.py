"""`prover bench --ray`: the same runner spread over a Ray cluster.

One generator actor per GPU holds the model; environment worker actors (CPU only) each own one
environment and strategy and run up to `bench.concurrency` attempts at a time through
prover.run.attempt_many, asking their generator actor for candidates (concurrent requests reach
the backend together, so it can batch them). The driver hands theorems to workers as slots free
up and commits each result to the same results store as the local runner. Paths in the config
(traces, scripts, Lean projects) must exist on the nodes that use them.

Every exit path (done, error, Ctrl-C) closes the actors' environments (stopping their proof-
assistant processes), kills the actors, and shuts down a Ray instance the driver started. Ray's
daemons of such an instance are recorded in the driver's process ledger, so a `kill -9` of the
driver takes them down too (prover.leftovers); no future is left with an unretrieved exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import os
import socket
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from benchmarks.progress import Progress
from prover.config import Config, load_config
from prover.errors import BackendError, InputError, require
from prover.processes import ProcessTracker, descendants
from prover.protocols import GenerationParams
from prover.run import (
    ATTEMPT_KEY,
    DEFAULT_CONCURRENCY,
    Components,
    attempt_many,
    build_environment,
    build_generator,
    build_strategy,
)
from prover.types import Candidate, SearchResult, SearchStats, Status, Theorem


class Plan(Protocol):
    """What the Ray executor reads of the runner's plan (benchmarks.runner.Plan)."""

    @property
    def config(self) -> Config: ...

    @property
    def pending(self) -> tuple[tuple[Theorem, int], ...]: ...


class Recorder(Protocol):
    """What the Ray executor uses of the runner's recorder (benchmarks.runner.Recorder)."""

    progress: Progress

    def start(self, generator: object | None) -> None: ...

    def record(
        self, theorem: Theorem, attempt: int, result: SearchResult, worker: str | None = None
    ) -> None: ...


class GeneratorHost:
    """Actor body: one model backend serving every worker assigned to it."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.generator = build_generator(load_config(None, config))

    async def generate(
        self, prompt: str, n: int, params: GenerationParams | None = None
    ) -> list[Candidate]:
        return await self.generator.generate(prompt, n, params)

    async def describe(self) -> dict[str, Any]:
        describe = getattr(self.generator, "describe", None)
        return {"name": self.generator.name, **(describe() if callable(describe) else {})}

    async def close(self) -> None:
        await self.generator.close()


class RemoteGenerator:
    """The Generator protocol over a generator actor handle."""

    def __init__(self, handle: Any, name: str) -> None:
        self.handle = handle
        self.name = name

    async def generate(
        self, prompt: str, n: int, params: GenerationParams | None = None
    ) -> list[Candidate]:
        result: list[Candidate] = await self.handle.generate.remote(prompt, n, params)
        return result

    async def close(self) -> None:
        return None  # the actor owns the model


class ProverHost:
    """Actor body: one environment and strategy; attempts run through attempt_many."""

    def __init__(self, config: dict[str, Any], generator: Any, generator_name: str) -> None:
        resolved = load_config(None, config)
        self.budget = resolved.search.budget()
        self.parts = Components(
            environment=build_environment(resolved),
            generator=RemoteGenerator(generator, generator_name),
            strategy=build_strategy(resolved),
            seed=resolved.generation.seed,  # request seeds derive from the run seed
        )
        self.where = f"{socket.gethostname()}:{os.getpid()}"

    async def prove(self, theorem: Theorem) -> tuple[SearchResult, str]:
        (result,) = await attempt_many([theorem], self.parts, self.budget, 1)
        return result, self.where

    async def close(self) -> None:
        await self.parts.environment.close()


def actor_counts(config: Config, resources: dict[str, float]) -> tuple[int, bool, int]:
    """(generator actors, whether they get a GPU each, environment workers)."""
    gpus = int(resources.get("GPU", 0))
    generators = config.bench.ray_generators or max(1, gpus)
    on_gpu = gpus > 0
    if on_gpu and generators > gpus:
        raise InputError(
            f"bench.ray_generators={generators} but the cluster has {gpus} GPU(s); "
            "use at most one generator per GPU"
        )
    free = float(resources.get("CPU", 1)) - generators  # each generator actor holds one CPU
    workers = config.bench.ray_workers or max(1, math.floor(free / config.bench.ray_worker_cpus))
    return generators, on_gpu, workers


async def execute_ray(plan: Plan, recorder: Recorder) -> None:
    """Run the plan's pending attempts on Ray and record each as it finishes."""
    ray: Any = require("ray", "ray")
    config = plan.config
    started = not ray.is_initialized()
    tracker = ProcessTracker()
    _ = tracker.ledger  # its watchdog starts now, so it is not taken for one of Ray's processes
    known = set(descendants(os.getpid()))

    def record_ray_processes() -> None:
        # A local instance's daemons and the workers its raylet starts for our actors are our
        # descendants: record them so they die with the driver (after a kill -9 the ledger's
        # watchdog stops them; Ray's own fate-sharing leaves workers behind for minutes).
        new = [p for p in descendants(os.getpid()) if p not in known]
        known.update(new)
        tracker.adopt(new)

    if started:
        try:
            ray.init(
                address=config.bench.ray_address or None,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        finally:
            record_ray_processes()
    actors: list[Any] = []
    closers: list[Any] = []
    try:
        generators, on_gpu, n_workers = actor_counts(config, ray.cluster_resources())
        config_dict = config.to_dict()
        gen_cls = ray.remote(GeneratorHost)
        prover_cls = ray.remote(ProverHost)
        gen_opts = {"num_gpus": 1, "num_cpus": 1} if on_gpu else {"num_cpus": 1}
        gens = [gen_cls.options(**gen_opts).remote(config_dict) for _ in range(generators)]
        actors += gens
        closers += gens
        startup = config.bench.ray_startup_timeout
        try:
            described = await asyncio.wait_for(_awaitable(gens[0].describe.remote()), startup)
        except asyncio.TimeoutError:
            raise BackendError(
                f"the generator actor did not start within {startup:.0f} s; check `ray status` "
                "for pending actors (missing GPUs?) or raise bench.ray_startup_timeout"
            ) from None
        name = str(described.get("name", "generator"))

        # Workers build their environment remotely, so its capacity is not known here.
        slots = config.bench.concurrency or DEFAULT_CONCURRENCY

        def new_worker(i: int) -> Any:
            actor = prover_cls.options(
                num_cpus=config.bench.ray_worker_cpus,
                num_gpus=0,
                max_concurrency=slots,
            ).remote(config_dict, gens[i % len(gens)], name)
            actors.append(actor)  # replacements too: every actor is killed at the end
            closers.insert(0, actor)  # workers close before the generators they use
            return actor

        workers = [new_worker(i) for i in range(n_workers)]
        recorder.start(_Described(name, described))
        recorder.progress.message(
            f"ray: {generators} generator actor(s){' on GPUs' if on_gpu else ''}, "
            f"{n_workers} environment worker(s) × {slots} in flight"
        )
        # No result at all for this long means workers never started or hang beyond their own
        # limits (attempt_many bounds each attempt by the wall budget plus 900 s).
        silence = startup + config.search.wall_seconds + 900.0
        record_ray_processes()
        await _drive(
            plan.pending, workers, slots, recorder, new_worker, ray, silence, record_ray_processes
        )
    finally:
        await _close_actors(closers, ray, min(config.bench.ray_startup_timeout, 30.0))
        for actor in actors:
            with contextlib.suppress(Exception):
                ray.kill(actor)
        if started:
            with contextlib.suppress(Exception):
                ray.shutdown()
        await tracker.stop_all()  # whatever of Ray's daemons outlived its shutdown


async def _close_actors(actors: Sequence[Any], ray: Any, timeout: float) -> None:
    """Ask each actor to close (environments stop their processes) within `timeout` seconds;
    an actor that does not answer is killed by the caller anyway."""
    futures = []
    for actor in actors:
        with contextlib.suppress(Exception):
            futures.append(_awaitable(actor.close.remote()))
    if not futures:
        return
    done, pending = await asyncio.wait(futures, timeout=timeout)
    for future in pending:
        future.cancel()
    for future in done:
        if not future.cancelled():
            future.exception()  # retrieved: a dead actor's error is expected here


class _Described:
    """What the version record needs of a generator: its name and description."""

    def __init__(self, name: str, description: dict[str, Any]) -> None:
        self.name = name
        self._description = description

    def describe(self) -> dict[str, Any]:
        return self._description


async def _drive(
    pending: Sequence[tuple[Theorem, int]],
    workers: list[Any],
    slots: int,
    recorder: Recorder,
    new_worker: Any,
    ray: Any,
    silence: float,
    each_round: Callable[[], None] = lambda: None,
) -> None:
    """Keep every worker at `slots` attempts in flight until all pending attempts are recorded;
    `each_round` runs at least every `_ROUND` seconds (it records processes Ray started)."""
    loop = asyncio.get_running_loop()
    last_result = loop.time()
    queue = list(reversed(pending))
    load = [0] * len(workers)
    flight: dict[asyncio.Future[Any], tuple[int, Theorem, int, Any]] = {}
    try:
        while queue or flight:
            while queue and min(load) < slots:
                w = load.index(min(load))  # the least busy worker: spreads theorems evenly
                theorem, attempt = queue.pop()
                tagged = dataclasses.replace(
                    theorem, metadata={**theorem.metadata, ATTEMPT_KEY: attempt}
                )
                ref = workers[w].prove.remote(tagged)
                flight[_awaitable(ref)] = (w, theorem, attempt, ref)
                load[w] += 1
            done, _ = await asyncio.wait(
                list(flight), timeout=_ROUND, return_when=asyncio.FIRST_COMPLETED
            )
            each_round()
            if done:
                last_result = loop.time()
            elif loop.time() - last_result < silence:
                continue
            else:
                raise BackendError(
                    f"no result from any Ray worker for {silence:.0f} s; check `ray status` "
                    "for actors that cannot be placed"
                )
            for future in done:
                w, theorem, attempt, _ref = flight.pop(future)
                load[w] -= 1
                try:
                    result, where = future.result()
                except ray.exceptions.RayActorError as exc:
                    result, where = _failure(theorem, f"ray worker died: {exc}"), None
                    workers[w] = new_worker(w)  # a crashed worker is replaced, not reused
                except ray.exceptions.RayError as exc:
                    result, where = _failure(theorem, f"ray task failed: {exc}"), None
                recorder.record(theorem, attempt, result, worker=where)
    finally:
        for future, (_w, _t, _a, ref) in flight.items():
            # Cancelled here, the future never holds the exception ray.cancel causes, so nothing
            # is reported as "never retrieved".
            future.cancel()
            with contextlib.suppress(Exception):
                ray.cancel(ref)


_ROUND = 1.0  # seconds between looks for processes Ray started


def _awaitable(ref: Any) -> asyncio.Future[Any]:
    """An asyncio future for a Ray ObjectRef; an exception nobody asks for is still retrieved."""
    future = asyncio.wrap_future(ref.future())
    future.add_done_callback(_retrieve)
    return future


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _failure(theorem: Theorem, message: str) -> SearchResult:
    return SearchResult(
        theorem=theorem.name,
        status=Status.ERROR,
        error=message.splitlines()[0][:500] if message else "ray error",
        stats=SearchStats(stop_reason="error"),
    )
