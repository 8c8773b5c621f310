"""A micro-batching queue: concurrent requests from many searches become one engine call.

A batch closes when it holds `max_size` units of work (a request's `weight`, e.g. its number of
sequences) or `max_wait` seconds after its oldest request arrived, whichever comes first. Only
requests with the same `key` (e.g. equal sampling parameters) share a batch. One batch runs at a
time, so requests arriving meanwhile queue up and form the next batch at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from prover.errors import BackendError

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Pending(Generic[T, R]):
    item: T
    future: asyncio.Future[R]
    arrived: float
    key: Hashable
    weight: int


@dataclass
class BatchStats:
    """How requests were grouped so far (for tests and the performance harness)."""

    batches: int = 0
    requests: int = 0
    sizes: list[int] = field(default_factory=list)  # requests per batch, in order


class MicroBatcher(Generic[T, R]):
    """Gathers concurrent `submit` calls into batches for `run` (see module docstring)."""

    def __init__(
        self,
        run: Callable[[Sequence[T]], Awaitable[Sequence[R]]],
        *,
        max_size: int,
        max_wait: float,
        weight: Callable[[T], int] = lambda _: 1,
        key: Callable[[T], Hashable] = lambda _: None,
    ) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        if max_wait < 0:
            raise ValueError("max_wait must not be negative")
        self._run = run
        self._max_size = max_size
        self._max_wait = max_wait
        self._weight = weight
        self._key = key
        self._pending: deque[_Pending[T, R]] = deque()
        self._arrived = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self.stats = BatchStats()

    async def submit(self, item: T) -> R:
        """Queue `item` and wait for its result (its batch's exception if the batch fails)."""
        if self._closed:
            raise BackendError("the generator is closed")
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # A new event loop (e.g. a second asyncio.run): loop-bound state starts afresh.
            self._loop = loop
            self._arrived = asyncio.Event()
            self._pending.clear()
            self._worker = None
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append(
            _Pending(item, future, time.monotonic(), self._key(item), max(1, self._weight(item)))
        )
        self._arrived.set()
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._work(), name="micro-batcher")
        return await future

    async def close(self) -> None:
        """Stop the worker; requests still queued fail with a one-line error."""
        self._closed = True
        if self._worker is not None and self._loop is asyncio.get_running_loop():
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        while self._pending:
            waiting = self._pending.popleft()
            if not waiting.future.done():
                waiting.future.set_exception(BackendError("the generator was closed"))

    def _ready_weight(self, key: Hashable) -> int:
        return sum(p.weight for p in self._pending if p.key == key and not p.future.done())

    def _take(self, key: Hashable) -> list[_Pending[T, R]]:
        """Remove and return the oldest compatible requests that fit (always at least one)."""
        batch: list[_Pending[T, R]] = []
        rest: deque[_Pending[T, R]] = deque()
        total = 0
        while self._pending:
            p = self._pending.popleft()
            if p.future.done():  # the caller gave up (cancelled): do not compute it
                continue
            if p.key == key and (not batch or total + p.weight <= self._max_size):
                batch.append(p)
                total += p.weight
            else:
                rest.append(p)
        self._pending = rest
        return batch

    async def _work(self) -> None:
        while not self._closed:
            while self._pending and self._pending[0].future.done():
                self._pending.popleft()
            if not self._pending:
                self._arrived.clear()
                await self._arrived.wait()
                continue
            first = self._pending[0]
            deadline = first.arrived + self._max_wait
            while self._ready_weight(first.key) < self._max_size:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), remaining)
                except asyncio.TimeoutError:
                    break
            batch = self._take(first.key)
            if not batch:
                continue
            self.stats.batches += 1
            self.stats.requests += len(batch)
            self.stats.sizes.append(len(batch))
            try:
                results = await self._run([p.item for p in batch])
                if len(results) != len(batch):
                    raise BackendError(
                        f"batch returned {len(results)} results for {len(batch)} requests"
                    )
            except asyncio.CancelledError:
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(BackendError("the generator was closed"))
                raise
            except Exception as exc:
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(exc)
                continue
            for p, result in zip(batch, results, strict=True):
                if not p.future.done():
                    p.future.set_result(result)
