"""The micro-batching queue and request de-duplication shared by the model backends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

import pytest

from prover.errors import BackendError
from prover.generators.batching import MicroBatcher
from prover.generators.cache import CachedGenerator
from prover.protocols import GenerationParams
from prover.types import Candidate


async def _until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    """Yield to the event loop until `condition` holds; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0)


class _Recorder:
    """A batch function that records each batch; `gate` holds a batch until the test opens it."""

    def __init__(self, gate: asyncio.Event | None = None, fail: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.gate = gate
        self.fail = fail

    async def __call__(self, items: Sequence[str]) -> list[str]:
        self.batches.append(list(items))
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise BackendError("engine fault")
        return [item.upper() for item in items]


async def test_concurrent_submits_become_one_batch() -> None:
    run = _Recorder()
    batcher: MicroBatcher[str, str] = MicroBatcher(run, max_size=64, max_wait=0.5)
    words = [f"w{i}" for i in range(8)]
    out = await asyncio.gather(*(batcher.submit(w) for w in words))
    assert out == [w.upper() for w in words]
    assert run.batches == [words]
    assert batcher.stats.sizes == [8]
    await batcher.close()


async def test_a_full_batch_does_not_wait_and_a_lone_request_waits_at_most_max_wait() -> None:
    run = _Recorder()
    # max_wait is far beyond the test's timeout: only "the batch is full" can release it
    batcher: MicroBatcher[str, str] = MicroBatcher(run, max_size=4, max_wait=60.0)
    out = await asyncio.wait_for(asyncio.gather(*(batcher.submit(w) for w in "abcd")), 5)
    assert out == list("ABCD")
    await batcher.close()

    quick: MicroBatcher[str, str] = MicroBatcher(_Recorder(), max_size=64, max_wait=0.05)
    start = time.perf_counter()
    assert await asyncio.wait_for(quick.submit("x"), 5) == "X"
    assert time.perf_counter() - start < 2.0
    await quick.close()


async def test_weights_cap_a_batch_and_keys_keep_incompatible_requests_apart() -> None:
    run = _Recorder()
    batcher: MicroBatcher[str, str] = MicroBatcher(
        run, max_size=6, max_wait=0.2, weight=len, key=lambda s: s[0]
    )
    items = ["aaa", "bb", "aaa", "aaa", "bbbb", "a"]
    out = await asyncio.gather(*(batcher.submit(i) for i in items))
    assert out == [i.upper() for i in items]
    for batch in run.batches:
        assert len({s[0] for s in batch}) == 1  # one key per batch
        assert sum(map(len, batch)) <= 6 or len(batch) == 1
    assert sorted(s for b in run.batches for s in b) == sorted(items)
    assert len(run.batches) == 3  # a: 3+3 | 3+1, b: 2+4
    await batcher.close()


async def test_requests_arriving_during_a_batch_form_the_next_batch() -> None:
    gate = asyncio.Event()
    run = _Recorder(gate)
    batcher: MicroBatcher[str, str] = MicroBatcher(run, max_size=64, max_wait=0.01)
    first = asyncio.ensure_future(batcher.submit("first"))
    await _until(lambda: bool(run.batches))  # the first batch is running
    later = [asyncio.ensure_future(batcher.submit(f"later{i}")) for i in range(5)]
    gate.set()
    assert await first == "FIRST"
    assert await asyncio.gather(*later) == [f"LATER{i}" for i in range(5)]
    assert batcher.stats.sizes == [1, 5]
    await batcher.close()


async def test_a_failing_batch_fails_each_of_its_requests_and_the_queue_goes_on() -> None:
    run = _Recorder(fail=True)
    batcher: MicroBatcher[str, str] = MicroBatcher(run, max_size=8, max_wait=0.05)
    results = await asyncio.gather(batcher.submit("a"), batcher.submit("b"), return_exceptions=True)
    assert all(isinstance(r, BackendError) for r in results)
    run.fail = False
    assert await batcher.submit("c") == "C"
    await batcher.close()


async def test_cancelled_requests_are_not_computed_and_close_fails_the_rest() -> None:
    gate = asyncio.Event()
    run = _Recorder(gate)
    batcher: MicroBatcher[str, str] = MicroBatcher(run, max_size=1, max_wait=0.0)
    busy = asyncio.ensure_future(batcher.submit("busy"))
    await _until(lambda: bool(run.batches))
    gone = asyncio.ensure_future(batcher.submit("gone"))
    kept = asyncio.ensure_future(batcher.submit("kept"))
    await asyncio.sleep(0)  # one loop turn: both tasks run up to their wait in the queue
    gone.cancel()
    gate.set()
    assert await busy == "BUSY"
    assert await kept == "KEPT"
    assert ["gone"] not in run.batches
    gate.clear()
    stuck = asyncio.ensure_future(batcher.submit("stuck"))
    waiting = asyncio.ensure_future(batcher.submit("waiting"))
    await _until(lambda: len(run.batches) == 3)
    await batcher.close()
    for fut in (stuck, waiting):
        with pytest.raises(BackendError):
            await fut
    with pytest.raises(BackendError):
        await batcher.submit("after close")


class _Counting:
    """A generator double that counts calls; `gate` holds calls until the test opens it."""

    name = "counting"

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, GenerationParams | None]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_next = False
        self.closed = False

    async def generate(
        self, prompt: str, n: int, params: GenerationParams | None = None
    ) -> list[Candidate]:
        self.calls.append((prompt, n, params))
        await self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            raise BackendError("transient")
        return [Candidate(f"{prompt}-{i}-{len(self.calls)}", -1.0, 1) for i in range(n)]

    async def close(self) -> None:
        self.closed = True


