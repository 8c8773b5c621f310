"""Running attempts: one theorem end to end, and many concurrently on shared backends."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from prover import registry
from prover.config import Config
from prover.errors import BackendError, InputError, ProverError
from prover.protocols import (
    SEED_LIMIT,
    Environment,
    GenerationParams,
    Generator,
    Judge,
    Strategy,
)
from prover.types import (
    Budget,
    Candidate,
    Prompt,
    SearchResult,
    SearchStats,
    Status,
    Theorem,
    Verdict,
    VerdictStatus,
)


@dataclass(frozen=True)
class Components:
    """The three live objects a run needs, built from one Config."""

    environment: Environment
    generator: Generator
    strategy: Strategy
    seed: int = 0  # the run seed (generation.seed) every request seed is derived from


def split_model_spec(spec: str) -> tuple[str, str]:
    """`vllm:EleutherAI/llemma_7b` → ('vllm', 'EleutherAI/llemma_7b')."""
    name, _, rest = spec.partition(":")
    if not name:
        raise InputError(
            f"bad model spec '{spec}'; use BACKEND:MODEL, e.g. hf:EleutherAI/llemma_7b"
        )
    return name, rest


def build_environment(config: Config) -> Environment:
    env = registry.load("environment", config.environment)(config)
    if config.record:
        # The trace writer lives with the environments; core reaches it through the registry.
        env = registry.load("recorder", "trace")(env, config.record)
    return env


def build_generator(config: Config) -> Generator:
    """The `--model` backend behind request de-duplication (any plug-in, built-in or not)."""
    from prover.generators.cache import cached

    backend, spec = split_model_spec(config.model)
    return cached(registry.load("generator", backend)(spec, config), config.generation.cache_size)


def build_strategy(config: Config) -> Strategy:
    return registry.load("strategy", config.strategy)(config)


@asynccontextmanager
async def components(config: Config) -> AsyncIterator[Components]:
    """Build strategy, environment and generator (cheapest first) and close them on exit."""
    # Resolve every name before constructing anything, so a typo is reported before a model loads.
    registry.entry("environment", config.environment)
    registry.entry("generator", split_model_spec(config.model)[0])
    registry.entry("strategy", config.strategy)
    strategy = build_strategy(config)
    # The environment's checks (a built Lean project, an Isabelle path) are fast; loading a model
    # can take minutes, so it comes last and a setup problem is reported before it.
    environment = build_environment(config)
    try:
        generator = build_generator(config)
    except BaseException:
        await environment.close()
        raise
    try:
        yield Components(environment, generator, strategy, config.generation.seed)
    finally:
        try:
            await environment.close()
        finally:
            await generator.close()


ATTEMPT_KEY = "attempt"  # Theorem.metadata key: index of this attempt at the theorem (pass@k)


def request_seed(
    run_seed: int, attempt: int, prompt: Prompt, n: int, params: GenerationParams
) -> int:
    """The seed of one request of one attempt, in 0 <= seed < 2**32.

    Backends give sample i of a request the seed `seed + i` (vLLM's rule), so a request owns the
    range [seed, seed + n). Attempt k of a request starts at base + k·n, where base hashes
    (run seed, prompt, n, parameters): the attempts of one request tile disjoint ranges (for
    attempt·n < 2**31), different requests land far apart, and the same run seed gives the same
    seeds in any order of execution.
    """
    key = repr((run_seed, prompt, n, params)).encode("utf-8")
    base = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") % 2**31
    return (base + attempt * n) % (SEED_LIMIT - n)


class _AttemptGenerator:
    """A view of the shared generator whose requests carry this attempt's seeds (request_seed)."""

    def __init__(self, inner: Generator, run_seed: int, attempt: int) -> None:
        self.inner = inner
        self.name = inner.name
        self._run_seed = run_seed
        self._attempt = attempt

    async def generate(
        self, prompt: Prompt, n: int, params: GenerationParams | None = None
    ) -> list[Candidate]:
        base = params or GenerationParams()
        seed = request_seed(self._run_seed, self._attempt, prompt, n, base)
        return await self.inner.generate(prompt, n, dataclasses.replace(base, seed=seed))

    async def close(self) -> None:  # the shared generator is closed by its owner
        return None


DEFAULT_CONCURRENCY = 8
QUEUE_ALLOWANCE = 4  # an attempt's clock time over its service-time budget before the hard limit


def concurrency_for(environment: Environment, requested: int) -> int:
    """`requested`, or when 0 the environment's capacity (its own default), else 8."""
    if requested > 0:
        return requested
    capacity = getattr(environment, "capacity", None)
    return capacity if isinstance(capacity, int) and capacity > 0 else DEFAULT_CONCURRENCY


def error_result(theorem: Theorem, message: str, seconds: float) -> SearchResult:
    return SearchResult(
        theorem=theorem.name,
        status=Status.ERROR,
        error=message,
        stats=SearchStats(total_seconds=seconds, stop_reason="error"),
    )


async def judge_proof(environment: Environment, theorem: Theorem, proof: str) -> Verdict:
    """The environment's verdict on `proof`; a judge that raises is an ERROR verdict."""
    if not isinstance(environment, Judge):
        name = getattr(environment, "name", type(environment).__name__)
        return Verdict(
            VerdictStatus.UNCHECKED, "none", f"environment '{name}' has no judge; not counted"
        )
    try:
        verdict = await environment.judge(theorem, proof)
    except InputError:
        raise
    except Exception as exc:  # a judge that could not run decides nothing
        return Verdict(VerdictStatus.ERROR, "judge", f"{type(exc).__name__}: {exc}")
    if not isinstance(verdict, Verdict):
        return Verdict(VerdictStatus.ERROR, "judge", f"the judge returned {type(verdict).__name__}")
    return verdict


async def judged(environment: Environment, theorem: Theorem, result: SearchResult) -> SearchResult:
    """`result` with the judge's decision: a strategy's own `verified`/`verified_by` is ignored.

    Accepted: proved and verified. Rejected: failed (the proof kept in `details`). Could not
    judge: `error`, so `--retry-errors` runs it again. Unchecked (replay): proved, not verified.
    """
    if result.status is not Status.PROVED:
        return dataclasses.replace(result, verified=False, verified_by=None)
    if not result.proof:
        return dataclasses.replace(
            result,
            status=Status.FAILED,
            verified=False,
            verified_by=None,
            error="the strategy reported a proof but returned no proof text",
        )
    start = time.perf_counter()
    verdict = await judge_proof(environment, theorem, result.proof)
    details = {
        **result.details,
        "judge": {
            "status": verdict.status.value,
            "by": verdict.checked_by,
            "message": verdict.message,
            "seconds": round(time.perf_counter() - start, 6),
        },
    }
    if verdict.status is VerdictStatus.ACCEPTED:
        return dataclasses.replace(
            result, verified=True, verified_by=verdict.checked_by, details=details
        )
    if verdict.status is VerdictStatus.UNCHECKED:
        return dataclasses.replace(
            result, verified=False, verified_by=verdict.checked_by, details=details
        )
    details["rejected_proof"] = result.proof
    if verdict.status is VerdictStatus.REJECTED:
        status, error = Status.FAILED, f"the judge ({verdict.checked_by}) rejected the proof"
    else:
        status, error = Status.ERROR, f"the judge ({verdict.checked_by}) could not run"
    return dataclasses.replace(
        result,
        status=status,
        proof=None,
        steps=(),
        verified=False,
        verified_by=None,
        error=f"{error}: {verdict.message}" if verdict.message else error,
        details=details,
    )


async def attempt(theorem: Theorem, parts: Components, budget: Budget) -> SearchResult:
    """Open a session, search, close it, then have the environment's judge decide on the proof.

    Input errors propagate; backend faults become `error`."""
    start = time.perf_counter()
    try:
        session = await parts.environment.open(theorem)
    except InputError:
        raise
    except (ProverError, OSError, RuntimeError, TimeoutError, ValueError) as exc:
        return error_result(theorem, f"open failed: {exc}", time.perf_counter() - start)
    index = int(theorem.metadata.get(ATTEMPT_KEY, 0) or 0)
    generator = _AttemptGenerator(parts.generator, parts.seed, index)
    try:
        result = await parts.strategy.search(theorem, session, generator, budget)
        if not isinstance(result, SearchResult):
            name = getattr(parts.strategy, "name", type(parts.strategy).__name__)
            raise BackendError(
                f"strategy '{name}' returned {type(result).__name__}, not a SearchResult; "
                "fix the plug-in's search()"
            )
    finally:
        await session.close()
    return await judged(parts.environment, theorem, result)


async def attempt_many(
    theorems: Iterable[Theorem],
    parts: Components,
    budget: Budget,
    concurrency: int,
    on_result: Callable[[Theorem, SearchResult], Awaitable[None] | None] | None = None,
) -> list[SearchResult]:
    """Run theorems, at most `concurrency` in flight; one theorem's failure never stops the rest.

    `concurrency` workers take theorems in order, so only that many attempts exist at a time.
    Each attempt is bounded by the wall budget plus a grace period for opening and closing its
    session; any exception from a backend becomes an `error` result. `on_result` runs as each
    attempt finishes; its exceptions propagate (a results store that cannot write stops the run).
    Results come back in the order of `theorems`.
    """
    if concurrency < 1:
        raise InputError("concurrency must be at least 1")
    items = list(enumerate(theorems))
    results: list[SearchResult | None] = [None] * len(items)
    pending = iter(items)  # shared by the workers: each theorem is taken exactly once
    # The strategy enforces wall_seconds itself; the hard limit only catches a backend that
    # hangs where the strategy cannot see it (opening or closing a session). Its grace covers
    # an open that first imports Mathlib (the Lean backend's own header timeout is 900 s). The
    # budget counts service time, not time queued behind theorems sharing a process (a few per
    # process), so the clock may run several times the budget: QUEUE_ALLOWANCE of it.
    hard_limit = budget.wall_seconds * QUEUE_ALLOWANCE + 900.0

    async def one(theorem: Theorem) -> SearchResult:
        start = time.perf_counter()
        try:
            return await asyncio.wait_for(attempt(theorem, parts, budget), hard_limit)
        except asyncio.TimeoutError:
            return SearchResult(
                theorem=theorem.name,
                status=Status.TIMEOUT,
                error=f"attempt did not return within {hard_limit:.0f} s (hard wall limit)",
                stats=SearchStats(
                    total_seconds=time.perf_counter() - start, stop_reason="hard wall limit"
                ),
            )
        except InputError as exc:
            return error_result(theorem, str(exc), time.perf_counter() - start)
        except Exception as exc:  # a faulty backend or plug-in ends this attempt, not the run
            message = f"{type(exc).__name__}: {exc}"
            return error_result(theorem, message, time.perf_counter() - start)

    async def worker() -> None:
        for index, theorem in pending:
            result = await one(theorem)
            results[index] = result
            if on_result is not None:
                maybe = on_result(theorem, result)
                if maybe is not None:
                    await maybe

    workers = [asyncio.ensure_future(worker()) for _ in range(min(concurrency, len(items)))]
    try:
        await asyncio.gather(*workers)
    except BaseException:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        raise
    return [r for r in results if r is not None]
