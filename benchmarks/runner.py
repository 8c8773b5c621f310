"""The benchmark runner: choose theorems, skip what the store has, run the rest, record each.

Scheduling is prover.run.attempt_many's: `bench.concurrency` attempts in flight sharing one
generator and one environment. Every finished attempt is committed to the results store before
the next is reported, so Ctrl-C (or SIGTERM) cancels only the attempts in flight, and
`--resume RUN` runs exactly the (theorem, attempt) pairs the store does not hold.
"""

from __future__ import annotations

import asyncio
import dataclasses
import difflib
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks import versions
from benchmarks.progress import Progress, Tally
from benchmarks.store import RunInfo, Store, StoreWriter
from prover import registry
from prover.config import Config, load_config
from prover.errors import InputError
from prover.language import check_language
from prover.protocols import Benchmark
from prover.run import ATTEMPT_KEY, attempt_many, components, concurrency_for
from prover.types import SearchResult, Theorem

# Config keys that change how a run executes but not what it measures: a resumed run may change
# them; any other key must match the stored configuration.
OPERATIONAL: frozenset[str] = frozenset(
    {
        "bench.concurrency",
        "bench.display",
        "bench.shard",
        "bench.data",
        "bench.mirror",
        "bench.download_timeout",
        "bench.ray",
        "bench.ray_address",
        "bench.ray_generators",
        "bench.ray_workers",
        "bench.ray_worker_cpus",
        "bench.ray_startup_timeout",
        "store.home",
        "record",
        "lean.pool_size",
    }
)


@dataclass(frozen=True)
class Plan:
    """What one runner process will do."""

    name: str
    config: Config
    benchmark: Benchmark
    theorems: tuple[Theorem, ...]  # the run's theorems (all shards)
    mine: tuple[Theorem, ...]  # this process's shard
    pending: tuple[tuple[Theorem, int], ...]  # (theorem, attempt index) still to run here
    existing: RunInfo | None

    @property
    def planned(self) -> int:
        return len(self.theorems) * self.config.bench.attempts


@dataclass(frozen=True)
class Outcome:
    """How a runner process ended."""

    run: str
    recorded: int
    interrupted: bool
    tally: Tally
    complete: bool


def parse_shard(spec: str) -> tuple[int, int] | None:
    """`i/n` → (i, n) with 0 ≤ i < n; empty → None."""
    if not spec:
        return None
    index, _, count = spec.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        i, n = -1, 0
    if n < 1 or not 0 <= i < n:
        raise InputError(f"bad shard '{spec}'; use i/n with 0 <= i < n, e.g. --shard 0/4")
    return i, n


def select(theorems: Sequence[Theorem], names: Sequence[str], limit: int) -> list[Theorem]:
    """Theorems named in `names` (all if empty), in benchmark order, then the first `limit`."""
    chosen = list(theorems)
    if names:
        known = {t.name: t for t in theorems}
        missing = [n for n in names if n not in known]
        if missing:
            close = difflib.get_close_matches(missing[0], list(known), n=1)
            hint = f" — did you mean '{close[0]}'?" if close else ""
            raise InputError(
                f"{len(missing)} name(s) not in this split, first '{missing[0]}'{hint}; "
                "`prover bench --list` shows the names"
            )
        wanted = set(names)
        chosen = [t for t in theorems if t.name in wanted]
    return chosen[:limit] if limit else chosen


def shard(theorems: Sequence[Theorem], spec: str) -> list[Theorem]:
    """Every n-th theorem starting at i, for `i/n`."""
    parsed = parse_shard(spec)
    if parsed is None:
        return list(theorems)
    i, n = parsed
    return list(theorems[i::n])


def load_benchmark(config: Config) -> Benchmark:
    benchmark: Benchmark = registry.load("benchmark", config.bench.benchmark)(config)
    if config.bench.split not in benchmark.splits:
        raise InputError(
            f"unknown split '{config.bench.split}' for {benchmark.name}; "
            f"choose one of {', '.join(benchmark.splits)}"
        )
    return benchmark


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config dict → dotted keys (runs stored by earlier versions hold an empty
    `options` table, which is left out)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if dotted == "options" and value == {}:
            continue
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{dotted}."))
        else:
            out[dotted] = value
    return out