async def test_identical_requests_are_generated_once() -> None:
    inner = _Counting()
    gen = CachedGenerator(inner, max_entries=16)
    p = GenerationParams(temperature=0.7)
    first = await gen.generate("goal", 4, p)
    again = await gen.generate("goal", 4, GenerationParams(temperature=0.7))
    assert again == first and len(inner.calls) == 1
    await gen.generate("goal", 4, GenerationParams(temperature=0.8))  # other params: new call
    await gen.generate("goal", 2, p)  # other n: new call
    await gen.generate("goal2", 4, p)
    assert len(inner.calls) == 4
    assert (gen.hits, gen.misses) == (1, 4)
    assert gen.name == "counting"
    await gen.close()
    assert inner.closed


async def test_concurrent_duplicates_share_the_call_in_flight() -> None:
    inner = _Counting()
    inner.gate.clear()
    gen = CachedGenerator(inner, max_entries=0)  # no table: sharing in flight only
    waiting = [asyncio.ensure_future(gen.generate("g", 3)) for _ in range(5)]
    await _until(lambda: bool(inner.calls))
    waiting[0].cancel()  # one searcher giving up does not cancel the others
    inner.gate.set()
    results = await asyncio.gather(*waiting[1:])
    assert all(r == results[0] for r in results) and len(inner.calls) == 1
    await gen.generate("g", 3)  # finished and not kept (max_entries=0): generated again
    assert len(inner.calls) == 2


async def test_failures_are_not_cached_and_the_table_is_bounded() -> None:
    inner = _Counting()
    gen = CachedGenerator(inner, max_entries=2)
    inner.fail_next = True
    with pytest.raises(BackendError):
        await gen.generate("a", 1)
    await gen.generate("a", 1)  # retried, not answered from a cached failure
    assert len(inner.calls) == 2
    await gen.generate("b", 1)
    await gen.generate("c", 1)  # evicts "a", the least recently used
    await gen.generate("a", 1)
    assert len(inner.calls) == 5


async def test_the_last_waiter_giving_up_cancels_the_call_in_flight() -> None:
    inner = _Counting()
    inner.gate.clear()
    started = asyncio.Event()
    cancelled = asyncio.Event()

    class _Observed(_Counting):
        async def generate(self, prompt, n, params=None):
            started.set()
            try:
                return await inner.generate(prompt, n, params)
            except asyncio.CancelledError:
                cancelled.set()  # the backend saw the cancellation: its I/O is closed
                raise

    gen = CachedGenerator(_Observed(), max_entries=4)
    waiters = [asyncio.ensure_future(gen.generate("g", 2)) for _ in range(2)]
    await asyncio.wait_for(started.wait(), 5)
    waiters[0].cancel()
    await asyncio.gather(waiters[0], return_exceptions=True)  # it has given up; one still waits
    assert not cancelled.is_set()
    waiters[1].cancel()  # the last one gives up (e.g. its theorem's budget ran out)
    await asyncio.wait_for(cancelled.wait(), 5)
    await asyncio.gather(*waiters, return_exceptions=True)
    inner.gate.set()
    assert len(await gen.generate("g", 2)) == 2  # a new caller starts afresh
    assert len(inner.calls) == 2
