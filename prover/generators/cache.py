"""Request de-duplication: identical (prompt, n, sampling parameters) requests within a run are
generated once. Concurrent duplicates share the one call in flight, which is cancelled (closing its
I/O) when the last of them gives up; finished answers are kept in a bounded least-recently-used
table. `prover.run.build_generator` wraps every backend in `cached`.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from prover.protocols import GenerationParams, Generator
from prover.types import Candidate, Prompt

_Key = tuple[Prompt, int, GenerationParams]  # a Chat is a frozen, hashable value too


class CachedGenerator:
    """Wraps a generator so each distinct request reaches the model once (see module docstring)."""

    def __init__(self, inner: Generator, max_entries: int) -> None:
        self.inner = inner
        self.name = inner.name
        self._max_entries = max_entries
        self._done: OrderedDict[_Key, tuple[Candidate, ...]] = OrderedDict()
        self._inflight: dict[_Key, asyncio.Future[tuple[Candidate, ...]]] = {}
        self._waiters: dict[_Key, int] = {}  # callers awaiting each in-flight request
        self.hits = 0
        self.misses = 0

    async def generate(
        self, prompt: Prompt, n: int, params: GenerationParams | None = None
    ) -> list[Candidate]:
        key: _Key = (prompt, n, params or GenerationParams())
        if key in self._done:
            self._done.move_to_end(key)
            self.hits += 1
            return list(self._done[key])
        task = self._inflight.get(key)
        if task is not None:
            self.hits += 1
        else:
            self.misses += 1
            task = asyncio.ensure_future(self._fetch(key))
            self._inflight[key] = task
            self._waiters[key] = 0
            task.add_done_callback(_consume_exception)
        self._waiters[key] += 1
        try:
            # shield: one waiter giving up (e.g. its wall-clock budget) must not cancel the others.
            return list(await asyncio.shield(task))
        finally:
            self._waiters[key] -= 1
            if self._waiters[key] == 0:
                del self._waiters[key]
                if not task.done():  # the last waiter gave up: stop the request (and its I/O)
                    task.cancel()
                    if self._inflight.get(key) is task:  # a new caller starts afresh
                        del self._inflight[key]

    async def _fetch(self, key: _Key) -> tuple[Candidate, ...]:
        prompt, n, params = key
        try:
            result = tuple(await self.inner.generate(prompt, n, params))
        finally:
            if self._inflight.get(key) is asyncio.current_task():
                del self._inflight[key]
        if self._max_entries > 0:
            self._done[key] = result
            while len(self._done) > self._max_entries:
                self._done.popitem(last=False)
        return result

    async def close(self) -> None:
        for task in list(self._inflight.values()):
            task.cancel()
        self._done.clear()
        await self.inner.close()


def _consume_exception(task: asyncio.Future[tuple[Candidate, ...]]) -> None:
    # Every waiter sees the exception through `await`; this only silences asyncio's warning when
    # all waiters had already given up.
    if not task.cancelled():
        task.exception()


def cached(generator: Generator, max_entries: int) -> Generator:
    """`generator` behind request de-duplication; `max_entries` 0 keeps only in-flight sharing."""
    return CachedGenerator(generator, max_entries)