def differences(stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    """Dotted keys outside OPERATIONAL whose values differ between two flattened configs."""
    keys = set(stored) | set(wanted)
    return sorted(k for k in keys if k not in OPERATIONAL and stored.get(k) != wanted.get(k))


def resume_config(stored: Mapping[str, Any], user: Config, defaults: Config) -> Config:
    """The stored config, with what the user set explicitly for operational keys on top.

    A key the user changed from its default that is not operational must equal the stored value:
    a resumed run measures the same thing as the run it continues.
    """
    base = flatten(stored)
    given = flatten(user.to_dict())
    default = flatten(defaults.to_dict())
    changed = {k: v for k, v in given.items() if default.get(k) != v}
    conflicts = [k for k in differences(base, changed) if k in changed]
    if conflicts:
        shown = ", ".join(f"{k}={base.get(k)!r} (given {changed[k]!r})" for k in conflicts[:3])
        raise InputError(
            f"--resume keeps the run's configuration, but {shown} differ; drop those options, "
            "or start a new run with --run NAME"
        )
    merged = dict(base)
    merged.update({k: v for k, v in changed.items() if k in OPERATIONAL})
    return load_config(None, merged)


def _check_language(theorems: Sequence[Theorem], environment: str) -> None:
    """Refuse up front a benchmark whose theorems the environment cannot run at all."""
    if theorems:
        check_language(theorems[0].language, environment, what="the benchmark's theorems")


def plan(config: Config, store: Store, *, run: str | None, resume: str | None) -> Plan:
    """Resolve the configuration, the theorems, and what is left to do for this process."""
    existing: RunInfo | None = None
    if resume:
        if run and run != resume:
            raise InputError("give either --run NAME or --resume NAME, not both")
        existing = store.require_run(resume)
        config = resume_config(existing.config, config, load_config(None, {}))
        name = resume
    elif run:
        name = run
        existing = store.run(run)
        if existing is not None:
            diff = differences(flatten(existing.config), flatten(config.to_dict()))
            if diff:
                raise InputError(
                    f"a run named '{run}' exists with another configuration ({diff[0]} differs); "
                    f"continue it with --resume {run}, or choose another --run NAME"
                )
    else:
        name = f"{config.bench.benchmark}-{config.bench.split}-{time.strftime('%Y%m%d-%H%M%S')}"
        if store.run(name) is not None:
            raise InputError(f"run '{name}' already exists; choose a --run NAME")
    benchmark = load_benchmark(config)
    theorems = select(
        benchmark.theorems(config.bench.split), config.bench.names, config.bench.limit
    )
    _check_language(theorems, config.environment)
    mine = shard(theorems, config.bench.shard)
    done = store.finished(existing.id) if existing is not None else set()
    pending = tuple(
        (t, a) for a in range(config.bench.attempts) for t in mine if (t.name, a) not in done
    )
    return Plan(name, config, benchmark, tuple(theorems), tuple(mine), pending, existing)


class Recorder:
    """Creates (or joins) the run row, then commits and reports each finished attempt."""

    def __init__(self, plan: Plan, store: Store, progress: Progress) -> None:
        self.plan = plan
        self.store = store
        self.progress = progress
        self.run_id: int | None = plan.existing.id if plan.existing else None
        self.recorded = 0
        self._writer: StoreWriter | None = None

    def start(self, generator: object | None) -> None:
        """Create or join the run row; `generator` is described in its version record."""
        found = versions.collect(self.plan.config, self.plan.benchmark, generator)
        if self.run_id is None:
            try:
                info = self.store.create_run(
                    self.plan.name,
                    benchmark=self.plan.benchmark.name,
                    split=self.plan.config.bench.split,
                    planned=self.plan.planned,
                    attempts_per_theorem=self.plan.config.bench.attempts,
                    config=self.plan.config.to_dict(),
                    versions=found,
                )
            except InputError:  # another shard created it first: join it
                info = self.store.require_run(self.plan.name)
            self.run_id = info.id
        self.store.mark(self.run_id, "running")

    def record(
        self, theorem: Theorem, attempt: int, result: SearchResult, worker: str | None = None
    ) -> None:
        assert self.run_id is not None, "start() first"
        category = theorem.metadata.get("category") if theorem.metadata else None
        if self.store.record(
            self.run_id,
            theorem.name,
            attempt,
            result,
            split=theorem.split,
            category=category,
            worker=worker,
        ):
            self.recorded += 1
            self.progress.update(theorem.name, attempt, result)

    async def record_async(self, theorem: Theorem, attempt: int, result: SearchResult) -> None:
        """`record`, with the insert on the store's writer thread (never on the event loop)."""
        assert self.run_id is not None, "start() first"
        if self._writer is None:
            self._writer = StoreWriter(self.store.path)
        category = theorem.metadata.get("category") if theorem.metadata else None
        if await self._writer.record(
            self.run_id, theorem.name, attempt, result, split=theorem.split, category=category
        ):
            self.recorded += 1
            self.progress.update(theorem.name, attempt, result)

    def finish(self, interrupted: bool) -> bool:
        """Mark the run; True if every planned attempt of the run (all shards) is stored."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self.run_id is None:
            return False
        # Read and write in one transaction: the last shard to finish sees every attempt, and
        # an earlier one cannot write `incomplete` over its `finished`.
        return self.store.settle(self.run_id, interrupted)


def initial_tally(plan: Plan, store: Store) -> Tally:
    """Counts of what the store already holds for this process's theorems (for the bar)."""
    tally = Tally()
    if plan.existing is None:
        return tally
    mine = {t.name for t in plan.mine}
    for row in store.attempts(plan.existing):
        if row.theorem in mine and row.attempt < plan.config.bench.attempts:
            tally.add(row.theorem, row.status, row.verified)
    return tally


async def execute_local(plan: Plan, recorder: Recorder) -> None:
    """Run the pending attempts in this process through prover.run.attempt_many."""
    config = plan.config
    # attempt_many reports the Theorem object it ran; a distinct copy per (theorem, attempt)
    # tells attempts of the same theorem apart.
    copies = [
        dataclasses.replace(theorem, metadata={**theorem.metadata, ATTEMPT_KEY: attempt})
        for theorem, attempt in plan.pending
    ]
    keys = {id(copy): key for copy, key in zip(copies, plan.pending, strict=True)}

    async def on_result(theorem: Theorem, result: SearchResult) -> None:
        original, attempt = keys[id(theorem)]
        await recorder.record_async(original, attempt, result)

    async with components(config) as parts:
        recorder.start(parts.generator)
        await attempt_many(
            copies,
            parts,
            config.search.budget(),
            concurrency_for(parts.environment, config.bench.concurrency),
            on_result,
        )


def run(plan: Plan, store: Store) -> Outcome:
    """Execute a plan (locally or on Ray); Ctrl-C / SIGTERM stop it keeping what finished."""
    check = getattr(plan.benchmark, "check_project", None)
    if callable(check):
        check(plan.config)
    tally = initial_tally(plan, store)
    progress = Progress(
        len(plan.mine) * plan.config.bench.attempts,
        tally,
        display=plan.config.bench.display,
        description=plan.name,
    )
    recorder = Recorder(plan, store, progress)
    try:
        interrupted = asyncio.run(_supervise(plan, recorder, progress))
    finally:
        progress.close()
    complete = recorder.finish(interrupted)
    return Outcome(plan.name, recorder.recorded, interrupted, tally, complete)


async def _supervise(plan: Plan, recorder: Recorder, progress: Progress) -> bool:
    """Run the plan; True if a signal stopped it (in-flight attempts cancelled)."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    stopping: list[str] = []

    def stop(sig: signal.Signals) -> None:
        if stopping:
            return
        stopping.append(sig.name)
        # A second Ctrl-C gets Python's default handler: KeyboardInterrupt, immediately.
        loop.remove_signal_handler(signal.SIGINT)
        progress.message(
            f"{sig.name}: stopping — in-flight attempts are cancelled, finished ones are kept; "
            f"continue with `prover bench --resume {plan.name}`"
        )
        task.cancel()

    handled = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop, sig)
            handled.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            pass
    try:
        if plan.config.bench.ray:
            from benchmarks.ray_runner import execute_ray

            await execute_ray(plan, recorder)
        else:
            await execute_local(plan, recorder)
        return False
    except asyncio.CancelledError:
        if not stopping:
            raise
        uncancel = getattr(task, "uncancel", None)
        if uncancel is not None:
            uncancel()
        return True
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
